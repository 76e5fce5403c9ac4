//! Payments in SQLite, one per order.

use tracemart_contracts::{Payment, minor_to_decimal};
use tracemart_platform::{Database, DbError};

#[derive(Clone)]
pub struct PaymentStore {
    db: Database,
}

type Row = (
    String,
    String,
    i64,
    i64,
    String,
    String,
    Option<String>,
    String,
);

impl PaymentStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores `p` unless the order already has a payment; returns the payment that holds.
    pub async fn insert_or_get(&self, p: &Payment, amount_minor: i64) -> Result<Payment, DbError> {
        self.db
            .timed(
                "INSERT",
                "payments",
                sqlx::query(
                    "INSERT INTO payments (order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(&p.order_id)
                .bind(&p.payment_id)
                .bind(p.user_id)
                .bind(amount_minor)
                .bind(&p.currency)
                .bind(&p.status)
                .bind(&p.reason)
                .bind(&p.created_at)
                .execute(&self.db.writer),
            )
            .await?;
        let row: Row = self
            .db
            .timed(
                "SELECT",
                "payments",
                sqlx::query_as(
                    "SELECT payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at \
                     FROM payments WHERE order_id = ?",
                )
                .bind(&p.order_id)
                .fetch_one(&self.db.writer),
            )
            .await?;
        let (payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at) =
            row;
        Ok(Payment {
            payment_id,
            order_id,
            user_id,
            amount: minor_to_decimal(amount_minor),
            currency,
            status,
            reason,
            created_at,
        })
    }
}
