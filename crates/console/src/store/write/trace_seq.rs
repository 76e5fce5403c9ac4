//! Trace numbers: each trace's row in `traces` has a sequence number given in order of first
//! arrival, and spans, logs and pending edges are indexed by it rather than by the random
//! trace id, so that their index inserts land on the newest pages (migration 0002 says why).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::Writer;
use crate::store::model::{TraceId, trace_hex};

const TRACE_SEQ: &str = "SELECT seq FROM traces WHERE trace_id = ?1";
/// A trace's row before any of its spans is added (a log record may come first).
const INSERT_TRACE: &str = "INSERT INTO traces (trace_id, start_us, end_us, span_count, \
    error_count, has_root, root_service, root_operation) VALUES (?1, ?2, ?2, 0, 0, 0, '', '') \
    RETURNING seq";
/// Traces remembered per generation of the cache (two generations are kept).
const GENERATION: usize = 65_536;

/// The numbers of recently seen traces: the spans and log records of a trace arrive within
/// seconds of each other, so most lookups never reach the database. Two generations: when the
/// newer one is full it becomes the older one, and the older one is dropped.
#[derive(Default)]
pub(super) struct TraceSeqs {
    newer: HashMap<TraceId, i64>,
    older: HashMap<TraceId, i64>,
}

impl TraceSeqs {
    fn get(&mut self, id: &TraceId) -> Option<i64> {
        if let Some(seq) = self.newer.get(id) {
            return Some(*seq);
        }
        let seq = self.older.get(id).copied()?;
        self.insert(*id, seq);
        Some(seq)
    }

    fn insert(&mut self, id: TraceId, seq: i64) {
        if self.newer.len() >= GENERATION {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(id, seq);
    }

    /// Forgets every number (after a rollback or a retention pass removed rows).
    pub(super) fn clear(&mut self) {
        self.newer.clear();
        self.older.clear();
    }
}

impl Writer {
    /// The number of trace `id`, creating its row (starting at `first_seen_us`) if it has none.
    pub(super) fn trace_seq(&mut self, id: &TraceId, first_seen_us: i64) -> rusqlite::Result<i64> {
        if let Some(seq) = self.stored_trace_seq(id)? {
            return Ok(seq);
        }
        let seq = self
            .conn
            .prepare_cached(INSERT_TRACE)?
            .query_row(params![trace_hex(id).as_str(), first_seen_us], |row| {
                row.get(0)
            })?;
        self.trace_seqs.insert(*id, seq);
        Ok(seq)
    }

    /// The number of trace `id` if it has a row; never creates one (a span link may name a
    /// trace that is not stored).
    pub(super) fn stored_trace_seq(&mut self, id: &TraceId) -> rusqlite::Result<Option<i64>> {
        if let Some(seq) = self.trace_seqs.get(id) {
            return Ok(Some(seq));
        }
        let stored: Option<i64> = self
            .conn
            .prepare_cached(TRACE_SEQ)?
            .query_row([trace_hex(id).as_str()], |row| row.get(0))
            .optional()?;
        if let Some(seq) = stored {
            self.trace_seqs.insert(*id, seq);
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_two_generations_and_promotes_what_it_finds_in_the_older() {
        let mut seqs = TraceSeqs::default();
        let id = |n: u64| u128::from(n).to_be_bytes();
        for n in 0..GENERATION as u64 {
            seqs.insert(id(n), n as i64);
        }
        // Full: the next insert starts a new generation; everything is still found.
        seqs.insert(id(u64::MAX), -1);
        assert_eq!(seqs.get(&id(0)), Some(0));
        assert_eq!(seqs.get(&id(u64::MAX)), Some(-1));
        // Another full generation drops the oldest, except what was promoted (id 0).
        for n in 0..GENERATION as u64 {
            seqs.insert(id(1_000_000 + n), 0);
        }
        assert_eq!(seqs.get(&id(1)), None);
        assert_eq!(seqs.get(&id(0)), Some(0));
        seqs.clear();
        assert_eq!(seqs.get(&id(0)), None);
    }
}
