//! The inbox: the ids of the messages a service has handled, recorded in the transaction of
//! their effect, so that a message delivered again has no second effect. Entries are kept for
//! as long as a redelivery can come (`RelaySettings::inbox_retention`), then purged.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use sqlx::PgConnection;
use tracemart_platform::{AnyDatabase, Database, DbError, PgDatabase};

use crate::Message;
use crate::clock::micros;

/// Records `message` as handled, in the transaction of its effect; `false` if it was handled
/// before (a redelivery: do nothing, and acknowledge it).
pub fn claim(db: &Database, tx: &Transaction<'_>, message: &Message) -> Result<bool, DbError> {
    let inserted = db.timed("INSERT", "event_inbox", || {
        tx.prepare_cached(
            "INSERT INTO event_inbox (message_id, topic, received_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (message_id) DO NOTHING",
        )?
        .execute(params![message.id, message.topic, micros(Utc::now())])
    })?;
    Ok(inserted == 1)
}

/// [`claim`] in a PostgreSQL transaction. A concurrent delivery of the same message waits
/// on the unique key until the first one's transaction ends: then it finds the entry (and
/// does nothing) or takes the message itself (the first rolled back).
pub async fn claim_pg(
    db: &PgDatabase,
    tx: &mut PgConnection,
    message: &Message,
) -> Result<bool, DbError> {
    let inserted = db
        .timed(
            "INSERT",
            "event_inbox",
            sqlx::query(
                "INSERT INTO event_inbox (message_id, topic, received_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (message_id) DO NOTHING",
            )
            .bind(&message.id)
            .bind(&message.topic)
            .bind(micros(Utc::now()))
            .execute(&mut *tx),
        )
        .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Whether `message_id` was handled before: lets a handler skip work done outside its
/// transaction (a call to another service) when a message comes again.
pub fn seen(db: &Database, message_id: &str) -> Result<bool, DbError> {
    db.read("SELECT", "event_inbox", |conn| {
        conn.prepare_cached("SELECT 1 FROM event_inbox WHERE message_id = ?1")?
            .query_row([message_id], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
    })
}

/// [`seen`] on PostgreSQL.
pub async fn seen_pg(db: &PgDatabase, message_id: &str) -> Result<bool, DbError> {
    let found: Option<i32> = db
        .timed(
            "SELECT",
            "event_inbox",
            sqlx::query_scalar("SELECT 1 FROM event_inbox WHERE message_id = $1")
                .bind(message_id)
                .fetch_optional(db.pool()),
        )
        .await?;
    Ok(found.is_some())
}

/// Deletes entries recorded before `before` (a bounded number per call, so that a large
/// backlog does not hold the write lock for long).
pub async fn purge(db: &AnyDatabase, before: DateTime<Utc>) -> Result<usize, DbError> {
    match db {
        AnyDatabase::Sqlite(db) => db.write("DELETE", "event_inbox", |tx| {
            tx.prepare_cached(
                "DELETE FROM event_inbox WHERE message_id IN (SELECT message_id FROM event_inbox \
                 WHERE received_at < ?1 LIMIT 5000)",
            )?
            .execute([micros(before)])
        }),
        AnyDatabase::Postgres(db) => {
            let deleted = db
                .timed(
                    "DELETE",
                    "event_inbox",
                    sqlx::query(
                        "DELETE FROM event_inbox WHERE message_id IN (SELECT message_id \
                         FROM event_inbox WHERE received_at < $1 LIMIT 5000)",
                    )
                    .bind(micros(before))
                    .execute(db.pool()),
                )
                .await?;
            Ok(usize::try_from(deleted.rows_affected()).unwrap_or(usize::MAX))
        }
    }
}
