//! Stock and reservations in SQLite: every change is a transaction on the single writer
//! connection, so a reservation's check and take cannot interleave with another's.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use tracemart_contracts::{LineItem, ProductId, StockLevel};
use tracemart_platform::{Database, DbError};

use super::{RELEASED, Reserved, Step, line_item, step, ts};
use crate::error::InventoryError;

#[derive(Clone)]
pub struct SqliteInventory {
    db: Database,
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
        // Only positive quantities are ever held.
        line_item(row.get(0)?, quantity)
            .ok_or(rusqlite::Error::IntegralValueOutOfRange(1, quantity))
    })?
    .collect()
}

/// Moves held reservation `id` to `to` (`committed` or `released`), settling its stock.
fn settle_held(tx: &Transaction<'_>, id: &str, to: &str) -> rusqlite::Result<()> {
    let sql = if to == RELEASED {
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

impl SqliteInventory {
    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn seed_demo(&self, n: i64, stock: i64) -> Result<(), DbError> {
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

    pub(super) fn stock(&self, product_id: ProductId) -> Result<Option<StockLevel>, DbError> {
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

    pub(super) fn reserve(
        &self,
        id: &str,
        items: &[LineItem],
        expires_at: DateTime<Utc>,
    ) -> Result<Reserved, DbError> {
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
        Ok(outcome.unwrap_or_else(Reserved::Short))
    }

    pub(super) fn transition(
        &self,
        id: &str,
        to: &'static str,
    ) -> Result<Result<(), InventoryError>, DbError> {
        self.db.try_write("UPDATE", "reservations", |tx| {
            let current = status_of(tx, id)?.map(|(status, _)| status);
            match step(id, current.as_deref(), to) {
                Step::Done => {}
                Step::RecordReleased => {
                    let now = ts(Utc::now());
                    tx.prepare_cached(
                        "INSERT INTO reservations (id, status, created_at, expires_at, updated_at) \
                             VALUES (?1, 'released', ?2, ?2, ?2)",
                    )?
                    .execute(params![id, now])?;
                }
                Step::Settle => settle_held(tx, id, to)?,
                Step::Refuse(e) => return Ok(Err(e)),
            }
            Ok(Ok(()))
        })
    }

    /// Releases up to `limit` held reservations that expired before `now`, in one
    /// transaction; returns how many.
    pub(super) fn release_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, DbError> {
        let cutoff = ts(now);
        self.db.write("UPDATE", "reservations", |tx| {
            let expired: Vec<String> = tx
                .prepare_cached(
                    "SELECT id FROM reservations WHERE status = 'held' AND expires_at < ?1 LIMIT ?2",
                )?
                .query_map(params![cutoff, limit as i64], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for id in &expired {
                settle_held(tx, id, RELEASED)?;
            }
            Ok(expired.len())
        })
    }
}
