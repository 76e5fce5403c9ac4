//! Payments in SQLite, one per order.

use rusqlite::params;
use tracemart_contracts::{Payment, minor_to_decimal};
use tracemart_platform::{Database, DbError};

#[derive(Clone)]
pub struct PaymentStore {
    db: Database,
}

impl PaymentStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores `p` unless the order already has a payment; returns the payment that holds.
    pub fn insert_or_get(&self, p: &Payment, amount_minor: i64) -> Result<Payment, DbError> {
        self.db.write("INSERT", "payments", |tx| {
            tx.prepare_cached(
                "INSERT INTO payments (order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (order_id) DO NOTHING",
            )?
            .execute(params![
                p.order_id,
                p.payment_id,
                p.user_id,
                amount_minor,
                p.currency,
                p.status,
                p.reason,
                p.created_at,
            ])?;
            tx.prepare_cached(
                "SELECT payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at \
                 FROM payments WHERE order_id = ?1",
            )?
            .query_row([&p.order_id], |row| {
                Ok(Payment {
                    payment_id: row.get(0)?,
                    order_id: row.get(1)?,
                    user_id: row.get(2)?,
                    amount: minor_to_decimal(row.get(3)?),
                    currency: row.get(4)?,
                    status: row.get(5)?,
                    reason: row.get(6)?,
                    created_at: row.get(7)?,
                })
            })
        })
    }
}
