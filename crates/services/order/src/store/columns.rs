//! The `orders` and `order_events` rows as both engines store them, and the SQL fragments
//! both engines share.

use serde_json::Value;
use tracemart_contracts::{Money, UserId};

use super::StoredEvent;
use crate::stream::{Created, OrderRow, OrderStatus};

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
pub(super) struct OrderColumns {
    pub(super) id: String,
    pub(super) user_id: i64,
    pub(super) status: String,
    pub(super) total_minor: i64,
    pub(super) currency: String,
    pub(super) items: String,
    pub(super) shipping_address: String,
    pub(super) reservation_id: String,
    pub(super) created_at: String,
    pub(super) status_changed_at: Option<String>,
    pub(super) cancellation_reason: Option<String>,
    pub(super) payment_id: Option<String>,
    pub(super) reservation_expires_at: Option<String>,
    pub(super) updated_at: String,
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
pub(super) struct EventColumns {
    pub(super) event_id: String,
    pub(super) order_id: String,
    pub(super) seq: i64,
    #[sqlx(rename = "type")]
    pub(super) kind: String,
    pub(super) payload: String,
    pub(super) created_at: String,
    pub(super) cause: Option<String>,
    pub(super) trace_id: Option<String>,
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
