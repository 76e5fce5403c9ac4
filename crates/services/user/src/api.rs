//! HTTP handlers of the user service.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracemart_contracts::{ErrorBody, NewUser, User};
use tracemart_platform::{ApiError, ApiJson, parse_id};
use utoipa::OpenApi;

use crate::store::{CreateUserError, UserStore};

/// The contract of the user service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(get_user, create_user),
    components(schemas(User, NewUser, ErrorBody))
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
    params(("user_id" = i64, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
async fn get_user(
    State(store): State<UserStore>,
    Path(raw): Path<String>,
) -> Result<ApiJson<User>, ApiError> {
    let id = parse_id(&raw, "user")?;
    tracing::info!(user.id = id, "Looking up user");
    match store.get(id)? {
        Some(user) => Ok(ApiJson(user)),
        None => Err(ApiError::not_found(
            "user_not_found",
            format!("User not found: {id}"),
        )),
    }
}

const LEVELS: [&str; 3] = ["premium", "standard", "basic"];

/// Registers a user (`membership_level` defaults to `standard`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 409, description = "The e-mail address is taken", body = ErrorBody)))]
async fn create_user(
    State(store): State<UserStore>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, ApiJson<User>), ApiError> {
    let name = new.name.trim();
    let email = new.email.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "name must be 1 to 100 characters",
        ));
    }
    let valid_email = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if !valid_email {
        return Err(ApiError::bad_request(
            "invalid_field",
            "email must be an e-mail address",
        ));
    }
    let level = new.membership_level.as_deref().unwrap_or("standard");
    if !LEVELS.contains(&level) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("membership_level must be one of {LEVELS:?}"),
        ));
    }
    match store.create(name, email, level) {
        Ok(user) => Ok((StatusCode::CREATED, ApiJson(user))),
        Err(CreateUserError::DuplicateEmail) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_email",
            "A user with this e-mail already exists",
        )),
        Err(CreateUserError::Db(e)) => Err(e.into()),
    }
}
