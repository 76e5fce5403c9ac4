//! Scheduled messages: published when due (not before), and cancelled by unscheduling them
//! first.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracemart_events::{Outbox, Outcome, Relay};
use tracemart_platform::AnyDatabase;

use crate::helpers::{DESTINATION, Recorder, TOPIC, TestStore, on_each_engine, settings};

/// Schedules message `id` (payload `{"n": n}`) for `at`, in a transaction of its own.
async fn schedule(outbox: &Outbox, id: &str, n: i64, at: DateTime<Utc>) {
    let payload = json!({ "n": n });
    match outbox.database().clone() {
        AnyDatabase::Sqlite(db) => db
            .transaction("event_schedule", |tx| {
                outbox.schedule(tx, id, TOPIC, Some("key-1"), &payload, at)
            })
            .unwrap(),
        AnyDatabase::Postgres(db) => {
            let mut tx = db.begin("event_schedule").await.unwrap();
            outbox
                .schedule_pg(&mut tx, id, TOPIC, Some("key-1"), &payload, at)
                .await
                .unwrap();
            outbox.commit(tx, "event_schedule").await.unwrap();
        }
    }
}

/// Cancels message `id`; whether it was still scheduled.
async fn unschedule(outbox: &Outbox, id: &str) -> bool {
    match outbox.database().clone() {
        AnyDatabase::Sqlite(db) => db
            .transaction("event_schedule", |tx| outbox.unschedule(tx, id))
            .unwrap(),
        AnyDatabase::Postgres(db) => {
            let mut tx = db.begin("event_schedule").await.unwrap();
            let found = outbox.unschedule_pg(&mut tx, id).await.unwrap();
            outbox.commit(tx, "event_schedule").await.unwrap();
            found
        }
    }
}

on_each_engine! {
    async fn a_scheduled_message_goes_out_when_due_unless_it_was_unscheduled(engine: Engine) {
        let store = TestStore::open(engine).await;
        let outbox = store.outbox();
        let now = Utc::now();
        schedule(&outbox, "due", 1, now - Duration::seconds(1)).await;
        schedule(&outbox, "cancelled", 2, now - Duration::seconds(1)).await;
        schedule(&outbox, "later", 3, now + Duration::hours(1)).await;
        let recorder = Recorder::new("relay", Outcome::Processed);
        let relay = Relay::new(outbox.clone(), settings()).transport(DESTINATION, recorder.clone());

        assert!(unschedule(&outbox, "cancelled").await);
        assert!(!unschedule(&outbox, "cancelled").await, "once");
        let round = relay.relay_once(now).await.unwrap();

        assert_eq!((round.promoted, round.delivered), (1, 1), "{round:?}");
        let delivered = recorder.delivered();
        assert_eq!(delivered.len(), 1);
        assert_eq!((delivered[0].id.as_str(), delivered[0].n), ("due", 1));
        assert_eq!(store.count("SELECT COUNT(*) FROM event_schedule").await, 1, "the later one waits");
        let round = relay.relay_once(now + Duration::hours(2)).await.unwrap();
        assert_eq!((round.promoted, round.delivered), (1, 1), "{round:?}");
        assert_eq!(recorder.delivered()[1].id, "later");
    }
}
