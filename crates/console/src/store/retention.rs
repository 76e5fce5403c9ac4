//! Retention: whole traces older than the maximum age go first, then the oldest traces until
//! the database fits its byte budget; logs and metric scrapes go with the traces of their time.
//! Runs on the writer's connection, between batches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params, params_from_iter};

use super::blocks::logs;
use super::metrics;

/// Traces deleted per statement group.
const DELETE_CHUNK: usize = 500;
/// Upper bound of traces deleted per size-trimming round.
const MAX_TRACES_PER_ROUND: i64 = 5_000;
/// How long a child span waits in `pending_edges` for its parent to arrive, and a consumer span
/// in `pending_links` for the span it links to.
const PENDING_EDGE_TTL_US: i64 = 15 * 60 * 1_000_000;

/// What retention keeps.
#[derive(Debug, Clone)]
pub(crate) struct RetentionPolicy {
    pub(crate) max_age: Duration,
    pub(crate) max_bytes: u64,
    pub(crate) interval: Duration,
}

/// What one retention pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Traces deleted because they were too old.
    pub expired_traces: u64,
    /// Traces deleted to get under the size limit.
    pub trimmed_traces: u64,
    /// Bytes in use before the pass.
    pub bytes_before: u64,
    /// Bytes in use after the pass.
    pub bytes_after: u64,
}

/// Now, in microseconds since the epoch.
pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn enforce(
    conn: &Connection,
    policy: &RetentionPolicy,
) -> rusqlite::Result<RetentionReport> {
    let mut report = RetentionReport {
        bytes_before: used_bytes(conn)?,
        ..RetentionReport::default()
    };
    let max_age_us = i64::try_from(policy.max_age.as_micros()).unwrap_or(i64::MAX);
    let cutoff = now_us().saturating_sub(max_age_us);
    loop {
        let seqs: Vec<i64> = conn
            .prepare_cached(
                "SELECT seq FROM traces WHERE start_us < ?1 ORDER BY start_us LIMIT 500",
            )?
            .query_map([cutoff], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if seqs.is_empty() {
            break;
        }
        report.expired_traces += delete_traces(conn, &seqs)?;
    }
    if report.expired_traces > 0 {
        delete_unused_blocks(conn)?;
    }
    logs::delete_before(conn, cutoff)?;
    metrics::delete_before(conn, cutoff)?;
    conn.execute(
        "DELETE FROM dependency_edges WHERE bucket_us < ?1",
        [cutoff],
    )?;
    for table in ["pending_edges", "pending_links"] {
        conn.execute(
            &format!("DELETE FROM {table} WHERE stored_us < ?1 OR start_us < ?2"),
            params![now_us().saturating_sub(PENDING_EDGE_TTL_US), cutoff],
        )?;
    }

    loop {
        let used = used_bytes(conn)?;
        if used <= policy.max_bytes {
            break;
        }
        let traces: i64 = conn.query_row("SELECT COUNT(*) FROM traces", [], |row| row.get(0))?;
        if traces == 0 {
            conn.execute_batch(
                "DELETE FROM log_block_traces; DELETE FROM log_blocks; DELETE FROM dependency_edges; DELETE FROM pending_edges; \
                 DELETE FROM pending_links; DELETE FROM span_links; DELETE FROM span_blocks; \
                 DELETE FROM metric_points; DELETE FROM metric_exemplars;",
            )?;
            break;
        }
        // Delete about as many traces as the excess represents, at least one.
        let per_trace = (used / u64::try_from(traces).unwrap_or(1)).max(1);
        let excess = used - policy.max_bytes;
        let n = i64::try_from(excess.div_ceil(per_trace))
            .unwrap_or(MAX_TRACES_PER_ROUND)
            .clamp(1, MAX_TRACES_PER_ROUND);
        let rows: Vec<(i64, i64)> = conn
            .prepare_cached("SELECT seq, start_us FROM traces ORDER BY start_us LIMIT ?1")?
            .query_map([n], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let newest_deleted = rows.last().map_or(0, |(_, start)| *start);
        let seqs: Vec<i64> = rows.into_iter().map(|(seq, _)| seq).collect();
        report.trimmed_traces += delete_traces(conn, &seqs)?;
        delete_unused_blocks(conn)?;
        logs::delete_before(conn, newest_deleted)?;
        metrics::delete_before(conn, newest_deleted)?;
        conn.execute(
            "DELETE FROM dependency_edges WHERE bucket_us < ?1",
            [newest_deleted],
        )?;
    }
    if report.expired_traces + report.trimmed_traces > 0 {
        conn.execute_batch("PRAGMA incremental_vacuum")?;
    }
    report.bytes_after = used_bytes(conn)?;
    if report.expired_traces + report.trimmed_traces > 0 {
        tracing::info!(?report, "console retention deleted traces");
    }
    Ok(report)
}

/// Pages in use (not on the free list) times the page size.
pub(crate) fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let pragma =
        |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0));
    let (pages, free, size) = (
        pragma("page_count")?,
        pragma("freelist_count")?,
        pragma("page_size")?,
    );
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

/// Deletes the span blocks none of whose rows remain. A block whose spans belong to traces
/// deleted and kept alike stays whole until the last of them goes: its bytes count against the
/// budget meanwhile, so the size limit still holds.
fn delete_unused_blocks(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM span_blocks WHERE NOT EXISTS (SELECT 1 FROM spans \
         WHERE spans.id >= span_blocks.first_span_id \
         AND spans.id < span_blocks.first_span_id + span_blocks.span_count)",
        [],
    )
}

/// Deletes the traces (by number), their spans, logs, pending edges and links (pending and
/// indexed), in one transaction per chunk. A deleted trace's number may be given again to a
/// new trace, so nothing may keep it.
fn delete_traces(conn: &Connection, seqs: &[i64]) -> rusqlite::Result<u64> {
    let mut deleted = 0;
    for chunk in seqs.chunks(DELETE_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let statements = [
            format!("DELETE FROM spans WHERE trace_seq IN ({marks})"),
            // The trace's log records stay in their blocks until those expire, unreachable.
            format!("DELETE FROM log_block_traces WHERE trace_seq IN ({marks})"),
            format!("DELETE FROM pending_edges WHERE trace_seq IN ({marks})"),
            // Consumers of the trace waiting for their producer (pending_links_trace_seq).
            format!("DELETE FROM pending_links WHERE trace_seq IN ({marks})"),
            // Links from the trace; links to it belong to the traces that made them.
            format!("DELETE FROM span_links WHERE trace_seq IN ({marks})"),
            format!("DELETE FROM traces WHERE seq IN ({marks})"),
        ];
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let mut result = Ok(0);
        for sql in &statements {
            result = conn.execute(sql, params_from_iter(chunk));
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(n) => {
                conn.execute_batch("COMMIT")?;
                deleted += u64::try_from(n).unwrap_or(0);
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(deleted)
}
