//! Writes the spans of a write into blocks (`store/blocks.rs`): each run of consecutive row ids,
//! up to `SPANS_PER_BLOCK` long, becomes one compressed block and its tag filter.

use rusqlite::params;

use super::Writer;
use crate::store::blocks::{self, BlockSpan, SPANS_PER_BLOCK, filter};
use crate::store::model::{SpanBatch, SpanRow};

const INSERT_BLOCK: &str = "INSERT INTO span_blocks (first_span_id, span_count, min_start_us, \
    max_start_us, filter, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A span row as inserted: its row id, batch and the id of its resource.
pub(super) struct Placed<'a> {
    pub(super) row_id: i64,
    pub(super) batch: &'a SpanBatch,
    pub(super) span: &'a SpanRow,
    pub(super) resource_id: i64,
}

impl Writer {
    /// Stores the blocks of spans inserted in this order.
    pub(super) fn insert_blocks(&mut self, placed: &[Placed<'_>]) -> rusqlite::Result<()> {
        let mut run_start = 0;
        for i in 1..=placed.len() {
            let ends = i == placed.len()
                || i - run_start == SPANS_PER_BLOCK
                || placed[i].row_id != placed[i - 1].row_id + 1;
            if ends {
                self.insert_block(&placed[run_start..i])?;
                run_start = i;
            }
        }
        Ok(())
    }

    /// One block of spans whose row ids are consecutive.
    fn insert_block(&mut self, run: &[Placed<'_>]) -> rusqlite::Result<()> {
        let Some(first) = run.first() else {
            return Ok(());
        };
        self.tag_scratch.clear();
        let mut spans = Vec::with_capacity(run.len());
        let (mut min_start, mut max_start) = (i64::MAX, i64::MIN);
        for p in run {
            let (t, s) = (p.batch.text.as_str(), p.span);
            let scope = p
                .batch
                .scopes
                .get(s.scope as usize)
                .copied()
                .unwrap_or_default();
            min_start = min_start.min(s.start_us);
            max_start = max_start.max(s.start_us);
            self.tag_scratch.extend_from_slice(p.batch.tag_hashes(s));
            spans.push(Some(BlockSpan {
                trace_id: s.trace_id,
                span_id: s.span_id,
                parent_span_id: s.parent_span_id,
                service: p.batch.service(s),
                operation: s.operation.of(t),
                kind: s.kind,
                start_us: s.start_us,
                duration_us: s.duration_us,
                status_code: s.status_code,
                status_message: s.status_message.of(t),
                attributes: s.attributes.of(t),
                events: s.events.of(t),
                links: s.links.of(t),
                scope_name: scope.name.of(t),
                scope_version: scope.version.of(t),
                resource_id: p.resource_id,
            }));
        }
        let data = blocks::encode(&spans)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let filter = filter::build(&mut self.tag_scratch);
        self.conn.prepare_cached(INSERT_BLOCK)?.execute(params![
            first.row_id,
            i64::try_from(run.len()).unwrap_or(i64::MAX),
            min_start,
            max_start,
            filter,
            data,
        ])?;
        Ok(())
    }
}
