//! Stock and reservations in SQLite.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};
use tracemart_contracts::{LineItem, Reservation, StockLevel};
use tracemart_platform::{Database, DbError};

#[derive(Clone)]
pub struct InventoryStore {
    db: Database,
}

/// Why a reservation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("Insufficient stock for product {product_id}")]
    InsufficientStock { product_id: i64 },
    #[error("Reservation {0} was already released")]
    AlreadyReleased(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a commit or release was refused.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("Reservation not found: {0}")]
    NotFound(String),
    #[error("Reservation {id} is {status}")]
    Conflict { id: String, status: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Timestamps are stored in one fixed-width UTC format, so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl InventoryStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stocks products 1..=n with `stock` units each, unless stock rows exist.
    pub async fn seed_demo(&self, n: i64, stock: i64) -> Result<(), DbError> {
        let count: i64 = self
            .db
            .timed(
                "SELECT",
                "stock",
                sqlx::query_scalar("SELECT COUNT(*) FROM stock").fetch_one(&self.db.writer),
            )
            .await?;
        if count > 0 {
            return Ok(());
        }
        let mut qb = sqlx::QueryBuilder::new("INSERT INTO stock (product_id, available) ");
        qb.push_values(1..=n, |mut b, id| {
            b.push_bind(id).push_bind(stock);
        });
        self.db
            .timed("INSERT", "stock", qb.build().execute(&self.db.writer))
            .await?;
        Ok(())
    }

    pub async fn stock(&self, product_id: i64) -> Result<Option<StockLevel>, DbError> {
        let row: Option<(i64, i64, i64)> = self
            .db
            .timed(
                "SELECT",
                "stock",
                sqlx::query_as(
                    "SELECT product_id, available, reserved FROM stock WHERE product_id = ?",
                )
                .bind(product_id)
                .fetch_optional(&self.db.reader),
            )
            .await?;
        Ok(row.map(|(product_id, available, reserved)| StockLevel {
            product_id,
            available,
            reserved,
        }))
    }

    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, DbError> {
        self.db
            .writer
            .begin()
            .await
            .map_err(DbError::query("BEGIN", "reservations"))
    }

    async fn status_of(
        tx: &mut Transaction<'static, Sqlite>,
        id: &str,
    ) -> Result<Option<(String, String)>, DbError> {
        sqlx::query_as("SELECT status, expires_at FROM reservations WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(DbError::query("SELECT", "reservations"))
    }

    async fn items_of(
        tx: &mut Transaction<'static, Sqlite>,
        id: &str,
    ) -> Result<Vec<LineItem>, DbError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT product_id, quantity FROM reservation_items WHERE reservation_id = ? ORDER BY product_id",
        )
        .bind(id)
        .fetch_all(&mut **tx)
        .await
        .map_err(DbError::query("SELECT", "reservation_items"))?;
        Ok(rows
            .into_iter()
            .map(|(product_id, quantity)| LineItem {
                product_id,
                quantity,
            })
            .collect())
    }

    /// Holds `items` (product ids unique, quantities positive) until `expires_at`, all or nothing.
    /// Replaying a known `id` returns the existing reservation.
    pub async fn reserve(
        &self,
        id: &str,
        items: &[LineItem],
        expires_at: DateTime<Utc>,
    ) -> Result<Reservation, ReserveError> {
        let db = self.db.clone();
        db.timed("RESERVE", "stock", async {
            // Statements are few on purpose: each is a round trip to SQLite's thread.
            let mut tx = self.begin().await.map_err(into_sqlx)?;
            let now = ts(Utc::now());
            let claimed = sqlx::query(
                "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
                 VALUES (?, 'held', ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            )
            .bind(id)
            .bind(&now)
            .bind(ts(expires_at))
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            if claimed.rows_affected() == 0 {
                // A replay, or a reservation released before it arrived.
                let (status, expires) = Self::status_of(&mut tx, id)
                    .await
                    .map_err(into_sqlx)?
                    .unwrap_or_default();
                let items = Self::items_of(&mut tx, id).await.map_err(into_sqlx)?;
                return Ok(Err((status, expires, items)));
            }
            for item in items {
                let updated = sqlx::query(
                    "UPDATE stock SET available = available - ?1, reserved = reserved + ?1 \
                     WHERE product_id = ?2 AND available >= ?1",
                )
                .bind(item.quantity)
                .bind(item.product_id)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() == 0 {
                    tx.rollback().await?;
                    return Ok(Ok(Some(item.product_id)));
                }
            }
            let mut rows = sqlx::QueryBuilder::new(
                "INSERT INTO reservation_items (reservation_id, product_id, quantity) ",
            );
            rows.push_values(items, |mut b, item| {
                b.push_bind(id)
                    .push_bind(item.product_id)
                    .push_bind(item.quantity);
            });
            rows.build().execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Ok(None))
        })
        .await
        .map_err(ReserveError::Db)
        .and_then(|outcome| match outcome {
            Ok(None) => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at: ts(expires_at),
                items: items.to_vec(),
                status: "held".into(),
            }),
            Ok(Some(product_id)) => Err(ReserveError::InsufficientStock { product_id }),
            Err((status, _, _)) if status == "released" => {
                Err(ReserveError::AlreadyReleased(id.to_owned()))
            }
            Err((status, expires_at, items)) => Ok(Reservation {
                reservation_id: id.to_owned(),
                expires_at,
                items,
                status,
            }),
        })
    }

    /// Turns a held reservation into a sale. Idempotent.
    pub async fn commit(&self, id: &str) -> Result<(), TransitionError> {
        self.transition(id, "committed").await
    }

    /// Gives held stock back. Idempotent; releasing an unknown id records it as released, so a
    /// reservation request that arrives late (after its caller gave up) is refused.
    pub async fn release(&self, id: &str) -> Result<(), TransitionError> {
        self.transition(id, "released").await
    }

    async fn transition(&self, id: &str, to: &'static str) -> Result<(), TransitionError> {
        let mut tx = self.begin().await?;
        let current = Self::status_of(&mut tx, id).await?;
        match (current.as_ref().map(|(s, _)| s.as_str()), to) {
            (Some(s), _) if s == to => return Ok(()),
            (None, "committed") => return Err(TransitionError::NotFound(id.to_owned())),
            (None, _) => {
                let now = ts(Utc::now());
                sqlx::query("INSERT INTO reservations (id, status, created_at, expires_at, updated_at) VALUES (?, 'released', ?, ?, ?)")
                    .bind(id)
                    .bind(&now)
                    .bind(&now)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::query("INSERT", "reservations"))?;
            }
            (Some("held"), _) => {
                let items = Self::items_of(&mut tx, id).await?;
                let sql = if to == "released" {
                    "UPDATE stock SET available = available + ?1, reserved = reserved - ?1 WHERE product_id = ?2"
                } else {
                    "UPDATE stock SET reserved = reserved - ?1 WHERE product_id = ?2"
                };
                for item in &items {
                    sqlx::query(sql)
                        .bind(item.quantity)
                        .bind(item.product_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(DbError::query("UPDATE", "stock"))?;
                }
                sqlx::query("UPDATE reservations SET status = ?, updated_at = ? WHERE id = ?")
                    .bind(to)
                    .bind(ts(Utc::now()))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(DbError::query("UPDATE", "reservations"))?;
            }
            (Some(s), _) => {
                return Err(TransitionError::Conflict {
                    id: id.to_owned(),
                    status: s.to_owned(),
                });
            }
        }
        tx.commit()
            .await
            .map_err(DbError::query("COMMIT", "reservations"))?;
        Ok(())
    }

    /// Releases every held reservation that expired before `now`; returns how many.
    pub async fn release_expired_once(&self, now: DateTime<Utc>) -> Result<usize, DbError> {
        let expired: Vec<String> = self
            .db
            .timed(
                "SELECT",
                "reservations",
                sqlx::query_scalar("SELECT id FROM reservations WHERE status = 'held' AND expires_at < ? LIMIT 1000")
                    .bind(ts(now))
                    .fetch_all(&self.db.reader),
            )
            .await?;
        let mut released = 0;
        for id in expired {
            match self.release(&id).await {
                Ok(()) => released += 1,
                // Committed or released meanwhile: nothing to give back.
                Err(TransitionError::Conflict { .. } | TransitionError::NotFound(_)) => {}
                Err(TransitionError::Db(e)) => return Err(e),
            }
        }
        Ok(released)
    }
}

fn into_sqlx(e: DbError) -> sqlx::Error {
    match e {
        DbError::Query { source, .. } | DbError::Open { source, .. } => source,
        DbError::Migrate { source, .. } => sqlx::Error::Migrate(Box::new(source)),
    }
}
