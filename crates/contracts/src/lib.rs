//! What the services say to each other over HTTP: request and response bodies. Services depend
//! on this crate, never on each other.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub mod currency;
pub mod events;
pub mod ids;
pub mod values;

pub use currency::Currency;
pub use ids::{OrderId, ProductId, UserId};
pub use values::{Money, MoneyError, Quantity, decimal_to_minor, minor_to_decimal};

/// `GET /users/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub membership_level: String,
}

/// The answer to `POST /users`: the user, and a token that lets them read themselves and
/// their orders (`Authorization: Bearer <token>`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Registered {
    #[serde(flatten)]
    pub user: User,
    /// Valid for 30 days.
    pub token: String,
}

/// `POST /users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewUser {
    /// 1 to 100 characters, not all blank, no control characters; kept without the blanks
    /// around it.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// An address of the usual form, `local@example.com`: one `@`, a dot-atom before it
    /// (letters, digits, ``!#$%&'*+-/=?^_`{|}~`` and single inner dots, at most 64), a domain
    /// of two or more labels after it (letters, digits and inner hyphens, each at most 63),
    /// at most 254 characters in all, no spaces.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// `standard` when absent.
    #[serde(default)]
    pub membership_level: Option<MembershipLevel>,
}

/// What a user pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MembershipLevel {
    Premium,
    #[default]
    Standard,
    Basic,
}

impl MembershipLevel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Premium => "premium",
            Self::Standard => "standard",
            Self::Basic => "basic",
        }
    }
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
    /// At most 1000 ids; an id may repeat.
    #[schema(max_items = 1000)]
    pub product_ids: Vec<ProductId>,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub items: Vec<LineItem>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "ids::optional_whole"
    )]
    pub expires_in_minutes: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "ids::optional_whole"
    )]
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

/// `POST /payments`: which payment, and what the caller expects of it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PaymentRequest {
    /// The order's id (a UUID).
    #[schema(value_type = OrderId)]
    pub order_id: String,
    pub user_id: UserId,
    /// In currency units, a whole number of cents (at most two decimal places), from 0.01 to
    /// 10^12.
    #[schema(minimum = 0.01, maximum = 1_000_000_000_000.0, multiple_of = 0.01)]
    pub amount: f64,
    #[schema(value_type = Currency)]
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
