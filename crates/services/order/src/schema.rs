//! Bodies of the order service's API as its OpenAPI document describes them. `POST /orders`
//! reads its body field by field (so that each mistake gets its own 400); the request type
//! here documents that body and is not used to parse it.

use serde::Serialize;
use tracemart_contracts::{LineItem, Money, ProductId, UserId};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::{MAX_ADDRESS_FIELD, MAX_ADDRESS_FIELDS, ShippingAddress};
use crate::store::StoredEvent;
use crate::stream::{CancelReason, Created, OrderRow, OrderStatus};

/// `POST /orders`.
#[derive(ToSchema)]
#[schema(example = json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}],
    "shipping_address": {"street": "1 Sejong-daero", "city": "Seoul", "country": "KR"}}))]
#[allow(dead_code)] // documentation only: the handler validates the JSON itself
pub(crate) struct CreateOrderRequest {
    /// A positive integer, of a user the user service knows.
    pub(crate) user_id: UserId,
    /// 1 to 100 lines; a repeated product's quantities are added up, to at most 10000.
    #[schema(min_items = 1, max_items = 100)]
    pub(crate) items: Vec<OrderLine>,
    pub(crate) shipping_address: ShippingAddress,
}

/// One line of an order, as requested.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation only
pub(crate) struct OrderLine {
    pub(crate) product_id: ProductId,
    /// 1 to 10000 units.
    #[schema(minimum = 1, maximum = 10000)]
    pub(crate) quantity: i64,
}

/// A field of an address that is required: a string of 1 to 200 characters, not all blank.
fn required_field() -> ObjectBuilder {
    optional_field().min_length(Some(1)).pattern(Some(r"\S"))
}

/// Any field of an address: a string of at most 200 characters.
fn optional_field() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(MAX_ADDRESS_FIELD))
}

/// Where to ship: `city` and `country` required, not blank; at most 20 fields, every one a
/// string of at most 200 characters, kept as given (sorted by name).
impl PartialSchema for ShippingAddress {
    fn schema() -> RefOr<Schema> {
        let mut address = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("city", required_field())
            .property("country", required_field())
            .required("city")
            .required("country");
        for other in ["street", "line1", "postal_code", "recipient"] {
            address = address.property(other, optional_field());
        }
        address
            .additional_properties(Some(AdditionalProperties::RefOr(
                optional_field().into(),
            )))
            .max_properties(Some(MAX_ADDRESS_FIELDS))
            .description(Some(
                "Where to ship: `city` and `country` required (not blank); at most 20 fields, each a string of at most 200 characters.",
            ))
            .into()
    }
}

impl ToSchema for ShippingAddress {}

/// An order: the seed's body (`POST /orders` answers exactly that), and, when read back, when
/// its status last changed and why it was cancelled.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: String,
    pub user_id: UserId,
    pub items: Vec<LineItem>,
    /// In currency units, e.g. `59.97`; prices come from the product service.
    pub total_amount: Money,
    pub currency: String,
    pub shipping_address: ShippingAddress,
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
            total_amount: c.total,
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
    pub(crate) user_id: UserId,
    pub(crate) limit: i64,
    pub(crate) orders: Vec<OrderView>,
}

/// `GET /orders/{order_id}/events`: the order's event stream, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrderEvents {
    pub(crate) order_id: String,
    pub(crate) events: Vec<StoredEvent>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;
    use crate::domain::NewOrder;

    #[test]
    fn the_answer_to_post_orders_is_the_seeds_body_byte_for_byte() {
        let order = NewOrder::try_from(json!({"user_id": 7,
            "items": [{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}],
            "shipping_address": {"street": "1 Sejong-daero", "city": "Seoul", "country": "KR"}}))
        .unwrap();
        let created = Created {
            order_id: "o1".into(),
            user_id: order.user_id,
            items: order.items,
            total: Money::from_minor(22092),
            currency: "USD".into(),
            shipping_address: order.shipping_address,
            reservation_id: "r1".into(),
            reservation_expires_at: Some("t1".into()),
            created_at: "t0".into(),
        };
        assert_eq!(
            serde_json::to_string(&OrderView::answer(&created)).unwrap(),
            concat!(
                r#"{"order_id":"o1","user_id":7,"items":[{"product_id":1,"quantity":2},{"product_id":3,"quantity":1}],"#,
                r#""total_amount":220.92,"currency":"USD","#,
                r#""shipping_address":{"city":"Seoul","country":"KR","street":"1 Sejong-daero"},"#,
                r#""reservation_id":"r1","status":"created","created_at":"t0"}"#
            )
        );
    }
}
