//! Stock and reservations in SQLite.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tracemart_contracts::{LineItem, ProductId, Quantity, Reservation, StockLevel};
use tracemart_platform::{Database, DbError};

use crate::error::InventoryError;

#[derive(Clone)]
pub struct InventoryStore {
    db: Database,
}

/// Most expired reservations one sweep releases, and how many per transaction.
const SWEEP_MAX: usize = 1000;
const SWEEP_BATCH: usize = 100;

/// Timestamps are stored in one fixed-width UTC format, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Status and expiry of reservation `id`, if known.
fn status_of(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Option<(String, String)>> {
    tx.prepare_cached("SELECT status, expires_at FROM reservations WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
}

fn items_of(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Vec<LineItem>> {
    tx.prepare_cached(
        "SELECT product_id, quantity FROM reservation_items WHERE reservation_id = ?1 ORDER BY product_id",
    )?
    .query_map([id], |row| {
        let quantity: i64 = row.get(1)?;
        Ok(LineItem {
            product_id: ProductId(row.get(0)?),
            // Only positive quantities are ever held.
            quantity: Quantity::new(quantity)
                .ok_or(rusqlite::Error::IntegralValueOutOfRange(1, quantity))?,
        })
    })?
    .collect()
}

/// Moves held reservation `id` to `to` (`committed` or `released`), settling its stock.
fn settle_held(tx: &Transaction<'_>, id: &str, to: &str) -> rusqlite::Result<()> {
    let sql = if to == "released" {
        "UPDATE stock SET available = available + ?1, reserved = reserved - ?1 WHERE product_id = ?2"
    } else {
        "UPDATE stock SET reserved = reserved - ?1 WHERE product_id = ?2"
    };
    let mut update = tx.prepare_cached(sql)?;
    for item in items_of(tx, id)? {
        update.execute(params![item.quantity.get(), item.product_id.0])?;
    }
    tx.prepare_cached("UPDATE reservations SET status = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![to, ts(Utc::now()), id])?;
    Ok(())
}

/// What `reserve` found.
enum Reserved {
    /// Stock taken under this id now.
    New,
    /// The id was known: status, expiry and items as stored.
    Known {
        status: String,
        expires_at: String,
        items: Vec<LineItem>,
    },
}

impl InventoryStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stocks products 1..=n with `stock` units each, unless stock rows exist.
    pub fn seed_demo(&self, n: i64, stock: i64) -> Result<(), DbError> {
        self.db.write("INSERT", "stock", |tx| {
            let count: i64 = tx.query_row("SELECT COUNT(*) FROM stock", [], |row| row.get(0))?;
            if count > 0 {
                return Ok(());
            }
            let mut insert =
                tx.prepare("INSERT INTO stock (product_id, available) VALUES (?1, ?2)")?;
            for id in 1..=n {
                insert.execute(params![id, stock])?;
            }
            Ok(())
        })
    }

    pub fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, DbError> {
        self.db.read("SELECT", "stock", |conn| {
            conn.prepare_cached(
                "SELECT product_id, available, reserved FROM stock WHERE product_id = ?1",
            )?
            .query_row([product_id.0], |row| {
                Ok(StockLevel {
                    product_id: row.get(0)?,
                    available: row.get(1)?,
                    reserved: row.get(2)?,
                })
            })
            .optional()
        })
    }

    /// Holds `items` (product ids unique, quantities positive) until `expires_at`, all or nothing.
    /// Replaying a known `id` returns the existing reservation.
    pub fn reserve(
        &self,
        id: &str,
        items: &[LineItem],
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation, InventoryError> {
        let expires = ts(expires_at);
        let outcome = self.db.try_write("RESERVE", "stock", |tx| {
            let now = ts(Utc::now());
            let claimed = tx
                .prepare_cached(
                    "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
                     VALUES (?1, 'held', ?2, ?3, ?2) ON CONFLICT (id) DO NOTHING",
                )?
                .execute(params![id, now, expires])?;
            if claimed == 0 {
                // A replay, or a reservation released before it arrived.
                let (status, expires_at) = status_of(tx, id)?.unwrap_or_default();
                let items = items_of(tx, id)?;
                return Ok(Ok(Reserved::Known {
                    status,
                    expires_at,
                    items,
                }));
            }
            let mut take = tx.prepare_cached(
                "UPDATE stock SET available = available - ?1, reserved = reserved + ?1 \
                 WHERE product_id = ?2 AND available >= ?1",
            )?;
            for item in items {
                if take.execute(params![item.quantity.get(), item.product_id.0])? == 0 {
                    // Rolls back the claim and the stock taken so far.
                    return Ok(Err(item.product_id));
                }
            }
            let mut hold = tx.prepare_cached(
                "INSERT INTO reservation_items (reservation_id, product_id, quantity) VALUES (?1, ?2, ?3)",
            )?;
            for item in items {
                hold.execute(params![id, item.product_id.0, item.quantity.get()])?;
            }
            Ok(Ok(Reserved::New))
        })?;
        match outcome {
            Ok(Reserved::New) => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at: expires,
                items: items.to_vec(),
                status: "held".into(),
            }),
            Err(product_id) => Err(InventoryError::InsufficientStock(product_id)),
            Ok(Reserved::Known { status, .. }) if status == "released" => {
                Err(InventoryError::AlreadyReleased(id.to_owned()))
            }
            Ok(Reserved::Known {
                status,
                expires_at,
                items,
            }) => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at,
                items,
                status,
            }),
        }
    }

    /// Turns a held reservation into a sale. Idempotent.
    pub fn commit(&self, id: &str) -> Result<(), InventoryError> {
        self.transition(id, "committed")
    }

    /// Gives held stock back. Idempotent; releasing an unknown id records it as released, so a
    /// reservation request that arrives late (after its caller gave up) is refused.
    pub fn release(&self, id: &str) -> Result<(), InventoryError> {
        self.transition(id, "released")
    }

    fn transition(&self, id: &str, to: &'static str) -> Result<(), InventoryError> {
        self.db.try_write("UPDATE", "reservations", |tx| {
            let current = status_of(tx, id)?.map(|(status, _)| status);
            match (current.as_deref(), to) {
                (Some(s), _) if s == to => {}
                (None, "committed") => {
                    return Ok(Err(InventoryError::ReservationNotFound(id.to_owned())));
                }
                (None, _) => {
                    let now = ts(Utc::now());
                    tx.prepare_cached(
                        "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
                             VALUES (?1, 'released', ?2, ?2, ?2)",
                    )?
                    .execute(params![id, now])?;
                }
                (Some("held"), _) => settle_held(tx, id, to)?,
                (Some(s), _) => {
                    return Ok(Err(InventoryError::Conflict {
                        id: id.to_owned(),
                        status: s.to_owned(),
                    }));
                }
            }
            Ok(Ok(()))
        })?
    }

    /// Releases every held reservation that expired before `now` (at most 1000 per call, in
    /// transactions of 100 with a yield between, so the writer is never held for long);
    /// returns how many.
    pub async fn release_expired_once(&self, now: DateTime<Utc>) -> Result<usize, DbError> {
        let cutoff = ts(now);
        let mut released = 0;
        while released < SWEEP_MAX {
            let batch = self.db.write("UPDATE", "reservations", |tx| {
                let expired: Vec<String> = tx
                    .prepare_cached(
                        "SELECT id FROM reservations WHERE status = 'held' AND expires_at < ?1 LIMIT ?2",
                    )?
                    .query_map(params![cutoff, SWEEP_BATCH as i64], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for id in &expired {
                    settle_held(tx, id, "released")?;
                }
                Ok(expired.len())
            })?;
            released += batch;
            if batch < SWEEP_BATCH {
                break;
            }
            tokio::task::yield_now().await;
        }
        Ok(released)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn store(dir: &tempfile::TempDir, stock: i64) -> InventoryStore {
        let db = Database::open(
            &dir.path().join("inventory.db"),
            &[&crate::MIGRATOR],
            tracemart_telemetry::Metrics::new("inventory-service"),
        )
        .await
        .unwrap();
        let store = InventoryStore::new(db);
        store.seed_demo(3, stock).unwrap();
        store
    }

    fn items(lines: &[(i64, i64)]) -> Vec<LineItem> {
        lines
            .iter()
            .map(|&(product_id, quantity)| LineItem {
                product_id: ProductId(product_id),
                quantity: Quantity::new(quantity).unwrap(),
            })
            .collect()
    }

    fn held(store: &InventoryStore, product_id: i64) -> (i64, i64) {
        let s = store.stock(ProductId(product_id)).unwrap().unwrap();
        (s.available, s.reserved)
    }

    #[tokio::test]
    async fn a_reservation_short_on_one_product_holds_nothing_and_its_id_stays_free() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10).await;
        let later = Utc::now() + chrono::Duration::minutes(5);

        let short = store.reserve("r1", &items(&[(1, 4), (2, 11)]), later);

        assert!(matches!(
            short,
            Err(InventoryError::InsufficientStock(ProductId(2)))
        ));
        assert_eq!(held(&store, 1), (10, 0));
        let retry = store.reserve("r1", &items(&[(1, 4)]), later).unwrap();
        assert_eq!(retry.status, "held");
        assert_eq!(held(&store, 1), (6, 4));
    }

    #[tokio::test]
    async fn a_replay_returns_the_stored_reservation_and_holds_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10).await;
        let later = Utc::now() + chrono::Duration::minutes(5);
        let first = store
            .reserve("r1", &items(&[(1, 2), (3, 1)]), later)
            .unwrap();

        let replay = store.reserve("r1", &items(&[(1, 9)]), later).unwrap();

        assert_eq!(replay.items, first.items);
        assert_eq!(replay.expires_at, first.expires_at);
        assert_eq!(held(&store, 1), (8, 2));
    }

    #[tokio::test]
    async fn commit_and_release_are_idempotent_and_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10).await;
        let later = Utc::now() + chrono::Duration::minutes(5);
        store.reserve("sold", &items(&[(1, 2)]), later).unwrap();
        store.reserve("back", &items(&[(2, 3)]), later).unwrap();

        store.commit("sold").unwrap();
        store.commit("sold").unwrap();
        store.release("back").unwrap();
        store.release("back").unwrap();

        assert_eq!(held(&store, 1), (8, 0));
        assert_eq!(held(&store, 2), (10, 0));
        assert!(matches!(
            store.release("sold"),
            Err(InventoryError::Conflict { .. })
        ));
        assert!(matches!(
            store.commit("nobody"),
            Err(InventoryError::ReservationNotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_release_before_the_reservation_refuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10).await;

        store.release("late").unwrap();
        let late = store.reserve("late", &items(&[(1, 1)]), Utc::now());

        assert!(matches!(late, Err(InventoryError::AlreadyReleased(_))));
        assert_eq!(held(&store, 1), (10, 0));
    }

    #[tokio::test]
    async fn the_sweeper_releases_only_expired_held_reservations_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 1000).await;
        let now = Utc::now();
        let past = now - chrono::Duration::minutes(1);
        for i in 0..(SWEEP_BATCH + 5) {
            store
                .reserve(&format!("old-{i}"), &items(&[(1, 1)]), past)
                .unwrap_or_else(|_| panic!("stock for old-{i}"));
        }
        store
            .reserve(
                "fresh",
                &items(&[(2, 1)]),
                now + chrono::Duration::minutes(5),
            )
            .unwrap();
        store.reserve("sold", &items(&[(3, 1)]), past).unwrap();
        store.commit("sold").unwrap();

        let released = store.release_expired_once(now).await.unwrap();

        assert_eq!(released, SWEEP_BATCH + 5);
        assert_eq!(held(&store, 1), (1000, 0));
        assert_eq!(held(&store, 2), (999, 1));
        assert_eq!(held(&store, 3), (999, 0));
        assert_eq!(store.release_expired_once(now).await.unwrap(), 0);
    }
}
