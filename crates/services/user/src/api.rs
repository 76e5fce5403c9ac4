//! HTTP handlers of the user service.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracemart_contracts::{NewUser, User};
use tracemart_platform::{ApiError, ApiJson, parse_id};

use crate::store::{CreateUserError, UserStore};

pub fn router(store: UserStore) -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{user_id}", get(get_user))
        .with_state(store)
}

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
