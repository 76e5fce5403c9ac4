//! Everything that can go wrong with a product request, and the answer each gets.

use axum::response::{IntoResponse, Response};
use tracemart_contracts::ProductId;
use tracemart_platform::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("Invalid product id: {0:?} (expected a positive integer)")]
    InvalidId(String),
    #[error("Product not found: {0}")]
    NotFound(ProductId),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        let message = e.to_string();
        match e {
            ProductError::InvalidQuery(_) => ApiError::bad_request("invalid_query", message),
            ProductError::InvalidField(_) => ApiError::bad_request("invalid_field", message),
            ProductError::InvalidId(_) => ApiError::bad_request("invalid_id", message),
            ProductError::NotFound(_) => ApiError::not_found("product_not_found", message),
            ProductError::Db(e) => e.into(),
        }
    }
}

impl IntoResponse for ProductError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
