//! Everything that can go wrong with a payment request, and the answer each gets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracemart_contracts::OrderId;
use tracemart_platform::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("{0}")]
    InvalidField(String),
    #[error(
        "No payment for order {0}: the payment service decides one when the order's order.created event arrives"
    )]
    OrderNotFound(OrderId),
    #[error("The user, amount or currency is not the order's")]
    Mismatch,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        let message = e.to_string();
        match e {
            PaymentError::InvalidField(_) => ApiError::bad_request("invalid_field", message),
            PaymentError::OrderNotFound(_) => ApiError::not_found("order_not_found", message),
            PaymentError::Mismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "payment_mismatch",
                message,
            ),
            PaymentError::Db(e) => e.into(),
        }
    }
}

impl IntoResponse for PaymentError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
