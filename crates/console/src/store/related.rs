//! The traces connected to one through span links, in either direction and transitively: the
//! asynchronous hops of one piece of work, each a trace of its own whose consumer span links to
//! its producer's span. Reads the `span_links` index the writer keeps.

use std::collections::HashSet;

use sqlx::{AssertSqlSafe, FromRow, SqliteConnection};

use super::Store;

/// Trace ids the walk visits at most, stored or not: it also passes through traces that are
/// not (or no longer) stored, because two traces linking to the same one are related.
const MAX_VISITED: usize = 1_000;
/// Rows one query of the walk reads at most: a trace linked by thousands of others (a batch
/// consumer) must not make one answer read them all.
const MAX_ROWS_PER_QUERY: usize = 5_000;

/// A stored trace connected to the asked one, with the links its spans make.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct RelatedTrace {
    pub(crate) trace_id: String,
    pub(crate) root_service: String,
    pub(crate) root_operation: String,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    pub(crate) span_count: i64,
    pub(crate) error_count: i64,
    /// Links made by this trace's spans, to stored traces or not.
    pub(crate) links: Vec<TraceLink>,
}

/// A link from a span of one trace to a span of another (or the same) trace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct TraceLink {
    pub(crate) from_span_id: String,
    pub(crate) to_trace_id: String,
    pub(crate) to_span_id: String,
}

/// The answer of [`Store::related`].
#[derive(Debug, Clone)]
pub(crate) struct Related {
    /// Sorted by start time (then id); the asked trace is among them.
    pub(crate) traces: Vec<RelatedTrace>,
    /// Whether a bound cut the walk: more traces may be connected.
    pub(crate) truncated: bool,
}

#[derive(FromRow)]
struct SummaryRow {
    trace_id: String,
    root_service: String,
    root_operation: String,
    start_us: i64,
    duration_us: i64,
    span_count: i64,
    error_count: i64,
}

impl From<SummaryRow> for RelatedTrace {
    fn from(r: SummaryRow) -> Self {
        Self {
            trace_id: r.trace_id,
            root_service: r.root_service,
            root_operation: r.root_operation,
            start_us: r.start_us,
            duration_us: r.duration_us,
            span_count: r.span_count,
            error_count: r.error_count,
            links: Vec::new(),
        }
    }
}

impl Store {
    /// The stored traces connected to `trace_id` through links, at most `limit` of them
    /// (itself included), found breadth first; `None` if that trace has no stored span.
    pub(crate) async fn related(
        &self,
        trace_id: &str,
        limit: usize,
    ) -> Result<Option<Related>, sqlx::Error> {
        // One read transaction: the walk sees one state of the store.
        let mut tx = self.pool.begin().await?;
        let conn = &mut *tx;
        let Some(asked) = summaries(conn, &[trace_id.to_owned()]).await?.pop() else {
            return Ok(None);
        };
        let mut found = vec![asked];
        let mut visited = HashSet::from([trace_id.to_owned()]);
        let mut frontier = vec![trace_id.to_owned()];
        let mut truncated = false;
        'walk: while !frontier.is_empty() {
            let (neighbours, cut) = neighbours(conn, &frontier).await?;
            truncated |= cut;
            let mut next: Vec<String> = neighbours
                .into_iter()
                .filter(|id| !visited.contains(id))
                .collect();
            next.sort_unstable();
            let room = MAX_VISITED.saturating_sub(visited.len());
            if next.len() > room {
                next.truncate(room);
                truncated = true;
            }
            visited.extend(next.iter().cloned());
            let mut stored = summaries(conn, &next).await?;
            stored.sort_by(|a, b| (a.start_us, &a.trace_id).cmp(&(b.start_us, &b.trace_id)));
            for trace in stored {
                if found.len() >= limit {
                    truncated = true;
                    break 'walk;
                }
                found.push(trace);
            }
            frontier = next;
        }
        let ids: Vec<String> = found.iter().map(|t| t.trace_id.clone()).collect();
        let (links, cut) = links_from(conn, &ids).await?;
        truncated |= cut;
        tx.commit().await?;
        for (trace_id, link) in links {
            if let Some(t) = found.iter_mut().find(|t| t.trace_id == trace_id) {
                t.links.push(link);
            }
        }
        found.sort_by(|a, b| (a.start_us, &a.trace_id).cmp(&(b.start_us, &b.trace_id)));
        Ok(Some(Related {
            traces: found,
            truncated,
        }))
    }
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(",")
}

/// The stored traces (with spans) among `ids`, in no particular order.
async fn summaries(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<Vec<RelatedTrace>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT trace_id, root_service, root_operation, start_us, end_us - start_us AS \
         duration_us, span_count, error_count FROM traces \
         WHERE trace_id IN ({}) AND span_count > 0",
        marks(ids.len())
    );
    let mut q = sqlx::query_as::<_, SummaryRow>(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.as_str());
    }
    Ok(q.fetch_all(conn)
        .await?
        .into_iter()
        .map(RelatedTrace::from)
        .collect())
}

/// The traces `ids` link to and the traces linking to them (stored or not); true when the
/// answer was cut at [`MAX_ROWS_PER_QUERY`].
async fn neighbours(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<(Vec<String>, bool), sqlx::Error> {
    let sql = format!(
        "SELECT l.linked_trace_id FROM traces t JOIN span_links l ON l.trace_seq = t.seq \
         WHERE t.trace_id IN ({marks}) \
         UNION \
         SELECT t.trace_id FROM span_links l JOIN traces t ON t.seq = l.trace_seq \
         WHERE l.linked_trace_id IN ({marks}) \
         LIMIT ?",
        marks = marks(ids.len())
    );
    let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
    for id in ids.iter().chain(ids) {
        q = q.bind(id.as_str());
    }
    let mut rows = q.bind(row_limit()).fetch_all(conn).await?;
    let cut = rows.len() > MAX_ROWS_PER_QUERY;
    rows.truncate(MAX_ROWS_PER_QUERY);
    Ok((rows, cut))
}

/// The links made by the spans of the traces `ids`, as (linking trace, link); true when the
/// answer was cut at [`MAX_ROWS_PER_QUERY`].
async fn links_from(
    conn: &mut SqliteConnection,
    ids: &[String],
) -> Result<(Vec<(String, TraceLink)>, bool), sqlx::Error> {
    let sql = format!(
        "SELECT t.trace_id, l.span_id, l.linked_trace_id, l.linked_span_id \
         FROM traces t JOIN span_links l ON l.trace_seq = t.seq \
         WHERE t.trace_id IN ({}) ORDER BY t.seq, l.span_id, l.linked_trace_id LIMIT ?",
        marks(ids.len())
    );
    let mut q = sqlx::query_as::<_, (String, String, String, String)>(AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.as_str());
    }
    let mut rows = q.bind(row_limit()).fetch_all(conn).await?;
    let cut = rows.len() > MAX_ROWS_PER_QUERY;
    rows.truncate(MAX_ROWS_PER_QUERY);
    let links = rows
        .into_iter()
        .map(|(trace, from_span_id, to_trace_id, to_span_id)| {
            let link = TraceLink {
                from_span_id,
                to_trace_id,
                to_span_id,
            };
            (trace, link)
        })
        .collect();
    Ok((links, cut))
}

/// One row more than is kept, to know whether there were more.
fn row_limit() -> i64 {
    i64::try_from(MAX_ROWS_PER_QUERY + 1).unwrap_or(i64::MAX)
}
