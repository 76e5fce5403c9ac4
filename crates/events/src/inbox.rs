//! The inbox: the ids of the messages a service has handled, recorded in the transaction of
//! their effect, so that a message delivered again has no second effect.

use chrono::Utc;
use rusqlite::{OptionalExtension, Transaction, params};
use tracemart_platform::{Database, DbError};

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
