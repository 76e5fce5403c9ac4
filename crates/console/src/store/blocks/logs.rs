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
    let mut found: Vec<(i64, i64, usize, StoredLog)> = Vec::new();
    for (block, data) in blocks {
        let read = Decoded::new(&data).and_then(|decoded| {
            let logs: Vec<Option<BlockLog<'_>>> = decoded.items()?;
            for (slot, log) in logs.iter().enumerate() {
                if let Some(log) = log.as_ref().filter(|l| l.trace_id == Some(wanted)) {
                    found.push((log.time_us, block, slot, stored(log)));
                }
            }
            Ok::<_, BlockError>(())
        });
        if let Err(e) = read {
            tracing::warn!(block, error = %e, "console could not read a log block");
        }
    }
    found.sort_by_key(|(time, block, slot, _)| (*time, *block, *slot));
    Ok(found.into_iter().map(|(.., log)| log).collect())
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
