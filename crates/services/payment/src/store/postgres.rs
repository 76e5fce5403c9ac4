//! Payments in PostgreSQL, where instances of the service consume at once: the payment is
//! inserted unless the order has one (`ON CONFLICT DO NOTHING`, which waits for a concurrent
//! insert of the same order to end), then read back, so that two messages about one order
//! never make two decisions.

use tracemart_contracts::{Payment, minor_to_decimal};
use tracemart_events::{Message, Outbox, inbox};
use tracemart_platform::{DbError, PgDatabase};

use super::{Decision, StoredPayment, Voided};
use crate::saga::announcement;

#[derive(Clone)]
pub struct PgPayments {
    db: PgDatabase,
}

const SELECT: &str = "SELECT payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at \
                      FROM payments WHERE order_id = $1";

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

fn to_payment(r: Row) -> StoredPayment {
    let (payment_id, order_id, user_id, amount_minor, currency, status, reason, created_at) = r;
    StoredPayment {
        payment: Payment {
            payment_id,
            order_id,
            user_id,
            amount: minor_to_decimal(amount_minor),
            currency,
            status,
            reason,
            created_at,
        },
        amount_minor,
    }
}

impl PgPayments {
    pub(super) fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    pub(super) async fn get(&self, order_id: &str) -> Result<Option<StoredPayment>, DbError> {
        let row: Option<Row> = self
            .db
            .timed(
                "SELECT",
                "payments",
                sqlx::query_as(SELECT)
                    .bind(order_id)
                    .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(row.map(to_payment))
    }

    pub(super) async fn decide(
        &self,
        outbox: &Outbox,
        message: &Message,
        new: StoredPayment,
    ) -> Result<Decision, DbError> {
        let db = &self.db;
        let mut tx = db.begin("payments").await?;
        // Dropping `tx` on an early return rolls it back.
        if !inbox::claim_pg(db, &mut tx, message).await? {
            return Ok(Decision::Duplicate);
        }
        let q = &new.payment;
        let inserted = db
            .timed(
                "INSERT",
                "payments",
                sqlx::query(
                    "INSERT INTO payments (order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING",
                )
                .bind(&q.order_id)
                .bind(&q.payment_id)
                .bind(q.user_id)
                .bind(new.amount_minor)
                .bind(&q.currency)
                .bind(&q.status)
                .bind(&q.reason)
                .bind(&q.created_at)
                .execute(&mut *tx),
            )
            .await?;
        let payment = if inserted.rows_affected() == 1 {
            new
        } else {
            let row: Row = db
                .timed(
                    "SELECT",
                    "payments",
                    sqlx::query_as(SELECT).bind(&q.order_id).fetch_one(&mut *tx),
                )
                .await?;
            to_payment(row)
        };
        if let Some((topic, decided)) = announcement(&payment) {
            outbox
                .publish_pg(&mut tx, topic, Some(&payment.payment.order_id), &decided)
                .await?;
        }
        outbox.commit(tx, "payments").await?;
        Ok(Decision::Decided(payment))
    }

    pub(super) async fn void(
        &self,
        message: &Message,
        order_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<Voided, DbError> {
        let db = &self.db;
        let mut tx = db.begin("payments").await?;
        if !inbox::claim_pg(db, &mut tx, message).await? {
            return Ok(Voided::Duplicate);
        }
        let changed = db
            .timed(
                "UPDATE",
                "payments",
                sqlx::query(
                    "UPDATE payments SET status = 'voided', reason = $2, voided_at = $3 \
                     WHERE order_id = $1 AND status = 'authorized'",
                )
                .bind(order_id)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx),
            )
            .await?;
        PgDatabase::commit(tx, "payments").await?;
        Ok(Voided::Handled(changed.rows_affected() == 1))
    }
}
