//! The dead-letter table: messages whose delivery failed at their consumer too often, kept
//! with their last error to be listed, inspected, replayed (delivered once more) or
//! discarded. Works on the database directly (a SQLite file or a PostgreSQL database), so
//! the CLI needs no running service.

use std::collections::BTreeMap;

use chrono::Utc;
use rusqlite::{Row, params};
use serde::Serialize;
use serde_json::value::RawValue;
use tracemart_platform::{AnyDatabase, DbError, PgDatabase};

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
    /// The `?1` of `(?1 IS NULL OR id = ?1)` (`$1` on PostgreSQL).
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
    db: AnyDatabase,
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

/// A dead letter as PostgreSQL returns it ([`COLUMNS`] in order).
type PgRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
    String,
    i64,
    String,
    String,
);

fn from_pg(r: PgRow) -> DeadLetter {
    let (id, destination, topic, key, attempts, last_error, created_at, dead_at, payload, headers) =
        r;
    DeadLetter {
        id,
        destination,
        topic,
        key,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error,
        created_at,
        dead_at: from_micros(dead_at),
        payload: RawValue::from_string(payload.clone())
            .or_else(|_| serde_json::value::to_raw_value(&payload))
            .unwrap_or_default(),
        headers: serde_json::from_str(&headers).unwrap_or_default(),
    }
}

impl DeadLetters {
    pub fn new(db: AnyDatabase) -> Self {
        Self { db }
    }

    /// The newest `limit` dead letters, newest first.
    pub async fn list(&self, limit: usize) -> Result<Vec<DeadLetter>, DbError> {
        match &self.db {
            AnyDatabase::Sqlite(db) => db.read("SELECT", "event_dead_letters", |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM event_dead_letters ORDER BY dead_at DESC, id LIMIT ?1"
                ))?
                .query_map([limit as i64], to_dead_letter)?
                .collect()
            }),
            AnyDatabase::Postgres(db) => {
                let rows: Vec<PgRow> = db
                    .timed(
                        "SELECT",
                        "event_dead_letters",
                        sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {COLUMNS} FROM event_dead_letters ORDER BY dead_at DESC, id LIMIT $1"
                        )))
                        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                        .fetch_all(db.pool()),
                    )
                    .await?;
                Ok(rows.into_iter().map(from_pg).collect())
            }
        }
    }

    /// The dead letters of message `id` (one per destination it failed at).
    pub async fn find(&self, id: &str) -> Result<Vec<DeadLetter>, DbError> {
        match &self.db {
            AnyDatabase::Sqlite(db) => db.read("SELECT", "event_dead_letters", |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM event_dead_letters WHERE id = ?1 ORDER BY destination"
                ))?
                .query_map([id], to_dead_letter)?
                .collect()
            }),
            AnyDatabase::Postgres(db) => {
                let rows: Vec<PgRow> = db
                    .timed(
                        "SELECT",
                        "event_dead_letters",
                        sqlx::query_as(sqlx::AssertSqlSafe(format!(
                            "SELECT {COLUMNS} FROM event_dead_letters WHERE id = $1 ORDER BY destination"
                        )))
                        .bind(id)
                        .fetch_all(db.pool()),
                    )
                    .await?;
                Ok(rows.into_iter().map(from_pg).collect())
            }
        }
    }

    /// Puts the selected dead letters back in the outbox, due now, with a fresh count of
    /// failures; returns how many. The relay delivers each once more (a consumer that
    /// handled it before acknowledges it without a second effect).
    pub async fn replay(&self, which: Selection<'_>) -> Result<usize, DbError> {
        let now = micros(Utc::now());
        match &self.db {
            AnyDatabase::Sqlite(db) => db.write("REPLAY", "event_dead_letters", |tx| {
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
            }),
            AnyDatabase::Postgres(db) => replay_pg(db, which, now).await,
        }
    }

    /// Deletes the selected dead letters; returns how many.
    pub async fn discard(&self, which: Selection<'_>) -> Result<usize, DbError> {
        match &self.db {
            AnyDatabase::Sqlite(db) => db.write("DELETE", "event_dead_letters", |tx| {
                tx.prepare_cached("DELETE FROM event_dead_letters WHERE (?1 IS NULL OR id = ?1)")?
                    .execute(params![which.id()])
            }),
            AnyDatabase::Postgres(db) => {
                let deleted = db
                    .timed(
                        "DELETE",
                        "event_dead_letters",
                        sqlx::query(
                            "DELETE FROM event_dead_letters WHERE ($1::TEXT IS NULL OR id = $1)",
                        )
                        .bind(which.id())
                        .execute(db.pool()),
                    )
                    .await?;
                Ok(usize::try_from(deleted.rows_affected()).unwrap_or(usize::MAX))
            }
        }
    }
}

/// The replay on PostgreSQL: one transaction, so that a letter is in exactly one table.
async fn replay_pg(db: &PgDatabase, which: Selection<'_>, now: i64) -> Result<usize, DbError> {
    let mut tx = db.begin("event_dead_letters").await?;
    let moved = db
        .timed(
            "INSERT",
            "event_outbox",
            sqlx::query(
                "INSERT INTO event_outbox (id, destination, topic, message_key, payload, headers, created_at, due_at, next_attempt_at) \
                 SELECT id, destination, topic, message_key, payload, headers, created_at, $2, $2 \
                 FROM event_dead_letters WHERE ($1::TEXT IS NULL OR id = $1) ORDER BY dead_at \
                 ON CONFLICT (id, destination) DO UPDATE SET published_at = NULL, attempts = 0, \
                 failures = 0, last_error = NULL, due_at = excluded.due_at, next_attempt_at = excluded.next_attempt_at",
            )
            .bind(which.id())
            .bind(now)
            .execute(&mut *tx),
        )
        .await?;
    db.timed(
        "DELETE",
        "event_dead_letters",
        sqlx::query("DELETE FROM event_dead_letters WHERE ($1::TEXT IS NULL OR id = $1)")
            .bind(which.id())
            .execute(&mut *tx),
    )
    .await?;
    PgDatabase::commit(tx, "event_dead_letters").await?;
    Ok(usize::try_from(moved.rows_affected()).unwrap_or(usize::MAX))
}
