//! HTTP handlers of the user service.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracemart_contracts::{ErrorBody, MembershipLevel, NewUser, User, UserId};
use tracemart_platform::ApiJson;
use tracemart_platform::json::ApiPath;
use utoipa::OpenApi;

use crate::domain::{Registration, parse_user_id};
use crate::error::UserError;
use crate::store::UserStore;

/// The contract of the user service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(get_user, create_user),
    components(schemas(User, UserId, NewUser, MembershipLevel, ErrorBody))
)]
pub struct UserApi;

pub fn router(store: UserStore) -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{user_id}", get(get_user))
        .with_state(store)
}

/// A user.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users",
    params(("user_id" = UserId, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
async fn get_user(
    State(store): State<UserStore>,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<User>, UserError> {
    let id = parse_user_id(&raw)?;
    tracing::info!(user.id = id.0, "Looking up user");
    store.get(id)?.map(ApiJson).ok_or(UserError::NotFound(id))
}

/// Registers a user (`membership_level` defaults to `standard`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is missing or invalid, or the body is not a JSON object", body = ErrorBody),
        (status = 409, description = "The e-mail address is taken", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "The database is busy; nothing was written", body = ErrorBody)))]
async fn create_user(
    State(store): State<UserStore>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, ApiJson<User>), UserError> {
    let registration = Registration::try_from(new)?;
    let user = store.create(&registration)?;
    Ok((StatusCode::CREATED, ApiJson(user)))
}
