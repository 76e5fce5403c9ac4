//! The spans of whole traces, for the answers that return them: how many each trace has, and
//! its earliest spans, never more than asked for (a trace may hold tens of thousands).

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, FromRow};

use super::Store;
use super::blocks::read::spans_by_row_id;
use super::query::{StoredResource, StoredSpan, marks};

/// How many spans a trace has.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct TraceSize {
    pub(crate) trace_id: String,
    /// The trace's number (spans are indexed by it).
    pub(crate) seq: i64,
    /// Spans stored.
    pub(crate) stored: i64,
    /// Spans received beyond the per-trace limit and not stored.
    pub(crate) dropped: i64,
}

impl Store {
    /// Sizes of the given traces that have spans, in the order given.
    pub(crate) async fn trace_sizes(&self, ids: &[String]) -> Result<Vec<TraceSize>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT trace_id, seq, span_count AS stored, dropped_spans AS dropped FROM traces \
             WHERE trace_id IN ({}) AND span_count > 0",
            marks(ids.len())
        );
        let mut q = sqlx::query_as::<_, TraceSize>(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.clone());
        }
        let mut by_id: HashMap<String, TraceSize> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|t| (t.trace_id.clone(), t))
            .collect();
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Every span of the traces numbered `seqs`, by start time.
    pub(crate) async fn all_spans(&self, seqs: &[i64]) -> Result<Vec<StoredSpan>, sqlx::Error> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id FROM spans WHERE trace_seq IN ({}) ORDER BY start_us, id",
            marks(seqs.len())
        );
        let mut q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql));
        for seq in seqs {
            q = q.bind(*seq);
        }
        let ids = q.fetch_all(&self.pool).await?;
        spans_by_row_id(&self.pool, &ids).await
    }

    /// The earliest `limit` spans of trace number `seq`: the choice reads only rows, the spans
    /// chosen come from their blocks.
    pub(crate) async fn first_spans(
        &self,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<StoredSpan>, sqlx::Error> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM spans WHERE trace_seq = ? ORDER BY start_us, id LIMIT ?",
        )
        .bind(seq)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        spans_by_row_id(&self.pool, &ids).await
    }

    /// The resources with these ids.
    pub(crate) async fn resources(
        &self,
        ids: &HashSet<i64>,
    ) -> Result<HashMap<i64, StoredResource>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT id, service, attributes FROM resources WHERE id IN ({})",
            marks(ids.len())
        );
        let mut q = sqlx::query_as::<_, StoredResource>(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect())
    }
}
