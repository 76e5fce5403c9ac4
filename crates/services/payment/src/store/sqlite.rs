//! Payments in SQLite, on the service's one writer.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use tracemart_contracts::{Payment, minor_to_decimal};
use tracemart_events::{Message, Outbox, inbox};
use tracemart_platform::{Database, DbError};

use super::{Decision, StoredPayment, Voided};
use crate::saga::announcement;

#[derive(Clone)]
pub struct SqlitePayments {
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

impl SqlitePayments {
    pub(super) fn new(db: Database) -> Self {
        Self { db }
    }

    pub(super) fn get(&self, order_id: &str) -> Result<Option<StoredPayment>, DbError> {
        self.db.read("SELECT", "payments", |conn| {
            conn.prepare_cached(SELECT)?
                .query_row([order_id], to_payment)
                .optional()
        })
    }

    pub(super) fn decide(
        &self,
        outbox: &Outbox,
        message: &Message,
        new: StoredPayment,
    ) -> Result<Decision, DbError> {
        outbox.transaction("payments", |tx| {
            if !inbox::claim(&self.db, tx, message)? {
                return Ok(Decision::Duplicate);
            }
            // One writer: nothing can come between the read and the insert.
            let payment = match self.get_in(tx, &new.payment.order_id)? {
                Some(existing) => existing,
                None => {
                    self.insert(tx, &new)?;
                    new
                }
            };
            if let Some((topic, decided)) = announcement(&payment) {
                outbox.publish(tx, topic, Some(&payment.payment.order_id), &decided)?;
            }
            Ok(Decision::Decided(payment))
        })
    }

    fn get_in(
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

    fn insert(&self, tx: &Transaction<'_>, p: &StoredPayment) -> Result<(), DbError> {
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

    pub(super) fn void(
        &self,
        message: &Message,
        order_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<Voided, DbError> {
        self.db.transaction("payments", |tx| {
            if !inbox::claim(&self.db, tx, message)? {
                return Ok(Voided::Duplicate);
            }
            let changed = self.db.timed("UPDATE", "payments", || {
                tx.prepare_cached(
                    "UPDATE payments SET status = 'voided', reason = ?2, voided_at = ?3 \
                     WHERE order_id = ?1 AND status = 'authorized'",
                )?
                .execute(params![order_id, reason, now])
            })?;
            Ok(Voided::Handled(changed == 1))
        })
    }
}
