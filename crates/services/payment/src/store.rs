//! Payments in SQLite, one per order.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use tracemart_contracts::{Payment, minor_to_decimal};
use tracemart_platform::{Database, DbError};

/// A payment as stored: the API body plus its exact amount.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayment {
    pub payment: Payment,
    pub amount_minor: i64,
}

#[derive(Clone)]
pub struct PaymentStore {
    db: Database,
}

const SELECT: &str = "SELECT payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at \
                      FROM payments WHERE order_id = ?1";

fn to_payment(row: &Row<'_>) -> rusqlite::Result<StoredPayment> {
    let amount_minor = row.get(3)?;
    Ok(StoredPayment {
        payment: Payment {
            payment_id: row.get(0)?,
            order_id: row.get(1)?,
            user_id: row.get(2)?,
            amount: minor_to_decimal(amount_minor),
            currency: row.get(4)?,
            status: row.get(5)?,
            reason: row.get(6)?,
            created_at: row.get(7)?,
        },
        amount_minor,
    })
}

impl PaymentStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The payment of `order_id`, if one was made.
    pub fn get(&self, order_id: &str) -> Result<Option<StoredPayment>, DbError> {
        self.db.read("SELECT", "payments", |conn| {
            conn.prepare_cached(SELECT)?
                .query_row([order_id], to_payment)
                .optional()
        })
    }

    /// The payment of `order_id`, read in `tx`.
    pub fn get_in(
        &self,
        tx: &Transaction<'_>,
        order_id: &str,
    ) -> Result<Option<StoredPayment>, DbError> {
        self.db.timed("SELECT", "payments", || {
            tx.prepare_cached(SELECT)?
                .query_row([order_id], to_payment)
                .optional()
        })
    }

    /// Stores a decided payment (the order has none yet: checked in the same transaction).
    pub fn insert(&self, tx: &Transaction<'_>, p: &StoredPayment) -> Result<(), DbError> {
        let q = &p.payment;
        self.db.timed("INSERT", "payments", || {
            tx.prepare_cached(
                "INSERT INTO payments (order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                q.order_id,
                q.payment_id,
                q.user_id,
                p.amount_minor,
                q.currency,
                q.status,
                q.reason,
                q.created_at,
            ])
        })?;
        Ok(())
    }

    /// Voids the authorisation of `order_id`; `false` if there was none to void.
    pub fn void(
        &self,
        tx: &Transaction<'_>,
        order_id: &str,
        reason: &str,
    ) -> Result<bool, DbError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let changed = self.db.timed("UPDATE", "payments", || {
            tx.prepare_cached(
                "UPDATE payments SET status = 'voided', reason = ?2, voided_at = ?3 \
                 WHERE order_id = ?1 AND status = 'authorized'",
            )?
            .execute(params![order_id, reason, now])
        })?;
        Ok(changed == 1)
    }
}
