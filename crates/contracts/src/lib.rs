//! What the services say to each other over HTTP: request and response bodies. Services depend
//! on this crate, never on each other.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod events;
pub mod values;

pub use values::{
    Money, MoneyError, ProductId, Quantity, UserId, decimal_to_minor, minor_to_decimal,
};

/// `GET /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub membership_level: String,
}

/// `POST /users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewUser {
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub membership_level: Option<String>,
}

/// A catalogue entry; `price` in currency units, e.g. `19.99`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub category: String,
    pub price: f64,
    pub currency: String,
}

/// `GET /products`: a page of the catalogue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Products matching the filter, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// `POST /products/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductBatchRequest {
    pub product_ids: Vec<i64>,
}

/// One line of a reservation or order.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct LineItem {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// `POST /inventory/reserve`. `reservation_id` lets the caller name the reservation so that
/// it can release it even when the reply was lost. The hold lasts `expires_in_seconds`, or
/// else `expires_in_minutes` (one of them is required).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReserveRequest {
    pub items: Vec<LineItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<i64>,
    #[serde(default)]
    pub reservation_id: Option<String>,
}

/// The answer to a successful reservation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Reservation {
    pub reservation_id: String,
    pub expires_at: String,
    pub items: Vec<LineItem>,
    #[serde(default)]
    pub status: String,
}

/// The answer to a commit or a release of a reservation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ReservationStatus {
    pub reservation_id: String,
    /// `committed` or `released`.
    pub status: String,
}

/// `GET /inventory/{product_id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct StockLevel {
    pub product_id: i64,
    pub available: i64,
    pub reserved: i64,
}

/// `POST /payments`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentRequest {
    pub order_id: String,
    pub user_id: i64,
    pub amount: f64,
    pub currency: String,
}

/// The outcome of a payment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct Payment {
    pub payment_id: String,
    pub order_id: String,
    pub user_id: i64,
    pub amount: f64,
    pub currency: String,
    /// `authorized` or `declined`.
    pub status: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// The error body every service answers with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
    pub request_id: Option<String>,
}
