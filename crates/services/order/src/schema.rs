//! Bodies of the order service's API as its OpenAPI document describes them. `POST /orders`
//! reads its body field by field (so that each mistake gets its own 400); the request type
//! here documents that body and is not used to parse it.

use serde::Serialize;
use tracemart_contracts::LineItem;
use utoipa::ToSchema;

use crate::store::{OrderEvent, OrderRecord};

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

/// `GET /orders?user_id=`: a user's orders, newest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderList {
    pub(crate) user_id: i64,
    pub(crate) limit: i64,
    pub(crate) orders: Vec<OrderRecord>,
}

/// `GET /orders/{order_id}/events`: the order's event stream, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderEvents {
    pub(crate) order_id: String,
    pub(crate) events: Vec<OrderEvent>,
}
