//! Moves what an earlier console stored into blocks, once, when the console opens a database:
//! span rows that hold their detail in their own columns (`attributes` is never empty there,
//! as a JSON object), which the reads no longer look at, and the `logs` table's records. Then
//! copies the span rows of the table before migration 0009 into the compact `spans`.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::logs::{self, BlockLog};
use super::{BlockSpan, SPANS_PER_BLOCK, encode, filter, json_tag_hashes};
use crate::store::model::span_number;
use crate::store::tag_search::value_type;

const OLD_ROWS: &str = "SELECT id, trace_id, span_id, parent_span_id, service, operation, kind, \
    start_us, duration_us, status_code, status_message, attributes, events, links, scope_name, \
    scope_version, resource_id FROM spans_before_0009 WHERE id > ?1 AND attributes != '' \
    ORDER BY id LIMIT ?2";

/// One row as stored before blocks.
struct OldRow {
    id: i64,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    service: String,
    operation: String,
    kind: i32,
    start_us: i64,
    duration_us: i64,
    status_code: i32,
    status_message: String,
    attributes: String,
    events: String,
    links: String,
    scope_name: String,
    scope_version: String,
    resource_id: i64,
}

/// Moves the span rows of an earlier console (`spans_before_0009`) into blocks where they hold
/// their detail, then into the compact `spans`, and drops their table, in one transaction;
/// returns how many rows were copied.
pub(crate) fn old_span_rows(conn: &Connection) -> rusqlite::Result<u64> {
    if !table_exists(conn, "spans_before_0009")? {
        return Ok(0);
    }
    let waiting: i64 = conn.query_row("SELECT COUNT(*) FROM spans_before_0009", [], |row| {
        row.get(0)
    })?;
    if waiting > 0 {
        tracing::info!(
            spans = waiting,
            "console moves spans stored by an earlier version into blocks and compact rows"
        );
    }
    let copied = in_transaction(conn, |conn| {
        move_all(conn)?;
        let copied = compact_rows(conn)?;
        conn.execute_batch("DROP TABLE spans_before_0009")?;
        Ok(copied)
    })?;
    if copied > 0 {
        tracing::info!(spans = copied, "console moved stored spans");
    }
    Ok(copied)
}

fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |row| row.get(0),
    )
}

/// Copies the rows of `spans_before_0009` into `spans` with the same ids (their blocks are
/// found by row id), ids as numbers and names by id.
fn compact_rows(conn: &Connection) -> rusqlite::Result<u64> {
    conn.execute_batch(
        "INSERT OR IGNORE INTO names (name) SELECT DISTINCT service FROM spans_before_0009; \
         INSERT OR IGNORE INTO names (name) SELECT DISTINCT operation FROM spans_before_0009;",
    )?;
    let mut read = conn.prepare(
        "SELECT o.id, o.trace_seq, o.span_id, o.parent_span_id, s.id, p.id, o.kind, o.start_us, \
         o.duration_us, o.status_code FROM spans_before_0009 o \
         JOIN names s ON s.name = o.service JOIN names p ON p.name = o.operation ORDER BY o.id",
    )?;
    let mut write = conn.prepare(
        "INSERT INTO spans (id, trace_seq, span_id, parent_span_id, service, operation, kind, \
         start_us, duration_us, status_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut rows = read.query([])?;
    let mut copied = 0;
    while let Some(r) = rows.next()? {
        let number = |i| -> rusqlite::Result<i64> {
            let hex: String = r.get(i)?;
            Ok(decode_id::<8>(&hex).map_or(0, |id| span_number(&id)))
        };
        write.execute(params![
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            number(2)?,
            number(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, i64>(8)?,
            r.get::<_, i64>(9)?,
        ])?;
        copied += 1;
    }
    Ok(copied)
}

/// Runs `f` in one transaction, rolled back if it fails.
fn in_transaction(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<u64>,
) -> rusqlite::Result<u64> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(n) => {
            conn.execute_batch("COMMIT")?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn move_all(conn: &Connection) -> rusqlite::Result<u64> {
    let mut after = 0;
    let mut moved = 0;
    let mut types: HashMap<String, u8> = HashMap::new();
    loop {
        let rows: Vec<OldRow> = conn
            .prepare_cached(OLD_ROWS)?
            .query_map(params![after, SPANS_PER_BLOCK as i64], |r| {
                Ok(OldRow {
                    id: r.get(0)?,
                    trace_id: r.get(1)?,
                    span_id: r.get(2)?,
                    parent_span_id: r.get(3)?,
                    service: r.get(4)?,
                    operation: r.get(5)?,
                    kind: r.get(6)?,
                    start_us: r.get(7)?,
                    duration_us: r.get(8)?,
                    status_code: r.get(9)?,
                    status_message: r.get(10)?,
                    attributes: r.get(11)?,
                    events: r.get(12)?,
                    links: r.get(13)?,
                    scope_name: r.get(14)?,
                    scope_version: r.get(15)?,
                    resource_id: r.get(16)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last_id) = rows.last().map(|r| r.id) else {
            break;
        };
        write_block(conn, &rows, &mut types)?;
        moved += rows.len() as u64;
        after = last_id;
    }
    // Tag searches look for a value in the forms its key was stored in.
    for (key, bits) in types {
        conn.execute(
            "INSERT INTO attribute_types (key, types) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET types = types | excluded.types",
            params![key, bits],
        )?;
    }
    Ok(moved)
}

/// One block of rows (ids ascending, with gaps where rows were deleted).
fn write_block(
    conn: &Connection,
    rows: &[OldRow],
    types: &mut HashMap<String, u8>,
) -> rusqlite::Result<()> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let count = usize::try_from(last.id - first.id + 1).unwrap_or(0);
    let mut spans: Vec<Option<BlockSpan<'_>>> = vec![None; count];
    let mut hashes = Vec::new();
    for r in rows {
        json_tag_hashes(&r.attributes, &mut hashes);
        note_types(&r.attributes, types);
        let Some(slot) = usize::try_from(r.id - first.id)
            .ok()
            .and_then(|i| spans.get_mut(i))
        else {
            continue;
        };
        *slot = Some(BlockSpan {
            trace_id: decode_hex(&r.trace_id),
            span_id: decode_hex(&r.span_id),
            parent_span_id: (!r.parent_span_id.is_empty()).then(|| decode_hex(&r.parent_span_id)),
            service: &r.service,
            operation: &r.operation,
            kind: r.kind,
            start_us: r.start_us,
            duration_us: r.duration_us,
            status_code: r.status_code,
            status_message: &r.status_message,
            attributes: &r.attributes,
            events: &r.events,
            links: &r.links,
            scope_name: &r.scope_name,
            scope_version: &r.scope_version,
            resource_id: r.resource_id,
        });
    }
    let data = encode(&spans).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let min_start = rows.iter().map(|r| r.start_us).min().unwrap_or(0);
    let max_start = rows.iter().map(|r| r.start_us).max().unwrap_or(0);
    conn.execute(
        "INSERT INTO span_blocks (first_span_id, span_count, min_start_us, max_start_us, \
         filter, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            first.id,
            i64::try_from(count).unwrap_or(i64::MAX),
            min_start,
            max_start,
            filter::build(&mut hashes),
            data
        ],
    )?;
    Ok(())
}

/// A stored hex id (the store wrote them, lowercase and whole); zeros if damaged.
fn decode_hex<const N: usize>(text: &str) -> [u8; N] {
    decode_id(text).unwrap_or([0; N])
}

/// Adds the JSON forms of an attributes object's values to `types`.
fn note_types(attributes: &str, types: &mut HashMap<String, u8>) {
    use serde_json::Value;
    let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(attributes) else {
        return;
    };
    for (key, value) in map {
        let bit = match &value {
            Value::String(_) => value_type::STRING,
            Value::Bool(_) => value_type::BOOLEAN,
            Value::Number(n) if n.is_f64() => value_type::DOUBLE,
            Value::Number(_) => value_type::INTEGER,
            _ => continue,
        };
        *types.entry(key).or_default() |= bit;
    }
}

/// One record as the `logs` table of an earlier console held it.
struct OldLog {
    id: i64,
    time_us: i64,
    trace_id: String,
    span_id: String,
    service: String,
    severity_number: i32,
    severity_text: String,
    body: String,
    attributes: String,
    resource_id: i64,
    trace_seq: i64,
}

/// Moves the records of an earlier console's `logs` table into log blocks and drops the table,
/// in one transaction; returns how many moved.
pub(crate) fn log_rows_into_blocks(conn: &Connection) -> rusqlite::Result<u64> {
    if !table_exists(conn, "logs")? {
        return Ok(0);
    }
    let moved = in_transaction(conn, move_old_logs)?;
    if moved > 0 {
        tracing::info!(
            records = moved,
            "console moved stored log records into blocks"
        );
    }
    Ok(moved)
}

fn move_old_logs(conn: &Connection) -> rusqlite::Result<u64> {
    let mut after = 0;
    let mut moved = 0;
    loop {
        let rows: Vec<OldLog> = conn
            .prepare_cached(
                "SELECT id, time_us, trace_id, span_id, service, severity_number, \
                 severity_text, body, attributes, resource_id, trace_seq FROM logs \
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after, logs::LOGS_PER_BLOCK as i64], |r| {
                Ok(OldLog {
                    id: r.get(0)?,
                    time_us: r.get(1)?,
                    trace_id: r.get(2)?,
                    span_id: r.get(3)?,
                    service: r.get(4)?,
                    severity_number: r.get(5)?,
                    severity_text: r.get(6)?,
                    body: r.get(7)?,
                    attributes: r.get(8)?,
                    resource_id: r.get(9)?,
                    trace_seq: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        let records: Vec<Option<BlockLog<'_>>> = rows
            .iter()
            .map(|r| {
                Some(BlockLog {
                    time_us: r.time_us,
                    trace_id: decode_id(&r.trace_id),
                    span_id: decode_id(&r.span_id),
                    service: &r.service,
                    severity_number: r.severity_number,
                    severity_text: &r.severity_text,
                    body: &r.body,
                    attributes: &r.attributes,
                    resource_id: r.resource_id,
                })
            })
            .collect();
        let seqs: Vec<i64> = rows.iter().map(|r| r.trace_seq).collect();
        let min = rows.iter().map(|r| r.time_us).min().unwrap_or(0);
        let max = rows.iter().map(|r| r.time_us).max().unwrap_or(0);
        logs::insert_block(conn, &records, min, max, &seqs)?;
        moved += rows.len() as u64;
    }
    conn.execute_batch("DROP TABLE logs")?;
    Ok(moved)
}

/// A stored hex id; `None` when empty (no trace context) or damaged.
fn decode_id<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out).filter(|id| id.iter().any(|b| *b != 0))
}
