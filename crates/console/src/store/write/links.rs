//! The span-link index (`span_links`, migration 0003 says why it is keyed as it is): a row per
//! link, written with its span, so that the traces a trace links to and the traces linking to
//! it are one index lookup each. Spans without links, most of them, write nothing here.

use std::collections::HashMap;

use rusqlite::params;

use super::Writer;
use crate::store::model::{SpanBatch, TraceId, span_hex, trace_hex};

/// `OR IGNORE`: a span exported twice links the same spans again.
const INSERT_LINK: &str = "INSERT OR IGNORE INTO span_links (trace_seq, span_id, \
    linked_trace_id, linked_span_id) VALUES (?1, ?2, ?3, ?4)";

impl Writer {
    /// Indexes the links of these spans; `seqs`: the number of each of their traces.
    pub(super) fn insert_links(
        &mut self,
        batches: &[(&SpanBatch, Vec<i64>)],
        seqs: &HashMap<TraceId, i64>,
    ) -> rusqlite::Result<()> {
        if batches.iter().all(|(b, _)| b.links.is_empty()) {
            return Ok(());
        }
        let mut insert = self.conn.prepare_cached(INSERT_LINK)?;
        for (batch, _) in batches {
            for link in &batch.links {
                let Some(span) = batch.rows.get(link.span as usize) else {
                    continue;
                };
                insert.execute(params![
                    seqs.get(&span.trace_id).copied().unwrap_or(0),
                    span_hex(&span.span_id).as_str(),
                    trace_hex(&link.trace_id).as_str(),
                    span_hex(&link.span_id).as_str(),
                ])?;
            }
        }
        Ok(())
    }
}
