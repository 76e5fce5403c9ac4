//! The inbox: a message is claimed once, in the transaction of its effect, and forgotten
//! only once it is older than any redelivery.

use chrono::Utc;
use tracemart_events::{Message, inbox};
use tracemart_platform::{AnyDatabase, DbError, PgDatabase};

use crate::helpers::{TestStore, on_each_engine};

fn message(id: &str) -> Message {
    serde_json::from_value(serde_json::json!({
        "id": id, "topic": "order.created", "payload": {}, "headers": {}, "created_at": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

/// Claims `m` in a transaction that commits when `commit` is true and rolls back otherwise
/// (its effect failed); whether the claim was new.
async fn claim(db: &AnyDatabase, m: &Message, commit: bool) -> bool {
    match db {
        AnyDatabase::Sqlite(db) => {
            let outcome = db.transaction("event_inbox", |tx| {
                let claimed = inbox::claim(db, tx, m)?;
                if commit {
                    Ok(claimed)
                } else {
                    Err(Ended::EffectFailed(claimed))
                }
            });
            match outcome {
                Ok(claimed) | Err(Ended::EffectFailed(claimed)) => claimed,
                Err(Ended::Db(e)) => panic!("{e}"),
            }
        }
        AnyDatabase::Postgres(db) => {
            let mut tx = db.begin("event_inbox").await.unwrap();
            let claimed = inbox::claim_pg(db, &mut tx, m).await.unwrap();
            if commit {
                PgDatabase::commit(tx, "event_inbox").await.unwrap();
            }
            claimed
        }
    }
}

/// Why a SQLite transaction rolled back: its effect failed (after a claim that was new or
/// not), or the database did.
enum Ended {
    EffectFailed(bool),
    Db(DbError),
}

impl From<DbError> for Ended {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

async fn seen(db: &AnyDatabase, id: &str) -> bool {
    match db {
        AnyDatabase::Sqlite(db) => inbox::seen(db, id).unwrap(),
        AnyDatabase::Postgres(db) => inbox::seen_pg(db, id).await.unwrap(),
    }
}

on_each_engine! {
    async fn a_message_is_claimed_once_and_only_by_a_transaction_that_commits(engine: Engine) {
        let store = TestStore::open(engine).await;
        let m = message("m-1");

        let rolled_back = claim(&store.db, &m, false).await;
        let first = claim(&store.db, &m, true).await;
        let again = claim(&store.db, &m, true).await;

        assert!(rolled_back, "claimed inside the transaction that failed");
        assert!(first, "the failed effect left no claim behind");
        assert!(!again, "a redelivery is a duplicate");
        assert!(seen(&store.db, "m-1").await);
        assert!(!seen(&store.db, "m-2").await);
    }
}

on_each_engine! {
    async fn purge_forgets_only_entries_older_than_its_bound(engine: Engine) {
        let store = TestStore::open(engine).await;
        for id in ["old", "new"] {
            assert!(claim(&store.db, &message(id), true).await);
        }
        store
            .exec("UPDATE event_inbox SET received_at = 0 WHERE message_id = 'old'")
            .await;

        let purged = inbox::purge(&store.db, Utc::now() - chrono::Duration::days(7))
            .await
            .unwrap();

        assert_eq!(purged, 1);
        assert!(!seen(&store.db, "old").await);
        assert!(seen(&store.db, "new").await);
    }
}
