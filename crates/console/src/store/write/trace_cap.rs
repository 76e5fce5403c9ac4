//! The per-trace span limit: a trace keeps at most `max_spans_per_trace` stored spans. Spans
//! beyond it, in arrival order, are taken out of their batches before anything of them is
//! written, and counted in the trace's `dropped_spans` (migration 0005), which the answers
//! about the trace report as truncation. One runaway trace (a loop that opens a span per row)
//! then costs the store a bounded size and every reader a bounded answer.

use std::collections::HashMap;

use rusqlite::params;

use super::Writer;
use crate::store::model::{Batch, TraceId, trace_hex};

const ADD_DROPPED: &str = "UPDATE traces SET dropped_spans = dropped_spans + ?2 WHERE seq = ?1";

/// What is left of a trace's allowance while its spans are sorted out.
struct Allowance {
    seq: i64,
    /// Spans of these batches still stored.
    left: i64,
    dropped: i64,
    /// Whether the trace had room before these batches (its first drop is logged).
    had_room: bool,
}

impl Writer {
    /// Drops the spans of `batches` that would take a trace past the limit and counts them;
    /// creates the rows of traces seen for the first time (as storing their spans would).
    pub(super) fn cap_spans(&mut self, batches: &mut [Batch]) -> rusqlite::Result<()> {
        // Spans and earliest start per trace; most batches hold far fewer than the limit.
        let mut incoming: HashMap<TraceId, (i64, i64)> = HashMap::new();
        for batch in batches.iter() {
            let Batch::Spans(b) = batch else { continue };
            for s in &b.rows {
                let (count, start) = incoming.entry(s.trace_id).or_insert((0, s.start_us));
                *count += 1;
                *start = (*start).min(s.start_us);
            }
        }
        let max = self.max_spans_per_trace;
        let mut over: HashMap<TraceId, Allowance> = HashMap::new();
        for (id, (count, start)) in incoming {
            let stored = self.stored_trace(&id, start)?;
            let left = (max - stored.spans).max(0);
            self.trace_seqs.add_spans(&id, count.min(left));
            if count > left {
                over.insert(
                    id,
                    Allowance {
                        seq: stored.seq,
                        left,
                        dropped: 0,
                        had_room: left > 0,
                    },
                );
            }
        }
        if over.is_empty() {
            return Ok(());
        }
        for batch in batches.iter_mut() {
            let Batch::Spans(b) = batch else { continue };
            b.retain_rows(|s| match over.get_mut(&s.trace_id) {
                None => true,
                Some(a) if a.left > 0 => {
                    a.left -= 1;
                    true
                }
                Some(a) => {
                    a.dropped += 1;
                    false
                }
            });
        }
        let mut add = self.conn.prepare_cached(ADD_DROPPED)?;
        for (id, a) in &over {
            add.execute(params![a.seq, a.dropped])?;
            if a.had_room {
                tracing::warn!(
                    trace_id = trace_hex(id).as_str(),
                    max_spans_per_trace = max,
                    dropped = a.dropped,
                    "A trace reached the console's span limit; its further spans are dropped \
                     and counted"
                );
            }
        }
        Ok(())
    }
}
