//! Trace numbers: each trace's row in `traces` has a sequence number given in order of first
//! arrival, and spans, logs and pending edges are indexed by it rather than by the random
//! trace id, so that their index inserts land on the newest pages (migration 0002 says why).
//! The cache also remembers how many spans each trace has stored, for the per-trace limit.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::Writer;
use crate::store::model::{TraceId, trace_hex};

const TRACE_SEQ: &str = "SELECT seq, span_count FROM traces WHERE trace_id = ?1";
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
    newer: HashMap<TraceId, StoredTrace>,
    older: HashMap<TraceId, StoredTrace>,
}

/// A trace's number and the spans it has stored (in the open transaction too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoredTrace {
    pub(super) seq: i64,
    pub(super) spans: i64,
}

impl TraceSeqs {
    fn get(&mut self, id: &TraceId) -> Option<StoredTrace> {
        if let Some(t) = self.newer.get(id) {
            return Some(*t);
        }
        let t = self.older.get(id).copied()?;
        self.insert(*id, t);
        Some(t)
    }

    fn insert(&mut self, id: TraceId, t: StoredTrace) {
        if self.newer.len() >= GENERATION {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(id, t);
    }

    /// Counts `n` more spans stored for a trace that [`Writer::stored_trace`] found or created.
    pub(super) fn add_spans(&mut self, id: &TraceId, n: i64) {
        if let Some(t) = self.newer.get_mut(id).or_else(|| self.older.get_mut(id)) {
            t.spans += n;
        }
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
        self.stored_trace(id, first_seen_us).map(|t| t.seq)
    }

    /// Number and stored spans of trace `id`, creating its row (starting at `first_seen_us`)
    /// if it has none; the cache keeps it, so that [`TraceSeqs::add_spans`] can count on it.
    pub(super) fn stored_trace(
        &mut self,
        id: &TraceId,
        first_seen_us: i64,
    ) -> rusqlite::Result<StoredTrace> {
        if let Some(t) = self.lookup_trace(id)? {
            return Ok(t);
        }
        let seq = self
            .conn
            .prepare_cached(INSERT_TRACE)?
            .query_row(params![trace_hex(id).as_str(), first_seen_us], |row| {
                row.get(0)
            })?;
        let t = StoredTrace { seq, spans: 0 };
        self.trace_seqs.insert(*id, t);
        Ok(t)
    }

    /// The number of trace `id` if it has a row; never creates one (a span link may name a
    /// trace that is not stored).
    pub(super) fn stored_trace_seq(&mut self, id: &TraceId) -> rusqlite::Result<Option<i64>> {
        Ok(self.lookup_trace(id)?.map(|t| t.seq))
    }

    fn lookup_trace(&mut self, id: &TraceId) -> rusqlite::Result<Option<StoredTrace>> {
        if let Some(t) = self.trace_seqs.get(id) {
            return Ok(Some(t));
        }
        let stored = self
            .conn
            .prepare_cached(TRACE_SEQ)?
            .query_row([trace_hex(id).as_str()], |row| {
                Ok(StoredTrace {
                    seq: row.get(0)?,
                    spans: row.get(1)?,
                })
            })
            .optional()?;
        if let Some(t) = stored {
            self.trace_seqs.insert(*id, t);
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
        let t = |seq: i64| StoredTrace { seq, spans: 0 };
        for n in 0..GENERATION as u64 {
            seqs.insert(id(n), t(n as i64));
        }
        // Full: the next insert starts a new generation; everything is still found.
        seqs.insert(id(u64::MAX), t(-1));
        assert_eq!(seqs.get(&id(0)), Some(t(0)));
        assert_eq!(seqs.get(&id(u64::MAX)), Some(t(-1)));
        // Another full generation drops the oldest, except what was promoted (id 0).
        for n in 0..GENERATION as u64 {
            seqs.insert(id(1_000_000 + n), t(0));
        }
        assert_eq!(seqs.get(&id(1)), None);
        assert_eq!(seqs.get(&id(0)), Some(t(0)));
        // Spans counted after a lookup are remembered.
        seqs.add_spans(&id(0), 3);
        assert_eq!(seqs.get(&id(0)).map(|t| t.spans), Some(3));
        seqs.clear();
        assert_eq!(seqs.get(&id(0)), None);
    }
}
