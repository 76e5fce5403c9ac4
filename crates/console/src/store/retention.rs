//! Retention: whole traces older than the maximum age go first, then the oldest traces until
//! the database fits its byte budget. Runs on the writer's connection, between batches.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::SqliteConnection;
use sqlx::{AssertSqlSafe, Row};

/// Traces deleted per statement group.
const DELETE_CHUNK: usize = 500;
/// Upper bound of traces deleted per size-trimming round.
const MAX_TRACES_PER_ROUND: i64 = 5_000;
/// How long a child span waits in `pending_edges` for its parent to arrive.
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

pub(crate) async fn enforce(
    conn: &mut SqliteConnection,
    policy: &RetentionPolicy,
) -> Result<RetentionReport, sqlx::Error> {
    let mut report = RetentionReport {
        bytes_before: used_bytes(conn).await?,
        ..RetentionReport::default()
    };
    let max_age_us = i64::try_from(policy.max_age.as_micros()).unwrap_or(i64::MAX);
    let cutoff = now_us().saturating_sub(max_age_us);
    loop {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT trace_id FROM traces WHERE start_us < ? ORDER BY start_us LIMIT 500",
        )
        .bind(cutoff)
        .fetch_all(&mut *conn)
        .await?;
        if ids.is_empty() {
            break;
        }
        report.expired_traces += delete_traces(conn, &ids).await?;
    }
    sqlx::query("DELETE FROM logs WHERE time_us < ?")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM dependency_edges WHERE bucket_us < ?")
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM pending_edges WHERE stored_us < ? OR start_us < ?")
        .bind(now_us().saturating_sub(PENDING_EDGE_TTL_US))
        .bind(cutoff)
        .execute(&mut *conn)
        .await?;

    loop {
        let used = used_bytes(conn).await?;
        if used <= policy.max_bytes {
            break;
        }
        let traces: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM traces")
            .fetch_one(&mut *conn)
            .await?;
        if traces == 0 {
            sqlx::query("DELETE FROM logs").execute(&mut *conn).await?;
            sqlx::query("DELETE FROM dependency_edges")
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM pending_edges")
                .execute(&mut *conn)
                .await?;
            break;
        }
        // Delete about as many traces as the excess represents, at least one.
        let per_trace = (used / u64::try_from(traces).unwrap_or(1)).max(1);
        let excess = used - policy.max_bytes;
        let n = i64::try_from(excess.div_ceil(per_trace))
            .unwrap_or(MAX_TRACES_PER_ROUND)
            .clamp(1, MAX_TRACES_PER_ROUND);
        let rows = sqlx::query("SELECT trace_id, start_us FROM traces ORDER BY start_us LIMIT ?")
            .bind(n)
            .fetch_all(&mut *conn)
            .await?;
        let newest_deleted: i64 = rows.last().map(|r| r.try_get(1)).transpose()?.unwrap_or(0);
        let ids = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        report.trimmed_traces += delete_traces(conn, &ids).await?;
        sqlx::query("DELETE FROM logs WHERE time_us < ?")
            .bind(newest_deleted)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM dependency_edges WHERE bucket_us < ?")
            .bind(newest_deleted)
            .execute(&mut *conn)
            .await?;
    }
    if report.expired_traces + report.trimmed_traces > 0 {
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut *conn)
            .await?;
    }
    report.bytes_after = used_bytes(conn).await?;
    if report.expired_traces + report.trimmed_traces > 0 {
        tracing::info!(?report, "console retention deleted traces");
    }
    Ok(report)
}

/// Pages in use (not on the free list) times the page size.
pub(crate) async fn used_bytes(conn: &mut SqliteConnection) -> Result<u64, sqlx::Error> {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await?;
    let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await?;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from((pages - free).max(0) * size).unwrap_or(0))
}

/// Deletes the traces, their spans and logs, in one transaction per chunk.
async fn delete_traces(conn: &mut SqliteConnection, ids: &[String]) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    for chunk in ids.chunks(DELETE_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let statements = [
            format!("DELETE FROM spans WHERE trace_id IN ({marks})"),
            format!("DELETE FROM logs WHERE trace_id IN ({marks})"),
            format!("DELETE FROM traces WHERE trace_id IN ({marks})"),
        ];
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let mut result = Ok(0);
        for sql in statements {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.clone());
            }
            result = q.execute(&mut *conn).await.map(|r| r.rows_affected());
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(n) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                deleted += n;
            }
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                return Err(e);
            }
        }
    }
    Ok(deleted)
}
