//! The store's rules on each engine: a user's orders newest first, idempotency keys replayed
//! and leased, and saga steps on one order applied one after the other.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tracemart_contracts::{LineItem, Money, ProductId, Quantity};
use tracemart_events::Routes;
use tracemart_platform::DatabaseUrl;
use tracemart_testkit::on_each_engine;
use tracemart_testkit::pg::{Engine, TestDatabase};

use super::*;
use crate::stream::Created;

/// An order store (one instance of the service) on a new database of its own, and what keeps
/// that database alive.
struct Fixture {
    db: AnyDatabase,
    store: OrderStore,
    outbox: Outbox,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

async fn open(engine: Engine) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = match engine {
        Engine::Sqlite => (DatabaseUrl::Sqlite(dir.path().join("order.db")), None),
        Engine::Postgres => {
            let db = TestDatabase::create("order").await;
            (DatabaseUrl::Postgres(db.url().to_owned()), Some(db))
        }
    };
    let metrics = tracemart_telemetry::Metrics::new("order-service");
    let db = AnyDatabase::open(&url, crate::migrations(), 8, metrics.clone())
        .await
        .unwrap();
    Fixture {
        store: OrderStore::new(&db),
        outbox: Outbox::new(db.clone(), Routes::new(), metrics),
        db,
        _dir: dir,
        _pg: pg,
    }
}

impl Fixture {
    /// Another instance of the service on the same database.
    fn other_instance(&self) -> OrderStore {
        OrderStore::new(&self.db)
    }

    /// Places order `order_id` of `user_id`, created at `created_at`.
    async fn place(&self, order_id: &str, user_id: i64, created_at: &str) {
        let created = Created {
            order_id: order_id.to_owned(),
            user_id: UserId(user_id),
            items: vec![LineItem {
                product_id: ProductId(1),
                quantity: Quantity::new(2).unwrap(),
            }],
            total: Money::from_minor(1998),
            currency: "USD".into(),
            shipping_address: serde_json::from_value(
                serde_json::json!({"city": "Seoul", "country": "KR"}),
            )
            .unwrap(),
            reservation_id: format!("r-{order_id}"),
            reservation_expires_at: None,
            created_at: created_at.to_owned(),
        };
        fn span(_: &str) -> Span {
            Span::internal(tracemart_telemetry::span_site!("tracemart::test"), "t").start()
        }
        let write_span = span("o");
        let placement = Placement {
            created: &created,
            cause: "POST /orders test".into(),
            trace_id: None,
            write_span: &write_span,
            publish_span: &span,
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
            answer: None,
        };
        self.store.place(&self.outbox, &placement).await.unwrap();
    }
}

fn message(id: &str) -> Message {
    serde_json::from_value(serde_json::json!({
        "id": id, "topic": "payment.authorized", "payload": {}, "created_at": "t0"
    }))
    .unwrap()
}

/// A step that appends `events` and nothing else.
fn appending(events: Vec<OrderEvent>) -> impl FnOnce(&OrderRow) -> Step + Send {
    move |_| Step {
        events,
        ..Step::default()
    }
}

const AT: &str = "2026-12-04T10:00:00.000000Z";

on_each_engine! {
    async fn a_users_orders_are_newest_first_and_those_made_at_once_latest_written_first(engine: Engine) {
        let f = open(engine).await;
        f.place("o-b", 7, AT).await;
        f.place("o-a", 7, AT).await;
        f.place("o-old", 7, "2026-12-04T09:00:00.000000Z").await;
        f.place("o-new", 7, "2026-12-04T11:00:00.000000Z").await;
        f.place("o-other", 8, AT).await;

        let listed: Vec<String> = f
            .store
            .list_for_user(UserId(7), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.created.order_id)
            .collect();

        assert_eq!(listed, ["o-new", "o-a", "o-b", "o-old"]);
        assert_eq!(f.store.list_for_user(UserId(7), 2).await.unwrap().len(), 2);
    }
}

on_each_engine! {
    async fn a_completed_key_replays_its_answer_and_refuses_another_body(engine: Engine) {
        let f = open(engine).await;
        assert!(matches!(f.store.claim_key("k1", "body").await.unwrap(), Claim::New));
        assert!(matches!(f.store.claim_key("k1", "body").await.unwrap(), Claim::InFlight));
        assert!(matches!(f.store.claim_key("k1", "other").await.unwrap(), Claim::Mismatch));

        f.store.release_key("k1").await.unwrap();
        assert!(
            matches!(f.store.claim_key("k1", "body").await.unwrap(), Claim::New),
            "a failed request frees its key for the retry"
        );
    }
}

on_each_engine! {
    async fn a_key_pending_at_another_instance_is_a_lease_on_postgresql_only(engine: Engine) {
        let f = open(engine).await;
        let other = f.other_instance();
        assert!(matches!(f.store.claim_key("k1", "body").await.unwrap(), Claim::New));

        let second = other.claim_key("k1", "body").await.unwrap();

        match engine {
            // One process per SQLite file: another owner's claim was left by a process that
            // is gone, and waiting for it would only delay the client's retry.
            Engine::Sqlite => assert!(matches!(second, Claim::New)),
            // Another instance may be running the request right now.
            Engine::Postgres => assert!(matches!(second, Claim::InFlight)),
        }
        if engine == Engine::Postgres {
            // Only the instance holding the lease frees it.
            other.release_key("k1").await.unwrap();
            assert!(matches!(other.claim_key("k1", "body").await.unwrap(), Claim::InFlight));
            f.store.release_key("k1").await.unwrap();
            assert!(matches!(other.claim_key("k1", "body").await.unwrap(), Claim::New));
        }
    }
}

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn steps_on_one_order_at_once_are_applied_one_after_the_other(engine: Engine) {
        let f = Arc::new(open(engine).await);
        f.place("o1", 7, AT).await;
        const STEPS: usize = 8;

        let tasks: Vec<_> = (0..STEPS)
            .map(|i| {
                let f = f.clone();
                tokio::spawn(async move {
                    let event = OrderEvent::ReservationReleased {
                        reservation_id: "r-o1".into(),
                        reason: format!("step {i}"),
                    };
                    f.store
                        .record(&f.outbox, &message(&format!("m{i}")), "o1", None, appending(vec![event]))
                        .await
                })
            })
            .collect();
        for task in tasks {
            let recorded = task.await.unwrap().unwrap();
            assert!(matches!(recorded, Recorded::Settled { .. }));
        }

        let seqs: Vec<i64> = f.store.events("o1").await.unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=1 + STEPS as i64).collect::<Vec<_>>());
        let again = f
            .store
            .record(&f.outbox, &message("m0"), "o1", None, appending(vec![OrderEvent::OrderConfirmed {}]))
            .await
            .unwrap();
        assert!(matches!(again, Recorded::Duplicate), "a message is applied once");
        let none = f
            .store
            .record(&f.outbox, &message("m-none"), "o-unknown", None, appending(Vec::new()))
            .await
            .unwrap();
        assert!(matches!(none, Recorded::NoOrder));
    }
}

/// Several instances share one PostgreSQL database: a stale claim is a lease that has run out,
/// and of the instances retrying it at once, one takes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_instances_taking_over_a_stale_key_at_once_exactly_one_does_on_postgresql() {
    let f = open(Engine::Postgres).await;
    assert!(matches!(
        f.store.claim_key("k1", "body").await.unwrap(),
        Claim::New
    ));
    let AnyDatabase::Postgres(pg) = &f.db else {
        panic!("a PostgreSQL database")
    };
    sqlx::query("UPDATE idempotency_keys SET created_at = '2026-01-01T00:00:00+00:00'")
        .execute(pg.pool())
        .await
        .unwrap();

    let retries: Vec<_> = (0..8)
        .map(|_| {
            let instance = f.other_instance();
            tokio::spawn(async move { instance.claim_key("k1", "body").await })
        })
        .collect();
    let mut taken = 0;
    for retry in retries {
        match retry.await.unwrap().unwrap() {
            Claim::New => taken += 1,
            Claim::InFlight => {}
            _ => panic!("neither taken over nor in flight"),
        }
    }

    assert_eq!(taken, 1);
}
