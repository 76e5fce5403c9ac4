//! Payments, one per order, on SQLite or PostgreSQL: one interface, an implementation per
//! engine. Each decision is one transaction on either: the message recorded in the inbox,
//! the payment, and its announcement in the outbox.

mod postgres;
mod sqlite;

use tracemart_contracts::Payment;
use tracemart_events::{Message, Outbox};
use tracemart_platform::{AnyDatabase, DbError};

/// A payment as stored: the API body plus its exact amount.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPayment {
    pub payment: Payment,
    pub amount_minor: i64,
}

/// What deciding on an order's payment did.
pub(crate) enum Decision {
    /// The message was handled before: nothing was done.
    Duplicate,
    /// The order's payment: made now, or made before under another message id (its decision
    /// announced again).
    Decided(StoredPayment),
}

/// What voiding an order's payment did.
pub(crate) enum Voided {
    Duplicate,
    /// Whether there was an authorisation to void.
    Handled(bool),
}

/// Payments, on the engine the service's database runs on.
#[derive(Clone)]
pub enum PaymentStore {
    Sqlite(sqlite::SqlitePayments),
    Postgres(postgres::PgPayments),
}

impl PaymentStore {
    pub fn new(db: &AnyDatabase) -> Self {
        match db {
            AnyDatabase::Sqlite(db) => Self::Sqlite(sqlite::SqlitePayments::new(db.clone())),
            AnyDatabase::Postgres(db) => Self::Postgres(postgres::PgPayments::new(db.clone())),
        }
    }

    /// The payment of `order_id`, if one was made.
    pub async fn get(&self, order_id: &str) -> Result<Option<StoredPayment>, DbError> {
        match self {
            Self::Sqlite(s) => s.get(order_id),
            Self::Postgres(p) => p.get(order_id).await,
        }
    }

    /// Handles `message` about `order_id` in one transaction: records it in the inbox, keeps
    /// the order's payment (the one made before, or `new`) and publishes its decision through
    /// `outbox` when it has one to announce.
    pub(crate) async fn decide(
        &self,
        outbox: &Outbox,
        message: &Message,
        new: StoredPayment,
    ) -> Result<Decision, DbError> {
        match self {
            Self::Sqlite(s) => s.decide(outbox, message, new),
            Self::Postgres(p) => p.decide(outbox, message, new).await,
        }
    }

    /// Handles `message` by voiding the authorisation of `order_id` (if it has one), in one
    /// transaction with its inbox entry.
    pub(crate) async fn void(
        &self,
        message: &Message,
        order_id: &str,
        reason: &str,
    ) -> Result<Voided, DbError> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        match self {
            Self::Sqlite(s) => s.void(message, order_id, reason, &now),
            Self::Postgres(p) => p.void(message, order_id, reason, &now).await,
        }
    }
}
