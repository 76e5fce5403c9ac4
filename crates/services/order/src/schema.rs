//! Bodies of the order service's API as its OpenAPI document describes them. `POST /orders`
//! reads its body field by field (so that each mistake gets its own 400); the request type
//! here documents that body and is not used to parse it.

use serde::Serialize;
use serde_json::{Map, Value};
use tracemart_contracts::LineItem;
use utoipa::ToSchema;

use crate::store::StoredEvent;
use crate::stream::{CancelReason, Created, OrderRow, OrderStatus};

/// `POST /orders`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only: the handler validates the JSON itself
pub(crate) struct CreateOrderRequest {
    /// A positive integer, of a user the user service knows.
    pub(crate) user_id: i64,
    /// 1 to 100 lines, quantities 1 to 10000.
    pub(crate) items: Vec<LineItem>,
    pub(crate) shipping_address: ShippingAddress,
}

/// Where to ship: `city` and `country` required; other string fields are kept as given.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only, as above
pub(crate) struct ShippingAddress {
    pub(crate) city: String,
    pub(crate) country: String,
    pub(crate) street: Option<String>,
    pub(crate) line1: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) recipient: Option<String>,
}

/// An order: the seed's body (`POST /orders` answers exactly that), and, when read back, when
/// its status last changed and why it was cancelled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: i64,
    pub items: Vec<LineItem>,
    /// In currency units, e.g. `59.97`; prices come from the product service.
    pub total_amount: f64,
    pub currency: String,
    #[schema(value_type = ShippingAddress)]
    pub shipping_address: Map<String, Value>,
    pub reservation_id: String,
    /// `created` until the payment is settled, then `confirmed` or `cancelled`.
    pub status: OrderStatus,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<String>,
    /// `payment_declined`, `payment_timeout` or `reservation_expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub cancellation_reason: Option<CancelReason>,
}

impl OrderView {
    /// The answer to `POST /orders`: the seed's body.
    pub fn answer(c: &Created) -> Self {
        Self {
            order_id: c.order_id.clone(),
            user_id: c.user_id,
            items: c.items.clone(),
            total_amount: c.total_amount,
            currency: c.currency.clone(),
            shipping_address: c.shipping_address.clone(),
            reservation_id: c.reservation_id.clone(),
            status: OrderStatus::Created,
            created_at: c.created_at.clone(),
            status_changed_at: None,
            cancellation_reason: None,
        }
    }
}

impl From<OrderRow> for OrderView {
    fn from(row: OrderRow) -> Self {
        Self {
            status: row.status,
            status_changed_at: Some(row.status_changed_at),
            cancellation_reason: row.cancellation_reason,
            ..Self::answer(&row.created)
        }
    }
}

/// `GET /orders?user_id=`: a user's orders, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderList {
    pub(crate) user_id: i64,
    pub(crate) limit: i64,
    pub(crate) orders: Vec<OrderView>,
}

/// `GET /orders/{order_id}/events`: the order's event stream, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderEvents {
    pub(crate) order_id: String,
    pub(crate) events: Vec<StoredEvent>,
}
