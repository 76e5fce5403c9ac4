//! Read queries: what the Jaeger API and the console's own endpoints ask of the store.

use std::collections::{HashMap, HashSet};

use futures::TryStreamExt;
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, AssertSqlSafe, FromRow};

use super::Store;
use super::failure::{ENTRY_SQL, FAILED_SQL};
use super::tag_search::TagMatch;
use super::write::EDGE_BUCKET_US;

/// A stored span as the API renders it.
#[derive(Debug, Clone)]
pub(crate) struct StoredSpan {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) parent_span_id: String,
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) kind: i32,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    pub(crate) status_code: i32,
    pub(crate) status_message: String,
    pub(crate) attributes: String,
    pub(crate) events: String,
    pub(crate) links: String,
    pub(crate) scope_name: String,
    pub(crate) scope_version: String,
    pub(crate) resource_id: i64,
}

/// A stored resource (Jaeger's "process").
#[derive(Debug, Clone, FromRow)]
pub(crate) struct StoredResource {
    pub(crate) id: i64,
    pub(crate) service: String,
    pub(crate) attributes: String,
}

/// A log record.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct StoredLog {
    pub(crate) time_us: i64,
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) service: String,
    pub(crate) severity_number: i32,
    pub(crate) severity_text: String,
    pub(crate) body: String,
    pub(crate) attributes: String,
}

/// Search criteria, all on one span (as Jaeger matches them).
#[derive(Debug, Clone, Default)]
pub(crate) struct TraceQuery {
    pub(crate) service: Option<String>,
    pub(crate) operation: Option<String>,
    pub(crate) tags: Vec<(String, String)>,
    pub(crate) min_duration_us: Option<i64>,
    pub(crate) max_duration_us: Option<i64>,
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
    pub(crate) limit: usize,
    /// Only traces with a failed request (`failure.rs`).
    pub(crate) failed_only: bool,
}

impl TraceQuery {
    /// The SQL condition `failed_only` adds on the `traces` row named by `prefix` (`t.`).
    pub(crate) fn failed_filter(&self, prefix: &str) -> String {
        if self.failed_only {
            format!(" AND {prefix}error_count > 0")
        } else {
            String::new()
        }
    }
}

/// One row of the traces summary table, with its services.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct TraceSummary {
    pub(crate) trace_id: String,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    /// Spans stored.
    pub(crate) span_count: i64,
    /// Spans received beyond the per-trace limit and not stored.
    pub(crate) dropped_spans: i64,
    /// Whether spans were dropped: the trace is not whole.
    pub(crate) truncated: bool,
    pub(crate) error_count: i64,
    pub(crate) root_service: String,
    pub(crate) root_operation: String,
    /// Failed requests (entry spans) per service, in the order the trace reached them.
    pub(crate) services: Vec<ServiceSpans>,
}

/// How many spans a service has in a trace, and how many of its requests failed.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ServiceSpans {
    pub(crate) service: String,
    pub(crate) spans: i64,
    pub(crate) errors: i64,
}

/// A dependency edge: cross-service calls (parent -> child), or messages (producer ->
/// consumer).
#[derive(Debug, Clone, FromRow)]
pub(crate) struct Edge {
    pub(crate) parent: String,
    pub(crate) child: String,
    /// `call` or `message`.
    pub(crate) kind: String,
    /// Calls made, or messages handled.
    pub(crate) calls: i64,
    pub(crate) errors: i64,
}

/// Duration and status of one span, for rate and latency statistics.
#[derive(Debug, Clone, Copy, FromRow)]
pub(crate) struct Sample {
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    pub(crate) status_code: i32,
}

/// A named sample, for per-operation statistics.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct NamedSample {
    pub(crate) operation: String,
    pub(crate) duration_us: i64,
    pub(crate) status_code: i32,
}

pub(super) fn marks(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn add<'t, T>(args: &mut SqliteArguments, value: T) -> Result<(), sqlx::Error>
where
    T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    args.add(value).map_err(sqlx::Error::Encode)
}

impl Store {
    /// Services that have sent spans, sorted.
    pub(crate) async fn services(&self) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT DISTINCT service FROM operations ORDER BY service")
            .fetch_all(&self.pool)
            .await
    }

    /// Operations of a service with their span kind numbers, sorted by name.
    pub(crate) async fn operations(
        &self,
        service: &str,
    ) -> Result<Vec<(String, i32)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT operation, kind FROM operations WHERE service = ? ORDER BY operation, kind",
        )
        .bind(service)
        .fetch_all(&self.pool)
        .await
    }

    /// Ids of the most recent traces with a span matching the query, newest first.
    pub(crate) async fn find_trace_ids(&self, q: &TraceQuery) -> Result<Vec<String>, sqlx::Error> {
        let mut tags = Vec::with_capacity(q.tags.len());
        if !q.tags.is_empty() {
            for (key, value) in &q.tags {
                let types: Option<i64> =
                    sqlx::query_scalar("SELECT types FROM attribute_types WHERE key = ?")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await?;
                let types = types.and_then(|t| u8::try_from(t).ok());
                tags.push(TagMatch::new(key, value, types));
            }
            if tags.iter().any(TagMatch::matches_nothing) {
                return Ok(Vec::new());
            }
            if tags.iter().any(|t| t.column_only().is_none()) {
                return self.find_by_tags(q, &tags).await;
            }
        }
        let mut span_filter = String::new();
        if q.operation.is_some() {
            span_filter.push_str(" AND s.operation = (SELECT id FROM names WHERE name = ?)");
        }
        if q.min_duration_us.is_some() {
            span_filter.push_str(" AND s.duration_us >= ?");
        }
        if q.max_duration_us.is_some() {
            span_filter.push_str(" AND s.duration_us <= ?");
        }
        // Tags that come down to a column of the span (see above).
        let columns: Vec<(&str, i32)> = tags.iter().filter_map(TagMatch::column_only).collect();
        for (column, _) in &columns {
            span_filter.push_str(" AND s.");
            span_filter.push_str(column);
            span_filter.push_str(" = ?");
        }
        let limit = q.limit.max(1);
        let failed = q.failed_filter("t.");
        if let Some(service) = &q.service {
            // Walk the (service[, operation], start) index newest first and stop at `limit`
            // distinct traces.
            let sql = format!(
                "SELECT t.trace_id FROM spans s JOIN traces t ON t.seq = s.trace_seq \
                 WHERE s.service = (SELECT id FROM names WHERE name = ?) AND s.start_us >= ? \
                 AND s.start_us <= ?{span_filter}{failed} ORDER BY s.start_us DESC"
            );
            let mut all = SqliteArguments::default();
            add(&mut all, service.clone())?;
            add(&mut all, q.start_us)?;
            add(&mut all, q.end_us)?;
            append(
                &mut all,
                &q.operation,
                q.min_duration_us,
                q.max_duration_us,
                &columns,
            )?;
            let mut rows =
                sqlx::query_scalar_with::<_, String, _>(AssertSqlSafe(sql), all).fetch(&self.pool);
            let mut seen = HashSet::new();
            let mut ids = Vec::new();
            while let Some(id) = rows.try_next().await? {
                if seen.insert(id.clone()) {
                    ids.push(id);
                    if ids.len() >= limit {
                        break;
                    }
                }
            }
            return Ok(ids);
        }
        let failed = q.failed_filter("");
        let sql = if span_filter.is_empty() {
            // span_count 0: only log records of the trace have arrived.
            format!(
                "SELECT trace_id FROM traces WHERE start_us >= ? AND start_us <= ? \
                 AND span_count > 0{failed} ORDER BY start_us DESC LIMIT ?"
            )
        } else {
            format!(
                "SELECT trace_id FROM traces WHERE start_us >= ? AND start_us <= ?{failed} \
                 AND EXISTS (SELECT 1 FROM spans s WHERE s.trace_seq = traces.seq{span_filter}) \
                 ORDER BY start_us DESC LIMIT ?"
            )
        };
        let mut all = SqliteArguments::default();
        add(&mut all, q.start_us)?;
        add(&mut all, q.end_us)?;
        append(
            &mut all,
            &q.operation,
            q.min_duration_us,
            q.max_duration_us,
            &columns,
        )?;
        add(&mut all, i64::try_from(limit).unwrap_or(i64::MAX))?;
        sqlx::query_scalar_with(AssertSqlSafe(sql), all)
            .fetch_all(&self.pool)
            .await
    }

    /// Summaries of the given traces, in the order given (unknown ids are skipped).
    pub(crate) async fn summaries(&self, ids: &[String]) -> Result<Vec<TraceSummary>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT trace_id, start_us, end_us - start_us, span_count, dropped_spans, error_count, \
             root_service, root_operation FROM traces WHERE trace_id IN ({}) AND span_count > 0",
            marks(ids.len())
        );
        let mut q = sqlx::query_as::<_, (String, i64, i64, i64, i64, i64, String, String)>(
            AssertSqlSafe(sql),
        );
        for id in ids {
            q = q.bind(id.clone());
        }
        let mut by_id: HashMap<String, TraceSummary> = q
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(
                |(trace_id, start_us, duration_us, span_count, dropped, error_count, rs, ro)| {
                    let summary = TraceSummary {
                        trace_id: trace_id.clone(),
                        start_us,
                        duration_us,
                        span_count,
                        dropped_spans: dropped,
                        truncated: dropped > 0,
                        error_count,
                        root_service: rs,
                        root_operation: ro,
                        services: Vec::new(),
                    };
                    (trace_id, summary)
                },
            )
            .collect();
        let sql = format!(
            "SELECT t.trace_id, n.name, COUNT(*), SUM({ENTRY_SQL} AND {FAILED_SQL}) \
             FROM traces t JOIN spans s ON s.trace_seq = t.seq JOIN names n ON n.id = s.service \
             WHERE t.trace_id IN ({}) GROUP BY t.seq, s.service ORDER BY t.seq, MIN(s.start_us)",
            marks(ids.len())
        );
        let mut q = sqlx::query_as::<_, (String, String, i64, i64)>(AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.clone());
        }
        for (trace_id, service, spans, errors) in q.fetch_all(&self.pool).await? {
            if let Some(s) = by_id.get_mut(&trace_id) {
                s.services.push(ServiceSpans {
                    service,
                    spans,
                    errors,
                });
            }
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// Log records of a trace, oldest first.
    pub(crate) async fn logs_of(&self, trace_id: &str) -> Result<Vec<StoredLog>, sqlx::Error> {
        super::blocks::logs::of_trace(&self.pool, trace_id).await
    }

    /// Log records of every service matching `q`, newest first.
    pub(crate) async fn search_logs(
        &self,
        q: &super::blocks::logs::LogQuery,
    ) -> Result<super::blocks::logs::FoundLogs, sqlx::Error> {
        super::blocks::logs::search(&self.pool, q).await
    }

    /// Parent/child service pairs of calls whose child span started in the window, and
    /// producer/consumer pairs of messages whose consumer span did, one edge per pair and kind
    /// (to the minute: edges are counted per minute at ingest).
    pub(crate) async fn dependencies(
        &self,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<Edge>, sqlx::Error> {
        sqlx::query_as(
            "SELECT parent, child, kind, SUM(calls) AS calls, SUM(errors) AS errors \
             FROM dependency_edges WHERE bucket_us > ? AND bucket_us <= ? \
             GROUP BY parent, child, kind ORDER BY parent, child, kind",
        )
        .bind(start_us.saturating_sub(EDGE_BUCKET_US))
        .bind(end_us)
        .fetch_all(&self.pool)
        .await
    }

    /// Entry spans (server, consumer, or root) of a service in the window.
    pub(crate) async fn entry_samples(
        &self,
        service: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<Sample>, sqlx::Error> {
        let sql = format!(
            "SELECT s.start_us, s.duration_us, s.status_code FROM spans s \
             WHERE s.service = (SELECT id FROM names WHERE name = ?) \
             AND s.start_us >= ? AND s.start_us <= ? AND {ENTRY_SQL}"
        );
        sqlx::query_as(AssertSqlSafe(sql))
            .bind(service)
            .bind(start_us)
            .bind(end_us)
            .fetch_all(&self.pool)
            .await
    }

    /// Spans of one operation in the window.
    pub(crate) async fn operation_samples(
        &self,
        service: &str,
        operation: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<Sample>, sqlx::Error> {
        sqlx::query_as(
            "SELECT start_us, duration_us, status_code FROM spans \
             WHERE service = (SELECT id FROM names WHERE name = ?) \
             AND operation = (SELECT id FROM names WHERE name = ?) \
             AND start_us >= ? AND start_us <= ?",
        )
        .bind(service)
        .bind(operation)
        .bind(start_us)
        .bind(end_us)
        .fetch_all(&self.pool)
        .await
    }

    /// Every span of a service in the window, by operation.
    pub(crate) async fn service_samples(
        &self,
        service: &str,
        start_us: i64,
        end_us: i64,
    ) -> Result<Vec<NamedSample>, sqlx::Error> {
        sqlx::query_as(
            "SELECT n.name AS operation, s.duration_us, s.status_code FROM spans s \
             JOIN names n ON n.id = s.operation \
             WHERE s.service = (SELECT id FROM names WHERE name = ?) \
             AND s.start_us >= ? AND s.start_us <= ?",
        )
        .bind(service)
        .bind(start_us)
        .bind(end_us)
        .fetch_all(&self.pool)
        .await
    }
}

/// Binds the span filters in the order `find_trace_ids` wrote them.
fn append(
    args: &mut SqliteArguments,
    operation: &Option<String>,
    min: Option<i64>,
    max: Option<i64>,
    columns: &[(&str, i32)],
) -> Result<(), sqlx::Error> {
    if let Some(op) = operation {
        add(args, op.clone())?;
    }
    if let Some(min) = min {
        add(args, min)?;
    }
    if let Some(max) = max {
        add(args, max)?;
    }
    for (_, value) in columns {
        add(args, *value)?;
    }
    Ok(())
}
