//! Everything that can go wrong with an order, and the status each answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracemart_contracts::{ProductId, UserId};
use tracemart_platform::identity::Caller;
use tracemart_platform::{ApiError, CallError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("Missing required field: {0}")]
    MissingField(&'static str),
    #[error("{0}")]
    InvalidField(String),
    #[error("Invalid Idempotency-Key: expected 1 to 255 visible ASCII characters")]
    BadIdempotencyKey,
    #[error("Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("A request with this Idempotency-Key is still being processed")]
    IdempotencyKeyInFlight,
    #[error("Query parameter {0} is required")]
    MissingQuery(&'static str),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("Invalid user id: {0:?} (expected a positive integer)")]
    InvalidUserId(String),
    #[error("Invalid order id: {0:?} (expected a UUID)")]
    InvalidOrderId(String),
    #[error("Order not found: {0}")]
    OrderNotFound(String),
    #[error("User not found: {0}")]
    UserNotFound(UserId),
    #[error("Products not found: {:?}", ids(.0))]
    ProductsNotFound(Vec<ProductId>),
    #[error("{0}")]
    InsufficientStock(String),
    #[error("{service} error: {detail}")]
    Downstream {
        service: &'static str,
        detail: String,
    },
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A read of someone's orders by a caller who is neither that user nor the operator.
    #[error("{1} is not allowed to this caller")]
    Refused(Caller, &'static str),
}

/// The ids as the message has always listed them: `[1, 3]`.
fn ids(ids: &[ProductId]) -> Vec<i64> {
    ids.iter().map(|id| id.0).collect()
}

impl OrderError {
    /// The exception type recorded on spans.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::MissingField(_)
            | Self::InvalidField(_)
            | Self::UserNotFound(_)
            | Self::ProductsNotFound(_) => "ValueError",
            Self::InsufficientStock(_) => "InsufficientStockError",
            Self::Downstream { .. } | Self::Call(_) => "RuntimeError",
            Self::Db(_) => "DatabaseError",
            _ => "RequestError",
        }
    }

    pub fn to_api(&self) -> ApiError {
        let msg = self.to_string();
        match self {
            Self::MissingField(_) => ApiError::bad_request("missing_field", msg),
            Self::InvalidField(_) => ApiError::bad_request("invalid_field", msg),
            Self::BadIdempotencyKey => ApiError::bad_request("invalid_idempotency_key", msg),
            Self::IdempotencyKeyReused => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                msg,
            ),
            Self::IdempotencyKeyInFlight => {
                ApiError::new(StatusCode::CONFLICT, "idempotency_key_in_flight", msg)
            }
            Self::MissingQuery(_) => ApiError::bad_request("missing_field", msg),
            Self::InvalidQuery(_) => ApiError::bad_request("invalid_query", msg),
            Self::InvalidUserId(_) | Self::InvalidOrderId(_) => {
                ApiError::bad_request("invalid_id", msg)
            }
            Self::OrderNotFound(_) => ApiError::not_found("order_not_found", msg),
            Self::UserNotFound(_) => ApiError::bad_request("user_not_found", msg),
            Self::ProductsNotFound(_) => ApiError::bad_request("products_not_found", msg),
            Self::InsufficientStock(_) => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_stock", msg)
            }
            Self::Downstream { .. } | Self::Call(_) => {
                ApiError::unavailable(format!("Service temporarily unavailable: {msg}"))
            }
            // The cause is logged where it happened; a write that failed is worth a retry.
            Self::Db(_) => ApiError::unavailable("Order storage temporarily unavailable"),
            Self::Refused(caller, what) => caller.refuse(what),
        }
    }
}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        self.to_api().into_response()
    }
}
