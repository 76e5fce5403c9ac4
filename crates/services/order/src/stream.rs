//! An order's event stream: every change to an order is an event appended to it, and the
//! `orders` table is a projection of the streams ([`apply`]), which can be rebuilt from them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracemart_contracts::values::{cents, order_total};
use tracemart_contracts::{LineItem, Money, UserId};
use utoipa::ToSchema;

use crate::domain::ShippingAddress;

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
/// body, plus the total in cents and the reservation's expiry).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Created {
    pub order_id: String,
    pub user_id: UserId,
    pub items: Vec<LineItem>,
    /// `total_amount` (in currency units) and `total_minor` (in cents, absent in events
    /// written before it existed) in the payload.
    #[serde(flatten, with = "order_total")]
    pub total: Money,
    pub currency: String,
    pub shipping_address: ShippingAddress,
    pub reservation_id: String,
    #[serde(default)]
    pub reservation_expires_at: Option<String>,
    pub created_at: String,
}

/// What can happen to an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum OrderEvent {
    OrderCreated(Created),
    PaymentAuthorized {
        payment_id: String,
        /// In cents in the payload.
        #[serde(rename = "amount_minor", with = "cents")]
        amount: Money,
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
        Self {
            status_changed_at: created.created_at.clone(),
            updated_at: created.created_at.clone(),
            created: created.clone(),
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
    use tracemart_contracts::{ProductId, Quantity};

    fn created() -> Created {
        Created {
            order_id: "o1".into(),
            user_id: UserId(7),
            items: vec![LineItem {
                product_id: ProductId(1),
                quantity: Quantity::new(2).unwrap(),
            }],
            total: Money::from_minor(3998),
            currency: "USD".into(),
            shipping_address: ShippingAddress::default(),
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
        assert_eq!(c.total, Money::from_minor(3998));
        assert_eq!(
            serde_json::to_string(&c.shipping_address).unwrap(),
            r#"{"city":"Seoul","country":"KR"}"#
        );
    }

    #[test]
    fn an_order_created_writes_its_payload_as_before() {
        let (kind, payload) = OrderEvent::OrderCreated(created()).to_columns();
        assert_eq!(kind, "OrderCreated");
        assert_eq!(
            payload,
            r#"{"created_at":"t0","currency":"USD","items":[{"product_id":1,"quantity":2}],"order_id":"o1","reservation_expires_at":null,"reservation_id":"r1","shipping_address":{},"total_amount":39.98,"total_minor":3998,"user_id":7}"#
        );
        let (_, payload) = OrderEvent::PaymentAuthorized {
            payment_id: "p1".into(),
            amount: Money::from_minor(16836),
        }
        .to_columns();
        assert_eq!(payload, r#"{"amount_minor":16836,"payment_id":"p1"}"#);
    }

    #[test]
    fn the_projection_follows_the_saga_to_its_end() {
        let stream = [
            (OrderEvent::OrderCreated(created()), "t0"),
            (
                OrderEvent::PaymentAuthorized {
                    payment_id: "p1".into(),
                    amount: Money::from_minor(3998),
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
