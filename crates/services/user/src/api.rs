//! HTTP handlers of the user service.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tracemart_contracts::{ErrorBody, MembershipLevel, NewUser, Registered, User, UserId};

use tracemart_platform::ApiJson;
use tracemart_platform::ServiceName;
use tracemart_platform::identity::{Caller, Signer};
use tracemart_platform::json::ApiPath;
use utoipa::OpenApi;

use crate::domain::{Registration, parse_user_id};
use crate::error::UserError;
use crate::store::UserStore;

/// The contract of the user service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(get_user, create_user),
    components(schemas(User, Registered, UserId, NewUser, MembershipLevel, ErrorBody))
)]
pub struct UserApi;

/// What the handlers share: the users, and the signer of their tokens.
#[derive(Clone)]
pub struct Users {
    pub store: UserStore,
    pub tokens: Arc<Signer>,
}

pub fn router(users: Users) -> Router {
    Router::new()
        .route("/users", post(create_user))
        .route("/users/{user_id}", get(get_user))
        .with_state(users)
}

/// How long a token issued on registration is valid.
const USER_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A user.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users",
    params(("user_id" = UserId, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token is another user's", body = ErrorBody),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody)))]
async fn get_user(
    State(users): State<Users>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<User>, UserError> {
    let id = parse_user_id(&raw)?;
    // A user's e-mail is personal: the user, the order service (which checks buyers) and
    // the operator may read it.
    if !(caller.may_act_for_user(id.0) || caller == Caller::Service(ServiceName::Order)) {
        return Err(UserError::Refused(caller));
    }
    tracing::info!(user.id = id.0, "Looking up user");
    users
        .store
        .get(id)
        .await?
        .map(ApiJson)
        .ok_or(UserError::NotFound(id))
}

/// Registers a user (`membership_level` defaults to `standard`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses(
        (status = 201, description = "Created; with the user's token", body = Registered),
        (status = 400, description = "A field is missing or invalid, or the body is not a JSON object", body = ErrorBody),
        (status = 409, description = "The e-mail address is taken", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "The database is busy; nothing was written", body = ErrorBody)))]
async fn create_user(
    State(users): State<Users>,
    ApiJson(new): ApiJson<NewUser>,
) -> Result<(StatusCode, ApiJson<Registered>), UserError> {
    let registration = Registration::try_from(new)?;
    let user = users.store.create(&registration).await?;
    let token = users
        .tokens
        .issue(&format!("user:{}", user.id), USER_TOKEN_TTL);
    Ok((StatusCode::CREATED, ApiJson(Registered { user, token })))
}
