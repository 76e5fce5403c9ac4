//! The relay: every message delivered once, a key's messages in the order they were written,
//! also when the relays of two instances share one PostgreSQL outbox.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tokio::sync::oneshot;
use tracemart_events::{Outcome, Relay};
use tracemart_testkit::pg::Engine;

use crate::helpers::{
    DESTINATION, Delivered, Recorder, TestStore, on_each_engine, outbox_on, publish, settings,
};

/// `keys` keys with `per_key` messages each (numbered in write order), and `keyless` more.
fn messages(keys: usize, per_key: usize, keyless: usize) -> Vec<(Option<String>, i64)> {
    let mut all = Vec::new();
    for n in 0..per_key {
        for k in 0..keys {
            all.push((Some(format!("key-{k}")), (n * keys + k) as i64));
        }
    }
    let offset = all.len() as i64;
    all.extend((0..keyless as i64).map(|n| (None, offset + n)));
    all
}

/// Fails unless every message of `written` was delivered exactly once, and each key's in
/// write order.
fn assert_each_once_in_key_order(written: &[(Option<String>, i64)], delivered: &[Delivered]) {
    let ids: HashSet<&str> = delivered.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids.len(), delivered.len(), "a message was delivered twice");
    let mut numbers: Vec<i64> = delivered.iter().map(|d| d.n).collect();
    numbers.sort_unstable();
    let mut want: Vec<i64> = written.iter().map(|(_, n)| *n).collect();
    want.sort_unstable();
    assert_eq!(numbers, want, "every message, once");
    let mut by_key: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for d in delivered {
        if let Some(key) = &d.key {
            by_key.entry(key).or_default().push(d.n);
        }
    }
    for (key, sent) in by_key {
        assert!(sent.is_sorted(), "{key} out of order: {sent:?}");
    }
}

on_each_engine! {
    async fn each_message_is_delivered_once_and_a_keys_in_write_order(engine: Engine) {
        let store = TestStore::open(engine).await;
        let outbox = store.outbox();
        let written = messages(5, 6, 10);
        publish(&outbox, &written).await;
        let recorder = Recorder::new("relay", Outcome::Processed);
        let relay = Relay::new(outbox, settings()).transport(DESTINATION, recorder.clone());

        // One round sends the next message of each key: as many rounds as a key has messages.
        let mut rounds = 0;
        while store
            .count("SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL")
            .await
            > 0
        {
            relay.relay_once(chrono::Utc::now()).await.unwrap();
            rounds += 1;
            assert!(rounds <= 20, "the outbox does not drain");
        }

        assert_each_once_in_key_order(&written, &recorder.delivered());
    }
}

/// Two instances' relays, each with a connection pool of its own, drain one PostgreSQL
/// outbox at the same time: the rows each claims (`FOR UPDATE SKIP LOCKED`) are its own
/// until it settled them, so no row goes out twice, and a key's next message waits for the
/// one before it whichever relay holds that.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_on_one_postgresql_outbox_publish_each_row_exactly_once() {
    let store = TestStore::open(Engine::Postgres).await;
    let written = messages(20, 10, 200);
    publish(&store.outbox(), &written).await;
    let log = Recorder::new("", Outcome::Processed).log;
    let mut running = Vec::new();
    for name in ["relay-a", "relay-b"] {
        let db = TestStore::connect(store.pg.as_ref().unwrap()).await;
        let recorder = Recorder {
            relay: name,
            // A consumer's latency, so that each relay's rounds overlap the other's.
            latency: Duration::from_millis(3),
            // One log, in delivery order across both relays.
            log: log.clone(),
            ..Recorder::new(name, Outcome::Processed)
        };
        let relay = Relay::new(outbox_on(db), settings()).transport(DESTINATION, recorder.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(relay.run(async {
            let _ = stopped.await;
        }));
        running.push((stop, task));
    }

    tracemart_testkit::eventually(Duration::from_secs(30), "an empty outbox", || async {
        let left = store
            .count("SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL")
            .await;
        (left == 0).then_some(())
    })
    .await;
    for (stop, task) in running {
        let _ = stop.send(());
        task.await.unwrap();
    }

    let delivered: Vec<Delivered> = log.lock().unwrap().clone();
    assert_each_once_in_key_order(&written, &delivered);
    for name in ["relay-a", "relay-b"] {
        assert!(
            delivered.iter().any(|d| d.relay == name),
            "{name} delivered nothing: the relays did not run side by side"
        );
    }
}
