//! The store's rules on each engine: all or nothing, replays held once, commit and release
//! idempotent and exclusive, expiry, and no overselling when reservations race.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use tracemart_platform::DatabaseUrl;
use tracemart_testkit::on_each_engine;
use tracemart_testkit::pg::{Engine, TestDatabase};

use super::*;

/// A store on a new database of its own, and what keeps that database alive.
struct Fixture {
    store: InventoryStore,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

/// Products 1 to 3 with `stock` units each, on `engine`.
async fn store(engine: Engine, stock: i64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = match engine {
        Engine::Sqlite => (DatabaseUrl::Sqlite(dir.path().join("inventory.db")), None),
        Engine::Postgres => {
            let db = TestDatabase::create("inventory").await;
            (DatabaseUrl::Postgres(db.url().to_owned()), Some(db))
        }
    };
    let db = AnyDatabase::open(
        &url,
        crate::MIGRATIONS,
        8,
        tracemart_telemetry::Metrics::new("inventory-service"),
    )
    .await
    .unwrap();
    let store = InventoryStore::new(&db);
    store.seed_demo(3, stock).await.unwrap();
    Fixture {
        store,
        _dir: dir,
        _pg: pg,
    }
}

fn items(lines: &[(i64, i64)]) -> Vec<LineItem> {
    lines
        .iter()
        .map(|&(product_id, quantity)| line_item(product_id, quantity).unwrap())
        .collect()
}

/// Units of `product_id` available and held.
async fn held(store: &InventoryStore, product_id: i64) -> (i64, i64) {
    let s = store.stock(ProductId(product_id)).await.unwrap().unwrap();
    (s.available, s.reserved)
}

fn in_minutes(minutes: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(minutes)
}

on_each_engine! {
    async fn a_reservation_short_on_one_product_holds_nothing_and_its_id_stays_free(engine: Engine) {
        let f = store(engine, 10).await;

        let short = f.store.reserve("r1", &items(&[(1, 4), (2, 11)]), in_minutes(5)).await;

        assert!(
            matches!(short, Err(InventoryError::InsufficientStock(ProductId(2)))),
            "{short:?}"
        );
        assert_eq!(held(&f.store, 1).await, (10, 0));
        let retry = f.store.reserve("r1", &items(&[(1, 4)]), in_minutes(5)).await.unwrap();
        assert_eq!(retry.status, "held");
        assert_eq!(held(&f.store, 1).await, (6, 4));
        let unknown = f.store.reserve("r2", &items(&[(99, 1)]), in_minutes(5)).await;
        assert!(
            matches!(unknown, Err(InventoryError::InsufficientStock(ProductId(99)))),
            "an unknown product has no stock: {unknown:?}"
        );
    }
}

on_each_engine! {
    async fn a_replay_returns_the_stored_reservation_and_holds_once(engine: Engine) {
        let f = store(engine, 10).await;
        let first = f
            .store
            .reserve("r1", &items(&[(3, 1), (1, 2)]), in_minutes(5))
            .await
            .unwrap();

        let replay = f.store.reserve("r1", &items(&[(1, 9)]), in_minutes(7)).await.unwrap();

        assert_eq!(replay.items, items(&[(1, 2), (3, 1)]), "as stored, in product order");
        assert_eq!(replay.expires_at, first.expires_at);
        assert_eq!(replay.status, "held");
        assert_eq!(held(&f.store, 1).await, (8, 2));
        assert_eq!(held(&f.store, 3).await, (9, 1));
    }
}

on_each_engine! {
    async fn commit_and_release_are_idempotent_and_exclusive(engine: Engine) {
        let f = store(engine, 10).await;
        f.store.reserve("sold", &items(&[(1, 2)]), in_minutes(5)).await.unwrap();
        f.store.reserve("back", &items(&[(2, 3)]), in_minutes(5)).await.unwrap();

        f.store.commit("sold").await.unwrap();
        f.store.commit("sold").await.unwrap();
        f.store.release("back").await.unwrap();
        f.store.release("back").await.unwrap();

        assert_eq!(held(&f.store, 1).await, (8, 0));
        assert_eq!(held(&f.store, 2).await, (10, 0));
        let release_sold = f.store.release("sold").await;
        assert!(
            matches!(&release_sold, Err(InventoryError::Conflict { status, .. }) if status == "committed"),
            "{release_sold:?}"
        );
        let commit_back = f.store.commit("back").await;
        assert!(
            matches!(&commit_back, Err(InventoryError::Conflict { status, .. }) if status == "released"),
            "{commit_back:?}"
        );
        assert!(matches!(
            f.store.commit("nobody").await,
            Err(InventoryError::ReservationNotFound(_))
        ));
    }
}

on_each_engine! {
    async fn a_release_before_the_reservation_refuses_it(engine: Engine) {
        let f = store(engine, 10).await;

        f.store.release("late").await.unwrap();
        let late = f.store.reserve("late", &items(&[(1, 1)]), Utc::now()).await;

        assert!(matches!(late, Err(InventoryError::AlreadyReleased(_))), "{late:?}");
        assert_eq!(held(&f.store, 1).await, (10, 0));
    }
}

on_each_engine! {
    async fn the_sweeper_releases_only_expired_held_reservations_in_batches(engine: Engine) {
        let f = store(engine, 1000).await;
        let now = Utc::now();
        let past = now - chrono::Duration::minutes(1);
        for i in 0..(SWEEP_BATCH + 5) {
            f.store
                .reserve(&format!("old-{i}"), &items(&[(1, 1)]), past)
                .await
                .unwrap_or_else(|e| panic!("stock for old-{i}: {e}"));
        }
        f.store.reserve("fresh", &items(&[(2, 1)]), in_minutes(5)).await.unwrap();
        f.store.reserve("sold", &items(&[(3, 1)]), past).await.unwrap();
        f.store.commit("sold").await.unwrap();

        let released = f.store.release_expired_once(now).await.unwrap();

        assert_eq!(released, SWEEP_BATCH + 5);
        assert_eq!(held(&f.store, 1).await, (1000, 0));
        assert_eq!(held(&f.store, 2).await, (999, 1));
        assert_eq!(held(&f.store, 3).await, (999, 0));
        assert_eq!(f.store.release_expired_once(now).await.unwrap(), 0);
        assert!(matches!(
            f.store.commit("old-0").await,
            Err(InventoryError::Conflict { .. })
        ));
    }
}

on_each_engine! {
    /// Forty reservations race for the last five units of two products, half naming them in
    /// one order and half in the other: exactly five hold, the rest are refused as short (not
    /// failed as busy), and racing releases and sweeps give each one's stock back once.
    async fn racing_reservations_never_oversell_and_racing_releases_give_back_once(engine: Engine) {
        let f = Arc::new(store(engine, 5).await);
        let expired = Utc::now() - chrono::Duration::seconds(1);
        let races = (0..40).map(|i| {
            let f = Arc::clone(&f);
            let lines = if i % 2 == 0 { [(1, 1), (2, 1)] } else { [(2, 1), (1, 1)] };
            tokio::spawn(async move {
                f.store.reserve(&format!("race-{i}"), &items(&lines), expired).await
            })
        });
        let mut held_ids = Vec::new();
        for (i, race) in races.collect::<Vec<_>>().into_iter().enumerate() {
            match race.await.unwrap() {
                Ok(r) => held_ids.push(r.reservation_id),
                Err(InventoryError::InsufficientStock(_)) => {}
                Err(e) => panic!("race-{i} failed: {e}"),
            }
        }
        assert_eq!(held_ids.len(), 5, "exactly the stock is held: {held_ids:?}");
        assert_eq!(held(&f.store, 1).await, (0, 5));
        assert_eq!(held(&f.store, 2).await, (0, 5));

        // Each held one released three times at once, while two sweeps claim the expired.
        let mut settles = Vec::new();
        for id in &held_ids {
            for _ in 0..3 {
                let (f, id) = (Arc::clone(&f), id.clone());
                settles.push(tokio::spawn(async move {
                    f.store.release(&id).await.map(|()| 0)
                }));
            }
        }
        for _ in 0..2 {
            let f = Arc::clone(&f);
            settles.push(tokio::spawn(async move {
                Ok(f.store.release_expired_once(Utc::now()).await?)
            }));
        }
        for settle in settles {
            settle.await.unwrap().unwrap();
        }

        assert_eq!(held(&f.store, 1).await, (5, 0), "given back once");
        assert_eq!(held(&f.store, 2).await, (5, 0), "given back once");
        assert_eq!(f.store.release_expired_once(Utc::now()).await.unwrap(), 0);
    }
}
