//! Everything that can go wrong with a user request, and the answer each gets.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracemart_contracts::UserId;
use tracemart_platform::identity::Caller;
use tracemart_platform::{ApiError, DbError};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    InvalidField(String),
    #[error("Invalid user id: {0:?} (expected a positive integer)")]
    InvalidId(String),
    #[error("User not found: {0}")]
    NotFound(UserId),
    #[error("A user with this e-mail already exists")]
    DuplicateEmail,
    #[error(transparent)]
    Db(#[from] DbError),
    /// A read of a user by a caller who is neither that user, the order service nor the
    /// operator.
    #[error("Reading this user is not allowed to this caller")]
    Refused(Caller),
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        let message = e.to_string();
        match e {
            UserError::InvalidField(_) => ApiError::bad_request("invalid_field", message),
            UserError::InvalidId(_) => ApiError::bad_request("invalid_id", message),
            UserError::NotFound(_) => ApiError::not_found("user_not_found", message),
            UserError::DuplicateEmail => {
                ApiError::new(StatusCode::CONFLICT, "duplicate_email", message)
            }
            UserError::Db(e) => e.into(),
            UserError::Refused(caller) => caller.refuse("Reading this user"),
        }
    }
}

impl IntoResponse for UserError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
