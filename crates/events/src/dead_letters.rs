//! The dead-letter table: messages whose delivery failed at their consumer too often, kept
//! with their last error to be listed, inspected, replayed (delivered once more) or
//! discarded. Works on the database file directly, so the CLI needs no running service.

use std::collections::BTreeMap;

use chrono::Utc;
use rusqlite::{Row, params};
use serde::Serialize;
use serde_json::value::RawValue;
use tracemart_platform::{Database, DbError};

use crate::clock::{from_micros, micros};

/// A message in the dead-letter table.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub id: String,
    pub destination: String,
    pub topic: String,
    pub key: Option<String>,
    /// Delivery attempts made before it was given up on.
    pub attempts: u32,
    pub last_error: String,
    pub created_at: String,
    pub dead_at: String,
    pub payload: Box<RawValue>,
    pub headers: BTreeMap<String, String>,
}

/// Which dead letters a replay or discard acts on.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'a> {
    /// The message with this id (for every destination it failed at).
    Id(&'a str),
    All,
}

impl Selection<'_> {
    /// The `?1` of `(?1 IS NULL OR id = ?1)`.
    fn id(&self) -> Option<&str> {
        match self {
            Self::Id(id) => Some(id),
            Self::All => None,
        }
    }
}

/// A service's dead letters.
#[derive(Clone)]
pub struct DeadLetters {
    db: Database,
}

const COLUMNS: &str = "id, destination, topic, message_key, attempts, last_error, created_at, dead_at, payload, headers";

fn to_dead_letter(r: &Row<'_>) -> rusqlite::Result<DeadLetter> {
    let payload: String = r.get(8)?;
    let headers: String = r.get(9)?;
    Ok(DeadLetter {
        id: r.get(0)?,
        destination: r.get(1)?,
        topic: r.get(2)?,
        key: r.get(3)?,
        attempts: r.get(4)?,
        last_error: r.get(5)?,
        created_at: r.get(6)?,
        dead_at: from_micros(r.get(7)?),
        payload: RawValue::from_string(payload.clone())
            .or_else(|_| serde_json::value::to_raw_value(&payload))
            .unwrap_or_default(),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
    })
}

impl DeadLetters {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// The newest `limit` dead letters, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, DbError> {
        self.db.read("SELECT", "event_dead_letters", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM event_dead_letters ORDER BY dead_at DESC, id LIMIT ?1"
            ))?
            .query_map([limit as i64], to_dead_letter)?
            .collect()
        })
    }

    /// The dead letters of message `id` (one per destination it failed at).
    pub fn find(&self, id: &str) -> Result<Vec<DeadLetter>, DbError> {
        self.db.read("SELECT", "event_dead_letters", |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM event_dead_letters WHERE id = ?1 ORDER BY destination"
            ))?
            .query_map([id], to_dead_letter)?
            .collect()
        })
    }

    /// Puts the selected dead letters back in the outbox, due now, with a fresh count of
    /// failures; returns how many. The relay delivers each once more (a consumer that
    /// handled it before acknowledges it without a second effect).
    pub fn replay(&self, which: Selection<'_>) -> Result<usize, DbError> {
        let now = micros(Utc::now());
        self.db.write("REPLAY", "event_dead_letters", |tx| {
            let moved = tx
                .prepare_cached(
                    "INSERT INTO event_outbox (id, destination, topic, message_key, payload, headers, created_at, due_at, next_attempt_at) \
                     SELECT id, destination, topic, message_key, payload, headers, created_at, ?2, ?2 \
                     FROM event_dead_letters WHERE (?1 IS NULL OR id = ?1) ORDER BY dead_at \
                     ON CONFLICT (id, destination) DO UPDATE SET published_at = NULL, attempts = 0, \
                     failures = 0, last_error = NULL, due_at = excluded.due_at, next_attempt_at = excluded.next_attempt_at",
                )?
                .execute(params![which.id(), now])?;
            tx.prepare_cached("DELETE FROM event_dead_letters WHERE (?1 IS NULL OR id = ?1)")?
                .execute(params![which.id()])?;
            Ok(moved)
        })
    }

    /// Deletes the selected dead letters; returns how many.
    pub fn discard(&self, which: Selection<'_>) -> Result<usize, DbError> {
        self.db.write("DELETE", "event_dead_letters", |tx| {
            tx.prepare_cached("DELETE FROM event_dead_letters WHERE (?1 IS NULL OR id = ?1)")?
                .execute(params![which.id()])
        })
    }
}
