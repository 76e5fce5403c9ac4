//! Orders on SQLite or PostgreSQL: each order's event stream (`order_events`), the read model
//! folded from it (`orders`), and idempotency keys. One interface, an implementation per
//! engine; what a write means (the events a step appends and the row they lead to, the
//! messages it sends, whether an idempotency key may be taken over, what a rebuild corrects)
//! is worked out here, once, and each engine only runs its statements.

mod columns;
mod keys;
mod postgres;
mod sqlite;
mod writes;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tracemart_contracts::UserId;
use tracemart_events::{Message, Outbox};
use tracemart_platform::{AnyDatabase, DbError};
use tracemart_telemetry::Span;
use tracemart_telemetry::names::attr;

use crate::saga::Step;
use crate::stream::{OrderEvent, OrderRow, apply};
use columns::{EventColumns, OrderColumns, order_columns, order_upsert_set};
use keys::{KeyRow, Takeover, judge};
use writes::StepWrites;
pub(crate) use writes::{Placement, Recorded};

/// One entry of an order's event stream, as `GET /orders/{id}/events` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    pub event_id: String,
    pub order_id: String,
    pub seq: i64,
    /// e.g. `OrderCreated`, `PaymentAuthorized`, `OrderConfirmed`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
    /// What made it: `POST /orders <request id>`, or `<topic> <message id>`.
    pub cause: Option<String>,
    /// The trace in which it was appended.
    pub trace_id: Option<String>,
}

/// What an `Idempotency-Key` says about a request.
pub enum Claim {
    /// First use: go ahead.
    New,
    /// Done before: answer this again.
    Replay { status: u16, body: String },
    /// Used with another body.
    Mismatch,
    /// Another request with this key is running.
    InFlight,
}

/// What rebuilding the read model found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rebuilt {
    /// Orders folded from their streams.
    pub orders: usize,
    /// Rows that differed from their stream (rewritten) or had no stream (deleted).
    pub corrected: usize,
}

/// Orders folded per transaction by [`OrderStore::rebuild`], so that no writer waits long.
const REBUILD_CHUNK: i64 = 500;

/// The order folded from its stream (`type`, `payload`, `created_at` of each event, in order);
/// an unreadable event is skipped.
fn fold(order_id: &str, events: &[(String, String, String)]) -> Option<OrderRow> {
    let mut folded = None;
    for (kind, payload, at) in events {
        match OrderEvent::from_columns(kind, payload) {
            Ok(event) => folded = apply(folded, &event, at),
            Err(e) => {
                tracing::warn!({ attr::order::ID } = %order_id, event_type = %kind, error = %e, "Unreadable event skipped")
            }
        }
    }
    folded
}

/// What a rebuild does to an order's row.
enum Correction {
    None,
    Write(Box<OrderRow>),
    Delete,
}

fn correction(folded: Option<OrderRow>, current: Option<OrderRow>) -> Correction {
    match (folded, current) {
        (Some(want), Some(have)) if want == have => Correction::None,
        (Some(want), _) => Correction::Write(Box::new(want)),
        (None, Some(_)) => Correction::Delete,
        (None, None) => Correction::None,
    }
}

/// Orders, on the engine the service's database runs on. Each instance has its own identity
/// as the owner of the idempotency keys it claims, new at every start.
#[derive(Clone)]
pub enum OrderStore {
    Sqlite(sqlite::SqliteOrders),
    Postgres(postgres::PgOrders),
}

impl OrderStore {
    pub fn new(db: &AnyDatabase) -> Self {
        let owner: Arc<str> = uuid::Uuid::new_v4().to_string().into();
        match db {
            AnyDatabase::Sqlite(db) => Self::Sqlite(sqlite::SqliteOrders::new(db.clone(), owner)),
            AnyDatabase::Postgres(db) => Self::Postgres(postgres::PgOrders::new(db.clone(), owner)),
        }
    }

    /// `db.system` / `db.system.name` of the engine.
    pub fn system_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgresql",
        }
    }

    pub async fn get(&self, id: &str) -> Result<Option<OrderRow>, DbError> {
        match self {
            Self::Sqlite(s) => s.get(id),
            Self::Postgres(p) => p.get(id).await,
        }
    }

    /// Whether any order holds `reservation_id`.
    pub async fn holds_reservation(&self, reservation_id: &str) -> Result<bool, DbError> {
        match self {
            Self::Sqlite(s) => s.holds_reservation(reservation_id),
            Self::Postgres(p) => p.holds_reservation(reservation_id).await,
        }
    }

    /// A user's orders, newest first (in the order they were written, when created at the
    /// same time).
    pub async fn list_for_user(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> Result<Vec<OrderRow>, DbError> {
        match self {
            Self::Sqlite(s) => s.list_for_user(user_id, limit),
            Self::Postgres(p) => p.list_for_user(user_id, limit).await,
        }
    }

    /// The order's event stream, oldest first.
    pub async fn events(&self, order_id: &str) -> Result<Vec<StoredEvent>, DbError> {
        let events = match self {
            Self::Sqlite(s) => s.events(order_id)?,
            Self::Postgres(p) => p.events(order_id).await?,
        };
        Ok(events.into_iter().map(StoredEvent::from).collect())
    }

    /// Whether message `message_id` was handled before.
    pub(crate) async fn seen(&self, message_id: &str) -> Result<bool, DbError> {
        match self {
            Self::Sqlite(s) => s.seen(message_id),
            Self::Postgres(p) => p.seen(message_id).await,
        }
    }

    /// Writes a new order in one transaction: its `OrderCreated` event and row, its
    /// `order.created` message, its expiry and (with a key) the idempotent answer. Returns the
    /// message's span.
    pub(crate) async fn place(
        &self,
        outbox: &Outbox,
        placement: &Placement<'_>,
    ) -> Result<Span, DbError> {
        match self {
            Self::Sqlite(s) => s.place(outbox, placement),
            Self::Postgres(p) => p.place(outbox, placement).await,
        }
    }

    /// In one transaction: records `m` in the inbox, appends what `decide` makes of order
    /// `order_id` as it stands (locked against other instances' steps on PostgreSQL), and
    /// publishes the step's messages; a final event also cancels the order's expiry.
    pub(crate) async fn record(
        &self,
        outbox: &Outbox,
        m: &Message,
        order_id: &str,
        trace_id: Option<&str>,
        decide: impl FnOnce(&OrderRow) -> Step + Send,
    ) -> Result<Recorded, DbError> {
        let cause = format!("{} {}", m.topic, m.id);
        let plan = |row: OrderRow, last: i64| {
            let step = decide(&row);
            StepWrites::of(row, last, step, &cause, trace_id)
        };
        match self {
            Self::Sqlite(s) => s.record(outbox, m, order_id, plan),
            Self::Postgres(p) => p.record(outbox, m, order_id, plan).await,
        }
    }

    /// Publishes `payload` under `topic` in a transaction of its own.
    pub(crate) async fn publish(
        &self,
        outbox: &Outbox,
        topic: &'static str,
        key: &str,
        payload: &(impl Serialize + Sync),
    ) -> Result<(), DbError> {
        match self {
            Self::Sqlite(s) => s.publish(outbox, topic, key, payload),
            Self::Postgres(p) => p.publish(outbox, topic, key, payload).await,
        }
    }

    /// Folds every order's stream again and corrects the rows that differ from it (and
    /// deletes rows that have no stream), [`REBUILD_CHUNK`] orders per transaction.
    pub async fn rebuild(&self) -> Result<Rebuilt, DbError> {
        let mut done = Rebuilt::default();
        let mut after = String::new();
        loop {
            let (chunk, last) = match self {
                Self::Sqlite(s) => s.rebuild_chunk(&after)?,
                Self::Postgres(p) => p.rebuild_chunk(&after).await?,
            };
            done.orders += chunk.orders;
            done.corrected += chunk.corrected;
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        Ok(done)
    }

    /// Claims `key` for a request whose canonical body is `request`. A claim still in flight
    /// is refused; a stale one is taken over. On SQLite (one process per database) a claim of
    /// another owner is taken over at once: that process is gone. On PostgreSQL, where
    /// several instances share the keys, it is a lease: taken over only once stale, under a
    /// row lock, so that exactly one request takes it.
    pub async fn claim_key(&self, key: &str, request: &str) -> Result<Claim, DbError> {
        let now = chrono::Utc::now();
        match self {
            Self::Sqlite(s) => s.claim_key(key, request, now),
            Self::Postgres(p) => p.claim_key(key, request, now).await,
        }
    }

    /// Frees `key` after a failed request, so that the client's retry runs again; a claim
    /// another process has taken over meanwhile is not this one's to free.
    pub async fn release_key(&self, key: &str) -> Result<(), DbError> {
        match self {
            Self::Sqlite(s) => s.release_key(key),
            Self::Postgres(p) => p.release_key(key).await,
        }
    }
}

#[cfg(test)]
mod tests;
