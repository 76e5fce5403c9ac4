//! The relay and a consumer talking through a real RabbitMQ broker (a virtual host per test):
//! a message arrives with its trace context and is applied once, even when published twice,
//! when its consumer dies before acknowledging it, or when the broker drops every connection
//! mid-run; what the consumer rejects or keeps failing on ends in its dead-letter queue, where
//! it is listed, discarded or replayed.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tracemart_events::amqp::{BrokerDeadLetters, dead_letter_queue, queue};
use tracemart_events::{
    AmqpTransport, Broker, BrokerConsumer, ConsumeError, Consumer, Handled, Inbound, Message,
    Outcome, Relay, RelaySettings, Selection, Subscription, Transport, inbox,
};
use tracemart_platform::faults::Faults;
use tracemart_platform::{AnyDatabase, Database, DbError};
use tracemart_telemetry::Metrics;
use tracemart_testkit::amqp::TestBroker;
use tracemart_testkit::eventually;
use tracemart_testkit::pg::Engine;

use crate::helpers::{DESTINATION, TOPIC, TestStore, publish, settings};

const PRODUCER: &str = "producer-service";
const WAIT: Duration = Duration::from_secs(30);
/// A payload the consumer fails on every time (a transient failure that never clears).
const ALWAYS_FAILS: i64 = 1000;

fn subscription() -> Subscription {
    Subscription {
        producer: PRODUCER,
        topic: TOPIC,
    }
}

/// A consumer with a database of its own: applies each message (a row in `applied`) in one
/// transaction with its inbox claim; rejects negative numbers; fails on [`ALWAYS_FAILS`].
struct Applier {
    db: Database,
    seen: Mutex<Vec<Message>>,
    /// Set: the next message is applied and then the consumer hangs, never answering.
    hang_after_commit: AtomicBool,
    _store: TestStore,
}

impl Applier {
    async fn open() -> Arc<Self> {
        let store = TestStore::open(Engine::Sqlite).await;
        store
            .exec("CREATE TABLE applied (message_id TEXT NOT NULL, n INTEGER NOT NULL)")
            .await;
        let AnyDatabase::Sqlite(db) = store.db.clone() else {
            unreachable!("opened on SQLite")
        };
        Arc::new(Self {
            db,
            seen: Mutex::default(),
            hang_after_commit: AtomicBool::new(false),
            _store: store,
        })
    }

    fn seen(&self) -> Vec<Message> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until it has been handed `n` deliveries; returns them.
    async fn deliveries(&self, n: usize) -> Vec<Message> {
        eventually(WAIT, &format!("{n} deliveries"), || async {
            let seen = self.seen();
            (seen.len() == n).then_some(seen)
        })
        .await
    }

    /// Rows applied, and distinct messages among them.
    fn applied(&self) -> (i64, i64) {
        self.db
            .read("SELECT", "applied", |conn| {
                conn.query_row(
                    "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM applied",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
            })
            .unwrap()
    }
}

#[async_trait]
impl Consumer for Applier {
    async fn handle(&self, message: &Message) -> Result<Handled, ConsumeError> {
        self.seen.lock().unwrap().push(message.clone());
        let payload: serde_json::Value = message
            .payload()
            .map_err(|e| ConsumeError::unreadable(&message.topic, &e))?;
        let n = payload["n"].as_i64().unwrap_or_default();
        if n < 0 {
            return Err(ConsumeError::Reject(format!("{n} is negative")));
        }
        if n == ALWAYS_FAILS {
            return Err(ConsumeError::Retry("not today".to_owned()));
        }
        let applied = self.db.transaction("applied", |tx| {
            if !inbox::claim(&self.db, tx, message)? {
                return Ok::<_, DbError>(false);
            }
            self.db.timed("INSERT", "applied", || {
                tx.execute(
                    "INSERT INTO applied (message_id, n) VALUES (?1, ?2)",
                    rusqlite::params![message.id, n],
                )
            })?;
            Ok(true)
        })?;
        if self.hang_after_commit.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(if applied {
            Handled::Processed
        } else {
            Handled::Duplicate
        })
    }
}

/// A running worker and the sender that stops it.
struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Running {
    fn spawn<F, Fut>(work: F) -> Self
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped: Stop = Box::pin(async move {
            let _ = stopped.await;
        });
        Self {
            stop,
            task: tokio::spawn(work(stopped)),
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the worker stops")
            .unwrap();
    }
}

fn consumer(broker: &Broker, applier: &Arc<Applier>) -> Running {
    let consuming = BrokerConsumer::new(
        broker,
        DESTINATION,
        &[subscription()],
        Inbound::new(
            applier.clone(),
            Metrics::new(DESTINATION),
            Faults::default(),
        ),
    );
    Running::spawn(|stop| consuming.run(stop))
}

fn message(n: i64, key: Option<&str>, headers: BTreeMap<String, String>) -> Message {
    Message {
        id: uuid::Uuid::now_v7().to_string(),
        topic: TOPIC.to_owned(),
        key: key.map(str::to_owned),
        payload: RawValue::from_string(format!(r#"{{"n":{n}}}"#)).unwrap(),
        headers,
        created_at: "2026-12-04T10:00:00.000000Z".to_owned(),
        attempt: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_twice_arrives_with_its_trace_context_and_is_applied_once() {
    let test_broker = TestBroker::create("events").await;
    let broker = Broker::new(test_broker.url(), &settings());
    let applier = Applier::open().await;
    let headers: BTreeMap<String, String> = [
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("tracestate", "vendor=opaque"),
        ("baggage", "order.correlation_id=req-42"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sent = message(7, Some("order-7"), headers.clone());
    let transport = AmqpTransport::new(&broker, PRODUCER, DESTINATION);

    // Published before any consumer runs: the publisher declares the consumer's queue.
    let receipts = transport.deliver(&[&sent]).await.unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(
        (receipts[0].id.as_str(), receipts[0].outcome),
        (sent.id.as_str(), Outcome::Processed)
    );
    // A relay that lost the confirm publishes it again.
    transport.deliver(&[&sent]).await.unwrap();
    let consuming = consumer(&broker, &applier);

    let seen = applier.deliveries(2).await;
    let got = &seen[0];
    assert_eq!(got.id, sent.id);
    assert_eq!(got.topic, TOPIC);
    assert_eq!(got.key.as_deref(), Some("order-7"));
    assert_eq!(got.payload.get(), r#"{"n":7}"#);
    assert_eq!(got.created_at, sent.created_at);
    assert_eq!(
        got.headers, headers,
        "traceparent, tracestate and baggage as sent"
    );
    assert_eq!(got.attempt, 1);
    test_broker
        .until_messages(&queue(DESTINATION, TOPIC), 0)
        .await;
    assert_eq!(applier.applied(), (1, 1), "applied once");
    consuming.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_before_acknowledging_gets_the_message_again_and_applies_it_once() {
    let test_broker = TestBroker::create("events").await;
    let broker = Broker::new(test_broker.url(), &settings());
    let applier = Applier::open().await;
    let sent = message(1, None, BTreeMap::new());
    AmqpTransport::new(&broker, PRODUCER, DESTINATION)
        .deliver(&[&sent])
        .await
        .unwrap();
    applier.hang_after_commit.store(true, Ordering::SeqCst);
    let first = consumer(&broker, &applier);
    eventually(WAIT, "the message applied", || async {
        (applier.applied() == (1, 1)).then_some(())
    })
    .await;

    // Killed after its transaction committed, before its ack.
    first.task.abort();
    let second = consumer(&broker, &applier);

    let seen = applier.deliveries(2).await;
    assert_eq!(seen[1].id, sent.id);
    assert_eq!(seen[1].attempt, 2, "the broker counts the first delivery");
    test_broker
        .until_messages(&queue(DESTINATION, TOPIC), 0)
        .await;
    assert_eq!(applier.applied(), (1, 1), "applied once");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_closing_every_connection_mid_run_loses_nothing_and_applies_nothing_twice() {
    let test_broker = TestBroker::create("events").await;
    let store = TestStore::open(Engine::Sqlite).await;
    let outbox = store.outbox();
    let broker = Broker::new(test_broker.url(), &settings());
    let applier = Applier::open().await;
    let relay = Relay::new(outbox.clone(), settings()).transport(
        DESTINATION,
        AmqpTransport::new(&broker, PRODUCER, DESTINATION),
    );
    let relaying = Running::spawn(|stop| relay.run(stop));
    let consuming = consumer(&broker, &applier);
    let (during, after) = (60, 10);
    let total = during + after;
    let keys = ["a", "b", "c"];
    let producing = {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            for n in 0..during {
                let key = keys[usize::try_from(n).unwrap() % keys.len()].to_owned();
                publish(&outbox, &[(Some(key), n)]).await;
                outbox.wake();
                // Spread over the run, so that the fault lands among them.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    };
    eventually(WAIT, "the first messages applied", || async {
        (applier.applied().0 >= 5).then_some(())
    })
    .await;
    let before = test_broker.connections().await;
    assert_eq!(
        before.len(),
        2,
        "the relay's and the consumer's: {before:?}"
    );

    test_broker.close_all_connections().await;
    producing.await.unwrap();
    let later: Vec<(Option<String>, i64)> = (during..total).map(|n| (None, n)).collect();
    publish(&outbox, &later).await;
    outbox.wake();

    eventually(WAIT, "every message applied", || async {
        (applier.applied().1 == total).then_some(())
    })
    .await;
    let after = eventually(
        WAIT,
        "the relay and the consumer connected again",
        || async {
            let after = test_broker.connections().await;
            (after.len() == 2).then_some(after)
        },
    )
    .await;
    assert!(
        after.iter().all(|c| !before.contains(c)),
        "new connections: {before:?} then {after:?}"
    );
    eventually(WAIT, "every outbox row published", || async {
        let pending = store
            .count("SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL")
            .await;
        (pending == 0).then_some(())
    })
    .await;
    test_broker
        .until_messages(&queue(DESTINATION, TOPIC), 0)
        .await;
    assert_eq!(applier.applied(), (total, total), "each applied once");
    let ids: HashSet<String> = applier.seen().into_iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), usize::try_from(total).unwrap());
    consuming.stop().await;
    relaying.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_and_ever_failing_messages_end_in_the_dead_letter_queue_to_be_listed_discarded_or_replayed()
 {
    let test_broker = TestBroker::create("events").await;
    let limited = RelaySettings {
        max_failures: 2,
        ..settings()
    };
    let broker = Broker::new(test_broker.url(), &limited);
    let applier = Applier::open().await;
    let rejected = message(-1, None, BTreeMap::new());
    let failing = message(ALWAYS_FAILS, None, BTreeMap::new());
    let fine = message(1, None, BTreeMap::new());
    AmqpTransport::new(&broker, PRODUCER, DESTINATION)
        .deliver(&[&rejected, &failing, &fine])
        .await
        .unwrap();
    let consuming = consumer(&broker, &applier);

    let dead = dead_letter_queue(DESTINATION);
    test_broker.until_messages(&dead, 2).await;
    test_broker
        .until_messages(&queue(DESTINATION, TOPIC), 0)
        .await;
    assert_eq!(applier.applied(), (1, 1), "the fine one applied");
    let attempts = |id: &str| -> Vec<u32> {
        applier
            .seen()
            .iter()
            .filter(|m| m.id == id)
            .map(|m| m.attempt)
            .collect()
    };
    assert_eq!(attempts(&rejected.id), [1], "rejected at once");
    assert_eq!(
        attempts(&failing.id),
        [1, 2, 3],
        "delivered until the queue's delivery limit"
    );

    // The dlq commands' side: listed with why, discarded, replayed to the queue.
    let letters = BrokerDeadLetters::new(&broker, DESTINATION);
    let mut listed: Vec<(String, String)> = letters
        .list(10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.last_error))
        .collect();
    listed.sort();
    let mut want = vec![
        (rejected.id.clone(), "rejected".to_owned()),
        (failing.id.clone(), "delivery_limit".to_owned()),
    ];
    want.sort();
    assert_eq!(listed, want);
    test_broker.until_messages(&dead, 2).await;
    assert_eq!(
        letters.discard(Selection::Id(&failing.id)).await.unwrap(),
        1
    );
    assert_eq!(
        letters.replay(Selection::Id(&rejected.id)).await.unwrap(),
        1
    );
    applier.deliveries(6).await;
    assert_eq!(
        attempts(&rejected.id),
        [1, 1],
        "delivered again, and rejected again"
    );
    assert_eq!(attempts(&failing.id), [1, 2, 3], "gone");
    test_broker.until_messages(&dead, 1).await;
    consuming.stop().await;
}
