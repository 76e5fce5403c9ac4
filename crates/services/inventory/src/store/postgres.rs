//! Stock and reservations in PostgreSQL, where many connections write at once.
//!
//! Correct under concurrency by these rules: stock rows are locked (`FOR UPDATE`) in product
//! order before they change, by reservations and settlements alike, so two transactions
//! never wait on each other in a cycle; a take is a conditional `available >= quantity`
//! update evaluated on the locked row, so stock is never oversold; a reservation row is
//! locked before its status moves, so a commit, a release and the sweeper settle it once;
//! the sweeper claims expired rows with `SKIP LOCKED`, so sweepers of several instances never
//! take the same reservation, and a sweep never waits behind a commit or release under way.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use tracemart_contracts::{LineItem, ProductId, StockLevel};
use tracemart_platform::{DbError, PgDatabase};

use super::{RELEASED, Reserved, Step, line_item, step, ts};
use crate::error::InventoryError;

type Tx = Transaction<'static, Postgres>;

/// Records an unknown id as released; a reservation of it stored first wins.
const RECORD_RELEASED: &str = "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
     VALUES ($1, 'released', now(), now(), now()) ON CONFLICT (id) DO NOTHING";

#[derive(Clone)]
pub struct PgInventory {
    db: PgDatabase,
}

impl PgInventory {
    pub(super) fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    /// One statement, and only into an empty table: instances starting together stock once
    /// (the loser's rows conflict and are skipped).
    pub(super) async fn seed_demo(&self, n: i64, stock: i64) -> Result<(), DbError> {
        self.db
            .timed(
                "INSERT",
                "stock",
                sqlx::query(
                    "INSERT INTO stock (product_id, available) \
                     SELECT id, $2 FROM generate_series(1::BIGINT, $1) AS id \
                     WHERE NOT EXISTS (SELECT 1 FROM stock) ON CONFLICT DO NOTHING",
                )
                .bind(n)
                .bind(stock)
                .execute(self.db.pool()),
            )
            .await
            .map(drop)
    }

    pub(super) async fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, DbError> {
        let row: Option<(i64, i64, i64)> = self
            .db
            .timed(
                "SELECT",
                "stock",
                sqlx::query_as(
                    "SELECT product_id, available, reserved FROM stock WHERE product_id = $1",
                )
                .bind(product_id.0)
                .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(row.map(|(product_id, available, reserved)| StockLevel {
            product_id,
            available,
            reserved,
        }))
    }

    pub(super) async fn reserve(
        &self,
        id: &str,
        items: &[LineItem],
        expires_at: DateTime<Utc>,
    ) -> Result<Reserved, DbError> {
        let mut tx = self.db.begin("stock").await?;
        // A concurrent reservation of the same id makes this wait for its end: then it is
        // known (committed) or free again (rolled back).
        let claimed = self
            .db
            .timed(
                "INSERT",
                "reservations",
                sqlx::query(
                    "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
                     VALUES ($1, 'held', now(), $2, now()) ON CONFLICT (id) DO NOTHING",
                )
                .bind(id)
                .bind(expires_at)
                .execute(&mut *tx),
            )
            .await?;
        if claimed.rows_affected() == 0 {
            // A replay, or a reservation released before it arrived.
            return self.known(&mut tx, id).await;
        }
        let mut sorted = items.to_vec();
        sorted.sort_by_key(|item| item.product_id.0);
        let ids: Vec<i64> = sorted.iter().map(|item| item.product_id.0).collect();
        let quantities: Vec<i64> = sorted.iter().map(|item| item.quantity.get()).collect();
        self.db
            .timed(
                "SELECT",
                "stock",
                sqlx::query(
                    "SELECT product_id FROM stock WHERE product_id = ANY($1) \
                     ORDER BY product_id FOR UPDATE",
                )
                .bind(&ids)
                .execute(&mut *tx),
            )
            .await?;
        let taken: Vec<i64> = self
            .db
            .timed(
                "UPDATE",
                "stock",
                sqlx::query_scalar(
                    "UPDATE stock s SET available = s.available - i.quantity, \
                     reserved = s.reserved + i.quantity \
                     FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS i (product_id, quantity) \
                     WHERE s.product_id = i.product_id AND s.available >= i.quantity \
                     RETURNING s.product_id",
                )
                .bind(&ids)
                .bind(&quantities)
                .fetch_all(&mut *tx),
            )
            .await?;
        if let Some(short) = items
            .iter()
            .find(|item| !taken.contains(&item.product_id.0))
        {
            // Dropping the transaction rolls back the claim and the stock taken.
            return Ok(Reserved::Short(short.product_id));
        }
        self.db
            .timed(
                "INSERT",
                "reservation_items",
                sqlx::query(
                    "INSERT INTO reservation_items (reservation_id, product_id, quantity) \
                     SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[])",
                )
                .bind(id)
                .bind(&ids)
                .bind(&quantities)
                .execute(&mut *tx),
            )
            .await?;
        PgDatabase::commit(tx, "stock").await?;
        Ok(Reserved::New)
    }

    /// Reservation `id` as stored (its id is known).
    async fn known(&self, tx: &mut Tx, id: &str) -> Result<Reserved, DbError> {
        let (status, expires_at): (String, DateTime<Utc>) = self
            .db
            .timed(
                "SELECT",
                "reservations",
                sqlx::query_as("SELECT status, expires_at FROM reservations WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut **tx),
            )
            .await?;
        let rows: Vec<(i64, i64)> = self
            .db
            .timed(
                "SELECT",
                "reservation_items",
                sqlx::query_as(
                    "SELECT product_id, quantity FROM reservation_items \
                     WHERE reservation_id = $1 ORDER BY product_id",
                )
                .bind(id)
                .fetch_all(&mut **tx),
            )
            .await?;
        let items = rows
            .into_iter()
            .map(|(product_id, quantity)| {
                // Only positive quantities are ever held (a CHECK constraint).
                line_item(product_id, quantity).ok_or_else(|| DbError::Postgres {
                    operation: "SELECT",
                    table: "reservation_items",
                    source: sqlx::Error::Decode(
                        format!("quantity {quantity} of product {product_id} is not positive")
                            .into(),
                    ),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Reserved::Known {
            status,
            expires_at: ts(expires_at),
            items,
        })
    }

    pub(super) async fn transition(
        &self,
        id: &str,
        to: &'static str,
    ) -> Result<Result<(), InventoryError>, DbError> {
        let mut tx = self.db.begin("reservations").await?;
        if to == RELEASED && self.record_released(&mut tx, id).await? {
            PgDatabase::commit(tx, "reservations").await?;
            return Ok(Ok(()));
        }
        let current: Option<String> = self
            .db
            .timed(
                "SELECT",
                "reservations",
                sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1 FOR UPDATE")
                    .bind(id)
                    .fetch_optional(&mut *tx),
            )
            .await?;
        match step(id, current.as_deref(), to) {
            Step::Done => return Ok(Ok(())),
            Step::RecordReleased => {
                self.record_released(&mut tx, id).await?;
            }
            Step::Settle => self.settle_held(&mut tx, &[id.to_owned()], to).await?,
            Step::Refuse(e) => return Ok(Err(e)),
        }
        PgDatabase::commit(tx, "reservations").await?;
        Ok(Ok(()))
    }

    /// Whether unknown id `id` was recorded as released now.
    async fn record_released(&self, tx: &mut Tx, id: &str) -> Result<bool, DbError> {
        let inserted = self
            .db
            .timed(
                "INSERT",
                "reservations",
                sqlx::query(RECORD_RELEASED).bind(id).execute(&mut **tx),
            )
            .await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Moves the held reservations `ids` (locked by the caller) to `to`, selling or giving
    /// back their stock.
    async fn settle_held(&self, tx: &mut Tx, ids: &[String], to: &str) -> Result<(), DbError> {
        self.db
            .timed(
                "SELECT",
                "stock",
                sqlx::query(
                    "SELECT product_id FROM stock WHERE product_id IN \
                     (SELECT product_id FROM reservation_items WHERE reservation_id = ANY($1)) \
                     ORDER BY product_id FOR UPDATE",
                )
                .bind(ids)
                .execute(&mut **tx),
            )
            .await?;
        let settle = if to == RELEASED {
            "UPDATE stock s SET available = s.available + t.quantity, \
             reserved = s.reserved - t.quantity \
             FROM (SELECT product_id, SUM(quantity)::BIGINT AS quantity FROM reservation_items \
                   WHERE reservation_id = ANY($1) GROUP BY product_id) t \
             WHERE s.product_id = t.product_id"
        } else {
            "UPDATE stock s SET reserved = s.reserved - t.quantity \
             FROM (SELECT product_id, SUM(quantity)::BIGINT AS quantity FROM reservation_items \
                   WHERE reservation_id = ANY($1) GROUP BY product_id) t \
             WHERE s.product_id = t.product_id"
        };
        self.db
            .timed(
                "UPDATE",
                "stock",
                sqlx::query(settle).bind(ids).execute(&mut **tx),
            )
            .await?;
        self.db
            .timed(
                "UPDATE",
                "reservations",
                sqlx::query(
                    "UPDATE reservations SET status = $2, updated_at = now() WHERE id = ANY($1)",
                )
                .bind(ids)
                .bind(to)
                .execute(&mut **tx),
            )
            .await
            .map(drop)
    }

    /// Claims up to `limit` held reservations that expired before `now`, skipping those
    /// another transaction holds, and releases them in one transaction; returns how many.
    pub(super) async fn release_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, DbError> {
        let mut tx = self.db.begin("reservations").await?;
        let expired: Vec<String> = self
            .db
            .timed(
                "SELECT",
                "reservations",
                sqlx::query_scalar(
                    "SELECT id FROM reservations WHERE status = 'held' AND expires_at < $1 \
                     ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                )
                .bind(now)
                .bind(limit as i64)
                .fetch_all(&mut *tx),
            )
            .await?;
        if expired.is_empty() {
            return Ok(0);
        }
        self.settle_held(&mut tx, &expired, RELEASED).await?;
        PgDatabase::commit(tx, "reservations").await?;
        Ok(expired.len())
    }
}
