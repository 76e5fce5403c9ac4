//! Orders on SQLite or PostgreSQL: each order's event stream (`order_events`), the read model
//! folded from it (`orders`), and idempotency keys. One interface, an implementation per
//! engine; what a write means (the events a step appends and the row they lead to, the
//! messages it sends, whether an idempotency key may be taken over, what a rebuild corrects)
//! is worked out here, once, and each engine only runs its statements.

mod postgres;
mod sqlite;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tracemart_contracts::events::{self as messages, OrderCancelled, topic};
use tracemart_contracts::{Money, UserId};
use tracemart_events::{Message, Outbox};
use tracemart_platform::{AnyDatabase, DbError};
use tracemart_telemetry::Span;
use tracemart_telemetry::names::attr;

use crate::commands::{OrderCommand, expiry_id};
use crate::saga::Step;
use crate::stream::{Created, OrderEvent, OrderRow, OrderStatus, apply};

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

/// A pending claim older than this is taken to be from a request that died without freeing
/// it (its client hung up mid-way, or its process is gone): longer than any request runs,
/// which the server's deadlines bound to seconds.
const STALE_CLAIM_SECONDS: i64 = 60;
/// Orders folded per transaction by [`OrderStore::rebuild`], so that no writer waits long.
const REBUILD_CHUNK: i64 = 500;

/// The columns [`OrderColumns`] reads, in its order.
macro_rules! order_columns {
    () => {
        "id, user_id, status, total_minor, currency, items, shipping_address, \
         reservation_id, created_at, status_changed_at, cancellation_reason, payment_id, \
         reservation_expires_at, updated_at"
    };
}
pub(crate) use order_columns;

/// What an order's upsert rewrites of an existing row: every column but its id (the same
/// clause on both engines).
macro_rules! order_upsert_set {
    () => {
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, \
         status_changed_at = excluded.status_changed_at, cancellation_reason = excluded.cancellation_reason, \
         payment_id = excluded.payment_id, user_id = excluded.user_id, total_minor = excluded.total_minor, \
         currency = excluded.currency, items = excluded.items, shipping_address = excluded.shipping_address, \
         reservation_id = excluded.reservation_id, created_at = excluded.created_at, \
         reservation_expires_at = excluded.reservation_expires_at"
    };
}
pub(crate) use order_upsert_set;

/// An `orders` row as both engines store it.
#[derive(sqlx::FromRow)]
struct OrderColumns {
    id: String,
    user_id: i64,
    status: String,
    total_minor: i64,
    currency: String,
    items: String,
    shipping_address: String,
    reservation_id: String,
    created_at: String,
    status_changed_at: Option<String>,
    cancellation_reason: Option<String>,
    payment_id: Option<String>,
    reservation_expires_at: Option<String>,
    updated_at: String,
}

/// A column the order service wrote as JSON. Unreadable, it reads as empty, so that a rebuild
/// still compares the row with its stream and rewrites it.
fn json_column<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

impl From<OrderColumns> for OrderRow {
    fn from(c: OrderColumns) -> Self {
        OrderRow {
            created: Created {
                order_id: c.id,
                user_id: UserId(c.user_id),
                items: json_column(&c.items),
                total: Money::from_minor(c.total_minor),
                currency: c.currency,
                shipping_address: json_column(&c.shipping_address),
                reservation_id: c.reservation_id,
                reservation_expires_at: c.reservation_expires_at,
                created_at: c.created_at.clone(),
            },
            status: OrderStatus::parse(&c.status).unwrap_or(OrderStatus::Created),
            status_changed_at: c.status_changed_at.unwrap_or(c.created_at),
            cancellation_reason: c
                .cancellation_reason
                .and_then(|r| serde_json::from_value(Value::from(r)).ok()),
            payment_id: c.payment_id,
            updated_at: c.updated_at,
        }
    }
}

impl From<&OrderRow> for OrderColumns {
    fn from(row: &OrderRow) -> Self {
        let c = &row.created;
        OrderColumns {
            id: c.order_id.clone(),
            user_id: c.user_id.0,
            status: row.status.as_str().to_owned(),
            total_minor: c.total.minor(),
            currency: c.currency.clone(),
            items: serde_json::to_string(&c.items).unwrap_or_default(),
            shipping_address: serde_json::to_string(&c.shipping_address).unwrap_or_default(),
            reservation_id: c.reservation_id.clone(),
            created_at: c.created_at.clone(),
            status_changed_at: Some(row.status_changed_at.clone()),
            cancellation_reason: row.cancellation_reason.map(|r| r.as_str().to_owned()),
            payment_id: row.payment_id.clone(),
            reservation_expires_at: c.reservation_expires_at.clone(),
            updated_at: row.updated_at.clone(),
        }
    }
}

/// An `order_events` row as both engines store it.
#[derive(sqlx::FromRow)]
struct EventColumns {
    event_id: String,
    order_id: String,
    seq: i64,
    #[sqlx(rename = "type")]
    kind: String,
    payload: String,
    created_at: String,
    cause: Option<String>,
    trace_id: Option<String>,
}

impl From<EventColumns> for StoredEvent {
    fn from(e: EventColumns) -> Self {
        StoredEvent {
            event_id: e.event_id,
            order_id: e.order_id,
            seq: e.seq,
            event_type: e.kind,
            payload: serde_json::from_str(&e.payload).unwrap_or(Value::Null),
            created_at: e.created_at,
            cause: e.cause,
            trace_id: e.trace_id,
        }
    }
}

/// The events `events` append after seq `last` to the order `row`, each at the time the
/// order stands at after it, and the row they lead to.
fn appended(
    row: OrderRow,
    last: i64,
    events: &[OrderEvent],
    cause: &str,
    trace_id: Option<&str>,
) -> (Vec<EventColumns>, OrderRow) {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut current = row;
    let mut written = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        current = apply(Some(current.clone()), event, &at).unwrap_or(current);
        written.push(event_columns(
            &current,
            last + 1 + i as i64,
            event,
            cause,
            trace_id,
        ));
    }
    (written, current)
}

fn event_columns(
    row: &OrderRow,
    seq: i64,
    event: &OrderEvent,
    cause: &str,
    trace_id: Option<&str>,
) -> EventColumns {
    let (kind, payload) = event.to_columns();
    EventColumns {
        event_id: uuid::Uuid::now_v7().to_string(),
        order_id: row.created.order_id.clone(),
        seq,
        kind,
        payload,
        created_at: row.updated_at.clone(),
        cause: Some(cause.to_owned()),
        trace_id: trace_id.map(str::to_owned),
    }
}

/// The payload of a message a saga step sends, serialised as itself.
#[derive(Serialize)]
#[serde(untagged)]
enum Outgoing {
    Command(OrderCommand),
    Cancelled(OrderCancelled),
}

/// What recording a saga step writes, besides its inbox entry.
struct StepWrites {
    /// Empty when the step changes nothing (then the row is not written either).
    events: Vec<EventColumns>,
    row: OrderRow,
    /// Topic and payload of each message.
    messages: Vec<(&'static str, Outgoing)>,
    /// A final event: the order's expiry is cancelled.
    finished: bool,
    appended: Vec<OrderEvent>,
}

impl StepWrites {
    fn of(row: OrderRow, last: i64, step: Step, cause: &str, trace_id: Option<&str>) -> Self {
        let finished = step.events.iter().any(OrderEvent::is_final);
        let (events, row) = appended(row, last, &step.events, cause, trace_id);
        let mut messages: Vec<_> = step
            .commands
            .into_iter()
            .map(|(topic, c)| (topic, Outgoing::Command(c)))
            .collect();
        if let Some(reason) = step.cancelled {
            messages.push((
                topic::ORDER_CANCELLED,
                Outgoing::Cancelled(OrderCancelled {
                    order_id: row.created.order_id.clone(),
                    reason: reason.as_str().to_owned(),
                    cancelled_at: row.status_changed_at.clone(),
                }),
            ));
        }
        Self {
            events,
            row,
            messages,
            finished,
            appended: step.events,
        }
    }

    fn recorded(self) -> Recorded {
        Recorded::Settled {
            row: Box::new(self.row),
            finished: self.finished,
            events: self.appended,
        }
    }
}

/// What recording a message's step did.
pub(crate) enum Recorded {
    /// The message was handled before: nothing was written.
    Duplicate,
    /// No such order.
    NoOrder,
    /// The order as the step left it, whether the step ended the saga, and what it appended.
    Settled {
        row: Box<OrderRow>,
        finished: bool,
        events: Vec<OrderEvent>,
    },
}

/// Everything placing an order writes in its one transaction.
pub(crate) struct Placement<'a> {
    pub(crate) created: &'a Created,
    /// What made it: `POST /orders <request id>`.
    pub(crate) cause: String,
    pub(crate) trace_id: Option<String>,
    /// The span of the order's write.
    pub(crate) write_span: &'a Span,
    /// Starts the PRODUCER span of its `order.created` (once the order is written).
    pub(crate) publish_span: fn(&str) -> Span,
    /// When the order expires unless its payment is settled.
    pub(crate) expires_at: chrono::DateTime<chrono::Utc>,
    /// The idempotency key and the answer to keep under it.
    pub(crate) answer: Option<(&'a str, String)>,
}

impl Placement<'_> {
    fn order_id(&self) -> &str {
        &self.created.order_id
    }

    /// Its `order.created` message.
    fn message(&self) -> messages::OrderCreated {
        let c = self.created;
        messages::OrderCreated {
            event_type: topic::ORDER_CREATED.to_owned(),
            order_id: c.order_id.clone(),
            user_id: c.user_id,
            total: c.total,
            currency: c.currency.clone(),
            reservation_id: c.reservation_id.clone(),
            reservation_expires_at: c.reservation_expires_at.clone(),
            created_at: c.created_at.clone(),
        }
    }

    fn expiry(&self) -> (String, OrderCommand) {
        let order_id = self.order_id();
        (
            expiry_id(order_id),
            OrderCommand {
                order_id: order_id.to_owned(),
                reason: None,
            },
        )
    }

    /// The order's first event (seq 1) and its row.
    fn first(&self) -> (EventColumns, OrderColumns) {
        let row = OrderRow::new(self.created);
        let event = OrderEvent::OrderCreated(self.created.clone());
        (
            event_columns(&row, 1, &event, &self.cause, self.trace_id.as_deref()),
            OrderColumns::from(&row),
        )
    }
}

/// idempotency_keys' request, status, response status, response body, created at, owner.
type KeyRow = (
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

/// Whose pending claims may be taken over at once.
#[derive(Clone, Copy)]
enum Takeover {
    /// One process per database (SQLite): a claim of another owner was left by a process
    /// that is gone.
    OtherOwners,
    /// Instances share the database (PostgreSQL): another owner may be running the request
    /// right now, so its claim is a lease, taken over only once stale.
    StaleOnly,
}

/// What `existing` (the key's row, if any) means for a request whose canonical body is
/// `request`, made by `owner` at `now`: [`Claim::New`] when the claim is to be written.
fn judge(
    existing: Option<KeyRow>,
    request: &str,
    owner: &str,
    now: chrono::DateTime<chrono::Utc>,
    takeover: Takeover,
) -> Claim {
    match existing {
        Some((req, ..)) if req != request => Claim::Mismatch,
        Some((_, status, Some(code), Some(body), ..)) if status == "done" => Claim::Replay {
            status: u16::try_from(code).unwrap_or(500),
            body,
        },
        Some((_, _, _, _, created, claimant)) if !is_stale(&created, now) => {
            match (takeover, claimant.as_deref() == Some(owner)) {
                (Takeover::OtherOwners, false) => Claim::New,
                _ => Claim::InFlight,
            }
        }
        _ => Claim::New,
    }
}

fn is_stale(created: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds() > STALE_CLAIM_SECONDS)
        .unwrap_or(true)
}

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
            Self::Sqlite(_) => outbox
                .transaction("event_outbox", |tx| {
                    outbox.publish(tx, topic, Some(key), payload)
                })
                .map(drop),
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
