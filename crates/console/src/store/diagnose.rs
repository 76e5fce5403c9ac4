//! What a diagnosis reads: the span rows of the traces that started in a window (their tree,
//! times and status, not their attributes), the names those rows use, the peer a few client
//! spans called, and the consumer spans linked to producer spans.

use std::collections::{HashMap, HashSet};

use sqlx::{AssertSqlSafe, FromRow};

use super::Store;
use super::blocks::read::spans_by_row_id;
use super::query::marks;

/// Traces a window reads at most: beyond it, one trace in `k` by arrival number (a fair
/// sample: numbers follow arrival, not content), so a long window under heavy load costs a
/// bounded read (some 10 MB of rows a window at 25 spans a trace). A few
/// thousand traces already give percentiles and failure counts to a few percent.
pub(crate) const MAX_TRACES_PER_WINDOW: i64 = 5_000;
/// Values bound in one statement at most (SQLite's limit is far higher; this keeps statements
/// small).
const CHUNK: usize = 500;

/// A span's row: enough to rebuild its trace's tree and timings.
#[derive(Debug, Clone, Copy, FromRow)]
pub(crate) struct SpanRow {
    /// Row id (finds the span's block, for its attributes).
    pub(crate) id: i64,
    pub(crate) trace_seq: i64,
    pub(crate) span_id: i64,
    /// 0: a root.
    pub(crate) parent_span_id: i64,
    /// Name ids (`names`).
    pub(crate) service: i64,
    pub(crate) operation: i64,
    /// OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
    pub(crate) kind: i32,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    /// 2: error.
    pub(crate) status_code: i32,
}

/// A consumer span that links to a producer span.
#[derive(Debug, Clone)]
pub(crate) struct Consumption {
    pub(crate) producer_trace_id: String,
    /// Hex, as links store it.
    pub(crate) producer_span_id: String,
    pub(crate) service: i64,
    pub(crate) operation: i64,
    pub(crate) start_us: i64,
}

impl Store {
    /// Traces with spans that started in `[start, end)`.
    pub(crate) async fn traces_between(
        &self,
        start_us: i64,
        end_us: i64,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM traces WHERE start_us >= ? AND start_us < ? AND span_count > 0",
        )
        .bind(start_us)
        .bind(end_us)
        .fetch_one(&self.pool)
        .await
    }

    /// Every span row of the traces that started in `[start, end)` whose number is a multiple
    /// of `every`, grouped by trace.
    pub(crate) async fn span_rows(
        &self,
        start_us: i64,
        end_us: i64,
        every: i64,
    ) -> Result<Vec<SpanRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT s.id, s.trace_seq, s.span_id, s.parent_span_id, s.service, s.operation, \
             s.kind, s.start_us, s.duration_us, s.status_code \
             FROM traces t JOIN spans s ON s.trace_seq = t.seq \
             WHERE t.start_us >= ? AND t.start_us < ? AND t.span_count > 0 AND t.seq % ? = 0 \
             ORDER BY s.trace_seq",
        )
        .bind(start_us)
        .bind(end_us)
        .bind(every.max(1))
        .fetch_all(&self.pool)
        .await
    }

    /// The names of these ids.
    pub(crate) async fn names_of(
        &self,
        ids: &HashSet<i64>,
    ) -> Result<HashMap<i64, String>, sqlx::Error> {
        self.text_by_id("SELECT id, name FROM names WHERE id IN", ids)
            .await
    }

    /// The trace ids of these trace numbers.
    pub(crate) async fn trace_ids_of(
        &self,
        seqs: &HashSet<i64>,
    ) -> Result<HashMap<i64, String>, sqlx::Error> {
        self.text_by_id("SELECT seq, trace_id FROM traces WHERE seq IN", seqs)
            .await
    }

    /// `select` (`SELECT id, text FROM table WHERE id IN`) for these ids, a chunk at a time.
    async fn text_by_id(
        &self,
        select: &str,
        ids: &HashSet<i64>,
    ) -> Result<HashMap<i64, String>, sqlx::Error> {
        let ids: Vec<i64> = ids.iter().copied().collect();
        let mut out = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let sql = format!("{select} ({})", marks(chunk.len()));
            let mut q = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&self.pool).await?);
        }
        Ok(out)
    }

    /// The service each of these (client) spans names as its peer: `peer.service`, else
    /// `server.address`; absent for a span that names none (a database call).
    pub(crate) async fn peers_of(&self, rows: &[i64]) -> Result<HashMap<i64, String>, sqlx::Error> {
        let mut out = HashMap::new();
        // One span per client operation: a handful of reads.
        for row in rows {
            let Some(span) = spans_by_row_id(&self.pool, &[*row]).await?.pop() else {
                continue;
            };
            let Ok(attrs) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                &span.attributes,
            ) else {
                continue;
            };
            let peer = ["peer.service", "server.address"]
                .iter()
                .find_map(|k| attrs.get(*k).and_then(|v| v.as_str()))
                .filter(|p| !p.is_empty());
            if let Some(peer) = peer {
                out.insert(*row, peer.to_owned());
            }
        }
        Ok(out)
    }

    /// The consumer spans (kind 5) that link to spans of these producer traces.
    pub(crate) async fn consumers_of(
        &self,
        producer_traces: &HashSet<String>,
    ) -> Result<Vec<Consumption>, sqlx::Error> {
        let ids: Vec<&String> = producer_traces.iter().collect();
        let mut links: Vec<(String, String, i64, String)> = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT linked_trace_id, linked_span_id, trace_seq, span_id FROM span_links \
                 WHERE linked_trace_id IN ({})",
                marks(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String, i64, String)>(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind((*id).clone());
            }
            links.extend(q.fetch_all(&self.pool).await?);
        }
        let seqs: Vec<i64> = links
            .iter()
            .map(|l| l.2)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        // (trace number, span id as hex) -> (service, operation, start)
        let mut consumers: HashMap<(i64, String), (i64, i64, i64)> = HashMap::new();
        for chunk in seqs.chunks(CHUNK) {
            let sql = format!(
                "SELECT trace_seq, span_id, service, operation, start_us FROM spans \
                 WHERE trace_seq IN ({}) AND kind = 5",
                marks(chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(AssertSqlSafe(sql));
            for seq in chunk {
                q = q.bind(*seq);
            }
            for (seq, span, service, operation, start) in q.fetch_all(&self.pool).await? {
                consumers.insert((seq, span_id_hex(span)), (service, operation, start));
            }
        }
        Ok(links
            .into_iter()
            .filter_map(|(trace, span, seq, consumer)| {
                let (service, operation, start_us) = *consumers.get(&(seq, consumer))?;
                Some(Consumption {
                    producer_trace_id: trace,
                    producer_span_id: span,
                    service,
                    operation,
                    start_us,
                })
            })
            .collect())
    }
}

/// A span id as links store it: the hex of its 64 bits (rows store them as an integer).
pub(crate) fn span_id_hex(number: i64) -> String {
    format!("{:016x}", number.cast_unsigned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::{span_hex, span_number};

    #[test]
    fn span_numbers_read_back_as_the_hex_links_store() {
        let id = [0xf0, 1, 2, 3, 4, 5, 6, 0xff];
        assert_eq!(span_id_hex(span_number(&id)), span_hex(&id).as_str());
    }
}
