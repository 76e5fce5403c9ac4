//! An order's event stream: every change to an order is an event appended to it, and the
//! `orders` table is a projection of the streams ([`apply`]), which can be rebuilt from them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracemart_contracts::LineItem;
use utoipa::ToSchema;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    /// Accepted, stock held, payment not settled.
    Created,
    /// Paid, and its stock sold.
    Confirmed,
    /// Will not be fulfilled; its stock is back on sale.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Confirmed, Self::Cancelled]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The payment service declined the payment.
    PaymentDeclined,
    /// No payment decision came before the reservation expired.
    PaymentTimeout,
    /// The reservation was released (it expired) before the payment could be settled.
    ReservationExpired,
}

impl CancelReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PaymentDeclined => "payment_declined",
            Self::PaymentTimeout => "payment_timeout",
            Self::ReservationExpired => "reservation_expired",
        }
    }
}

/// The facts of an order's creation: the `OrderCreated` event's payload (the seed's order
/// body, plus the exact total and the reservation's expiry).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Created {
    pub order_id: String,
    pub user_id: i64,
    pub items: Vec<LineItem>,
    /// In currency units.
    pub total_amount: f64,
    /// Exact; absent in events written before it existed.
    #[serde(default)]
    pub total_minor: Option<i64>,
    pub currency: String,
    pub shipping_address: Map<String, Value>,
    pub reservation_id: String,
    #[serde(default)]
    pub reservation_expires_at: Option<String>,
    pub created_at: String,
}

impl Created {
    pub fn total_minor(&self) -> i64 {
        self.total_minor
            .unwrap_or_else(|| tracemart_contracts::decimal_to_minor(self.total_amount))
    }
}

/// What can happen to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum OrderEvent {
    OrderCreated(Created),
    PaymentAuthorized {
        payment_id: String,
        amount_minor: i64,
    },
    PaymentDeclined {
        payment_id: String,
        reason: String,
    },
    ReservationCommitted {
        reservation_id: String,
    },
    ReservationReleased {
        reservation_id: String,
        reason: String,
    },
    OrderConfirmed {},
    OrderCancelled {
        reason: CancelReason,
        detail: String,
    },
}

impl OrderEvent {
    /// The stored `type` and `payload` columns.
    pub fn to_columns(&self) -> (String, String) {
        let mut tagged = serde_json::to_value(self).unwrap_or(Value::Null);
        let kind = tagged["type"].as_str().unwrap_or_default().to_owned();
        (kind, tagged["payload"].take().to_string())
    }

    /// The event stored as `kind` and `payload`.
    pub fn from_columns(kind: &str, payload: &str) -> Result<Self, serde_json::Error> {
        let payload: Value = serde_json::from_str(payload)?;
        serde_json::from_value(serde_json::json!({"type": kind, "payload": payload}))
    }

    /// Whether it ends the saga.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::OrderConfirmed {} | Self::OrderCancelled { .. })
    }
}

/// The read model of one order: what the `orders` table holds and the API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderRow {
    pub created: Created,
    pub status: OrderStatus,
    /// When the status last changed (the creation, confirmation or cancellation).
    pub status_changed_at: String,
    pub cancellation_reason: Option<CancelReason>,
    /// The payment decided for it, authorised or declined.
    pub payment_id: Option<String>,
    /// When the last event was appended.
    pub updated_at: String,
}

impl OrderRow {
    /// A new order, as its `OrderCreated` event makes it.
    pub fn new(created: &Created) -> Self {
        let mut created = created.clone();
        created.total_minor = Some(created.total_minor());
        Self {
            status_changed_at: created.created_at.clone(),
            updated_at: created.created_at.clone(),
            created,
            status: OrderStatus::Created,
            cancellation_reason: None,
            payment_id: None,
        }
    }
}

/// The order after `event`, appended at `at`. Events before `OrderCreated` (none should
/// exist) leave no order.
pub(crate) fn apply(row: Option<OrderRow>, event: &OrderEvent, at: &str) -> Option<OrderRow> {
    let mut row = match (row, event) {
        (_, OrderEvent::OrderCreated(created)) => return Some(OrderRow::new(created)),
        (None, _) => return None,
        (Some(row), _) => row,
    };
    match event {
        OrderEvent::PaymentAuthorized { payment_id, .. }
        | OrderEvent::PaymentDeclined { payment_id, .. } => {
            row.payment_id = Some(payment_id.clone());
        }
        OrderEvent::OrderConfirmed {} => {
            row.status = OrderStatus::Confirmed;
            row.status_changed_at = at.to_owned();
        }
        OrderEvent::OrderCancelled { reason, .. } => {
            row.status = OrderStatus::Cancelled;
            row.status_changed_at = at.to_owned();
            row.cancellation_reason = Some(*reason);
        }
        OrderEvent::OrderCreated(_)
        | OrderEvent::ReservationCommitted { .. }
        | OrderEvent::ReservationReleased { .. } => {}
    }
    row.updated_at = at.to_owned();
    Some(row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn created() -> Created {
        Created {
            order_id: "o1".into(),
            user_id: 7,
            items: vec![LineItem {
                product_id: 1,
                quantity: 2,
            }],
            total_amount: 39.98,
            total_minor: Some(3998),
            currency: "USD".into(),
            shipping_address: Map::new(),
            reservation_id: "r1".into(),
            reservation_expires_at: None,
            created_at: "t0".into(),
        }
    }

    #[test]
    fn events_round_trip_through_their_columns() {
        let events = [
            OrderEvent::OrderCreated(created()),
            OrderEvent::PaymentDeclined {
                payment_id: "p1".into(),
                reason: "over the limit".into(),
            },
            OrderEvent::OrderConfirmed {},
            OrderEvent::OrderCancelled {
                reason: CancelReason::PaymentTimeout,
                detail: "no decision".into(),
            },
        ];
        for event in events {
            let (kind, payload) = event.to_columns();
            assert_eq!(OrderEvent::from_columns(&kind, &payload).unwrap(), event);
        }
        let (kind, payload) = OrderEvent::OrderConfirmed {}.to_columns();
        assert_eq!((kind.as_str(), payload.as_str()), ("OrderConfirmed", "{}"));
    }

    #[test]
    fn an_order_created_before_the_saga_existed_still_reads() {
        let legacy = r#"{"order_id":"o1","user_id":7,"items":[{"product_id":1,"quantity":2}],
            "total_amount":39.98,"currency":"USD","shipping_address":{"city":"Seoul","country":"KR"},
            "reservation_id":"r1","status":"created","created_at":"t0"}"#;
        let OrderEvent::OrderCreated(c) = OrderEvent::from_columns("OrderCreated", legacy).unwrap()
        else {
            panic!("not OrderCreated");
        };
        assert_eq!(c.total_minor(), 3998);
    }

    #[test]
    fn the_projection_follows_the_saga_to_its_end() {
        let stream = [
            (OrderEvent::OrderCreated(created()), "t0"),
            (
                OrderEvent::PaymentAuthorized {
                    payment_id: "p1".into(),
                    amount_minor: 3998,
                },
                "t1",
            ),
            (
                OrderEvent::ReservationCommitted {
                    reservation_id: "r1".into(),
                },
                "t2",
            ),
            (OrderEvent::OrderConfirmed {}, "t2"),
        ];
        let row = stream
            .iter()
            .fold(None, |row, (e, at)| apply(row, e, at))
            .unwrap();
        assert_eq!(row.status, OrderStatus::Confirmed);
        assert_eq!(row.status_changed_at, "t2");
        assert_eq!(row.payment_id.as_deref(), Some("p1"));
        assert_eq!(apply(None, &OrderEvent::OrderConfirmed {}, "t9"), None);
    }
}
