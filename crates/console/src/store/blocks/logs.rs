//! Log records in blocks: each export's records, up to [`LOGS_PER_BLOCK`] to a block, stored
//! whole and compressed, with a row per trace and block (`log_block_traces`) rather than a row
//! and two index entries per record. A trace's records are read from the few blocks that hold
//! them; retention drops whole blocks by age (a block goes when its newest record is too old),
//! and a deleted trace loses its rows in `log_block_traces`.

use std::collections::BTreeSet;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use super::{BlockError, Decoded, encode};
use crate::store::model::{LogBatch, TraceId, span_hex, trace_hex};
use crate::store::query::StoredLog;

/// Records a block holds at most: an export of 512 makes two.
pub(crate) const LOGS_PER_BLOCK: usize = 256;

/// One log record as its block stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BlockLog<'a> {
    pub(crate) time_us: i64,
    pub(crate) trace_id: Option<[u8; 16]>,
    pub(crate) span_id: Option<[u8; 8]>,
    pub(crate) service: &'a str,
    pub(crate) severity_number: i32,
    pub(crate) severity_text: &'a str,
    pub(crate) body: &'a str,
    pub(crate) attributes: &'a str,
    pub(crate) resource_id: i64,
}

const INSERT_BLOCK: &str = "INSERT INTO log_blocks (log_count, min_time_us, max_time_us, data) \
    VALUES (?1, ?2, ?3, ?4)";
const INSERT_TRACE: &str =
    "INSERT OR IGNORE INTO log_block_traces (trace_seq, block_id) VALUES (?1, ?2)";

/// Writes the records of `batch` into blocks; `seqs` gives each record's trace number (0 for
/// none) and `resource_ids` each resource's id.
pub(crate) fn write(
    conn: &Connection,
    batch: &LogBatch,
    resource_ids: &[i64],
    seqs: &[i64],
) -> rusqlite::Result<()> {
    let t = batch.text.as_str();
    for (rows, seqs) in batch
        .rows
        .chunks(LOGS_PER_BLOCK)
        .zip(seqs.chunks(LOGS_PER_BLOCK))
    {
        let logs: Vec<Option<BlockLog<'_>>> = rows
            .iter()
            .map(|l| {
                Some(BlockLog {
                    time_us: l.time_us,
                    trace_id: l.trace_id,
                    span_id: l.span_id,
                    service: batch.service(l),
                    severity_number: l.severity_number,
                    severity_text: l.severity_text.of(t),
                    body: l.body.of(t),
                    attributes: l.attributes.of(t),
                    resource_id: resource_ids.get(l.resource as usize).copied().unwrap_or(0),
                })
            })
            .collect();
        let times = rows.iter().map(|l| l.time_us);
        let (min, max) = (times.clone().min(), times.max());
        insert_block(conn, &logs, min.unwrap_or(0), max.unwrap_or(0), seqs)?;
    }
    Ok(())
}

pub(super) fn insert_block(
    conn: &Connection,
    logs: &[Option<BlockLog<'_>>],
    min_time: i64,
    max_time: i64,
    seqs: &[i64],
) -> rusqlite::Result<()> {
    let data = encode(logs).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let count = i64::try_from(logs.len()).unwrap_or(i64::MAX);
    let block = conn
        .prepare_cached(INSERT_BLOCK)?
        .insert(params![count, min_time, max_time, data])?;
    let traces: BTreeSet<i64> = seqs.iter().copied().filter(|s| *s != 0).collect();
    let mut insert = conn.prepare_cached(INSERT_TRACE)?;
    for seq in traces {
        insert.execute(params![seq, block])?;
    }
    Ok(())
}

/// Log records of trace `trace_id`, oldest first.
pub(crate) async fn of_trace(
    pool: &SqlitePool,
    trace_id: &str,
) -> Result<Vec<StoredLog>, sqlx::Error> {
    let mut wanted: TraceId = [0; 16];
    if hex::decode_to_slice(trace_id, &mut wanted).is_err() {
        return Ok(Vec::new());
    }
    let blocks: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "SELECT b.id, b.data FROM log_block_traces m JOIN log_blocks b ON b.id = m.block_id \
         WHERE m.trace_seq = (SELECT seq FROM traces WHERE trace_id = ?) ORDER BY b.id",
    )
    .bind(trace_id)
    .fetch_all(pool)
    .await?;
    let mut found: Vec<Found> = Vec::new();
    for (block, data) in blocks {
        collect_matching(block, &data, |l| l.trace_id == Some(wanted), &mut found);
    }
    found.sort_by_key(|(time, block, slot, _)| (*time, *block, *slot));
    Ok(found.into_iter().map(|(.., log)| log).collect())
}

/// What a log search matches: every given criterion, on one record.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogQuery {
    pub(crate) service: Option<String>,
    /// At least this OTLP severity number (9 info, 13 warn, 17 error).
    pub(crate) min_severity: Option<i32>,
    /// Words the body contains, case-insensitively (lower-cased here).
    pub(crate) text: Option<String>,
    /// An attribute's key and its value as text (a string's own value, else its JSON).
    pub(crate) attribute: Option<(String, String)>,
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
    /// Only records stored after the block with this id (a live tail's cursor).
    pub(crate) after_block: i64,
    pub(crate) limit: usize,
}

impl LogQuery {
    fn matches(&self, l: &BlockLog<'_>) -> bool {
        (self.start_us..=self.end_us).contains(&l.time_us)
            && self.service.as_deref().is_none_or(|s| s == l.service)
            && self.min_severity.is_none_or(|min| l.severity_number >= min)
            && self.trace_id.is_none_or(|id| l.trace_id == Some(id))
            && self
                .text
                .as_deref()
                .is_none_or(|t| l.body.to_lowercase().contains(t))
            && self.attribute.as_ref().is_none_or(|(key, want)| {
                match serde_json::from_str::<serde_json::Value>(l.attributes) {
                    Ok(serde_json::Value::Object(m)) => m.get(key).is_some_and(|v| match v {
                        serde_json::Value::String(s) => s == want,
                        // 500, 2.5, true: the value the text stands for.
                        other => serde_json::from_str::<serde_json::Value>(want)
                            .is_ok_and(|w| w == *other),
                    }),
                    _ => false,
                }
            })
    }
}

/// A log search's answer: the newest matching records first, and the newest block stored
/// when it ran (the cursor a live tail asks `after_block` of next).
pub(crate) struct FoundLogs {
    pub(crate) logs: Vec<StoredLog>,
    pub(crate) cursor: i64,
}

/// Records matching `q`, newest first, at most `q.limit`. Blocks are read newest first by
/// their newest record and the scan stops once no older block can hold a newer match; a
/// console's logs are a few blocks per second of traffic, so a scan is cheap for the windows
/// people ask about, and no per-record index is paid for at ingest.
pub(crate) async fn search(pool: &SqlitePool, q: &LogQuery) -> Result<FoundLogs, sqlx::Error> {
    use futures::TryStreamExt;

    let cursor: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM log_blocks")
        .fetch_one(pool)
        .await?;
    let sql = if q.trace_id.is_some() {
        "SELECT b.id, b.max_time_us, b.data FROM log_block_traces m \
         JOIN log_blocks b ON b.id = m.block_id \
         WHERE m.trace_seq = (SELECT seq FROM traces WHERE trace_id = ?5) \
         AND b.max_time_us >= ?1 AND b.min_time_us <= ?2 AND b.id > ?3 AND b.id <= ?4 \
         ORDER BY b.max_time_us DESC"
    } else {
        "SELECT id, max_time_us, data FROM log_blocks \
         WHERE max_time_us >= ?1 AND min_time_us <= ?2 AND id > ?3 AND id <= ?4 AND ?5 IS NULL \
         ORDER BY max_time_us DESC"
    };
    let trace_hex_id = q.trace_id.map(|id| trace_hex(&id).as_str().to_owned());
    let mut blocks = sqlx::query_as::<_, (i64, i64, Vec<u8>)>(sql)
        .bind(q.start_us)
        .bind(q.end_us)
        .bind(q.after_block)
        .bind(cursor)
        .bind(trace_hex_id)
        .fetch(pool);
    // (time, block, slot) orders records newest first, ties by where they were stored.
    let mut found: Vec<Found> = Vec::new();
    while let Some((block, max_time, data)) = blocks.try_next().await? {
        if found.len() >= q.limit && found.last().is_some_and(|(t, ..)| max_time < *t) {
            break;
        }
        collect_matching(block, &data, |l| q.matches(l), &mut found);
        found.sort_by_key(|(time, block, slot, _)| std::cmp::Reverse((*time, *block, *slot)));
        found.truncate(q.limit);
    }
    Ok(FoundLogs {
        logs: found.into_iter().map(|(.., log)| log).collect(),
        cursor,
    })
}

/// A record found: (time, block, slot) place it among the others.
type Found = (i64, i64, usize, StoredLog);

/// Adds the records of `block` (its stored `data`) that `wanted` accepts to `found`; a block
/// that cannot be read is logged and skipped.
fn collect_matching(
    block: i64,
    data: &[u8],
    wanted: impl Fn(&BlockLog<'_>) -> bool,
    found: &mut Vec<Found>,
) {
    let read = Decoded::new(data).and_then(|decoded| {
        let logs: Vec<Option<BlockLog<'_>>> = decoded.items()?;
        for (slot, log) in logs.iter().enumerate() {
            if let Some(log) = log.as_ref().filter(|l| wanted(l)) {
                found.push((log.time_us, block, slot, stored(log)));
            }
        }
        Ok::<_, BlockError>(())
    });
    if let Err(e) = read {
        tracing::warn!(block, error = %e, "console could not read a log block");
    }
}

fn stored(l: &BlockLog<'_>) -> StoredLog {
    StoredLog {
        time_us: l.time_us,
        trace_id: l
            .trace_id
            .map(|id| trace_hex(&id).as_str().to_owned())
            .unwrap_or_default(),
        span_id: l
            .span_id
            .map(|id| span_hex(&id).as_str().to_owned())
            .unwrap_or_default(),
        service: l.service.to_owned(),
        severity_number: l.severity_number,
        severity_text: l.severity_text.to_owned(),
        body: l.body.to_owned(),
        attributes: l.attributes.to_owned(),
    }
}

/// Drops the blocks whose newest record is older than `cutoff_us`, with their trace rows.
pub(crate) fn delete_before(conn: &Connection, cutoff_us: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM log_block_traces WHERE block_id IN \
         (SELECT id FROM log_blocks WHERE max_time_us < ?1)",
        [cutoff_us],
    )?;
    conn.execute("DELETE FROM log_blocks WHERE max_time_us < ?1", [cutoff_us])
}
