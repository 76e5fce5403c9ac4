//! The inbox: the ids of the messages a service has handled, recorded in the transaction of
//! their effect, so that a message delivered again has no second effect. Entries are kept for
//! as long as a redelivery can come (`RelaySettings::inbox_retention`), then purged.

use chrono::{DateTime, Utc};
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

/// Deletes entries recorded before `before` (a bounded number per call, so that a large
/// backlog does not hold the write lock for long).
pub fn purge(db: &Database, before: DateTime<Utc>) -> Result<usize, DbError> {
    db.write("DELETE", "event_inbox", |tx| {
        tx.prepare_cached(
            "DELETE FROM event_inbox WHERE message_id IN (SELECT message_id FROM event_inbox \
             WHERE received_at < ?1 LIMIT 5000)",
        )?
        .execute([micros(before)])
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(id: &str) -> Message {
        serde_json::from_value(serde_json::json!({
            "id": id, "topic": "order.created", "payload": {}, "headers": {}, "created_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    async fn database(dir: &tempfile::TempDir) -> Database {
        Database::open(
            &dir.path().join("inbox.db"),
            &[&crate::MIGRATOR],
            tracemart_telemetry::Metrics::new("test-service"),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn purge_forgets_only_entries_older_than_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(&dir).await;
        for id in ["old", "new"] {
            let claimed: Result<bool, DbError> =
                db.transaction("event_inbox", |tx| claim(&db, tx, &message(id)));
            assert!(claimed.unwrap());
        }
        let long_ago = micros(Utc::now() - chrono::Duration::days(8));
        db.write("UPDATE", "event_inbox", |tx| {
            tx.execute(
                "UPDATE event_inbox SET received_at = ?1 WHERE message_id = 'old'",
                [long_ago],
            )
        })
        .unwrap();

        let purged = purge(&db, Utc::now() - chrono::Duration::days(7)).unwrap();

        assert_eq!(purged, 1);
        assert!(!seen(&db, "old").unwrap());
        assert!(seen(&db, "new").unwrap());
    }
}
