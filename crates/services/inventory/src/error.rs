//! Everything that can go wrong with stock or a reservation, and the answer each gets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracemart_contracts::ProductId;
use tracemart_platform::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    InvalidField(String),
    #[error("Invalid product id: {0:?} (expected a positive integer)")]
    InvalidId(String),
    #[error("Invalid reservation id: {0:?} (expected 1 to 64 letters, digits or '-')")]
    InvalidReservationId(String),
    #[error("No stock record for product {0}")]
    NoStock(ProductId),
    #[error("Insufficient stock for product {0}")]
    InsufficientStock(ProductId),
    #[error("Reservation {0} was already released")]
    AlreadyReleased(String),
    #[error("Reservation not found: {0}")]
    ReservationNotFound(String),
    #[error("Reservation {id} is {status}")]
    Conflict { id: String, status: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        let message = e.to_string();
        match e {
            InventoryError::InvalidField(_) => ApiError::bad_request("invalid_field", message),
            InventoryError::InvalidId(_) | InventoryError::InvalidReservationId(_) => {
                ApiError::bad_request("invalid_id", message)
            }
            InventoryError::NoStock(_) => ApiError::not_found("product_not_found", message),
            InventoryError::InsufficientStock(_) => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_stock", message)
            }
            InventoryError::AlreadyReleased(_) => {
                ApiError::new(StatusCode::CONFLICT, "reservation_released", message)
            }
            InventoryError::ReservationNotFound(_) => {
                ApiError::not_found("reservation_not_found", message)
            }
            InventoryError::Conflict { .. } => {
                ApiError::new(StatusCode::CONFLICT, "reservation_conflict", message)
            }
            InventoryError::Db(e) => e.into(),
        }
    }
}

impl IntoResponse for InventoryError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
