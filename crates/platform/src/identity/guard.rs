//! The caller of a request, as its token proves it: `authenticate` reads the
//! `Authorization: Bearer` header of every request (a bad token is refused on any route),
//! handlers and route guards decide what the caller may do.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::token::{Claims, Verifier};
use crate::ServiceName;
use crate::error::ApiError;

/// Who made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// No token: a client of the public API.
    Anonymous,
    Service(ServiceName),
    /// An end user, by their user id.
    User(i64),
    /// The operator.
    Admin,
    /// No token while tokens are not required (`require_tokens = false`): for peers that
    /// cannot send one. Allowed everything, as before identity existed.
    Unchecked,
}

impl Caller {
    fn of(claims: &Claims) -> Option<Caller> {
        if claims.sub == "admin" {
            return Some(Caller::Admin);
        }
        if let Some(id) = claims.sub.strip_prefix("user:") {
            return id.parse().ok().map(Caller::User);
        }
        ServiceName::ALL
            .into_iter()
            .find(|s| s.service_name() == claims.sub)
            .map(Caller::Service)
    }

    /// The user themselves, or the operator.
    pub fn may_act_for_user(self, user_id: i64) -> bool {
        matches!(self, Caller::Admin | Caller::Unchecked) || self == Caller::User(user_id)
    }

    /// 401 for a caller without a token, 403 for one whose token does not allow `what`.
    pub fn refuse(self, what: &str) -> ApiError {
        if self == Caller::Anonymous {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                format!("{what} needs a token (Authorization: Bearer ...)"),
            )
        } else {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{what} is not allowed to this caller"),
            )
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .copied()
            .unwrap_or(Caller::Anonymous))
    }
}

/// What [`authenticate`] needs.
pub struct Authenticator {
    pub verifier: Verifier,
    /// Whether a request without a token is [`Caller::Anonymous`] (else [`Caller::Unchecked`]).
    pub require_tokens: bool,
}

/// Middleware: the request's [`Caller`], or 401 for a token that is not valid.
pub async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    let caller = match bearer(req.headers()) {
        None if auth.require_tokens => Caller::Anonymous,
        None => Caller::Unchecked,
        Some(None) => {
            return unauthorized("The Authorization header must be `Bearer <token>`");
        }
        Some(Some(token)) => match auth.verifier.verify(token).map(|c| Caller::of(&c)) {
            Ok(Some(caller)) => caller,
            Ok(None) => return unauthorized("The token's subject is not a known caller"),
            Err(e) => return unauthorized(&format!("Invalid token: {e}")),
        },
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The request's bearer token: `None` without an `Authorization` header, `Some(None)` if the
/// header is not `Bearer <token>`.
fn bearer(headers: &header::HeaderMap) -> Option<Option<&str>> {
    let value = headers.get(header::AUTHORIZATION)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim),
    )
}

fn unauthorized(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Who may call a group of routes: some services, and the operator if `admin`.
#[derive(Debug, Clone, Copy)]
pub struct Allow {
    pub services: &'static [ServiceName],
    pub admin: bool,
}

impl Allow {
    pub fn permits(self, caller: Caller) -> bool {
        match caller {
            Caller::Service(s) => self.services.contains(&s),
            Caller::Admin => self.admin,
            Caller::Unchecked => true,
            Caller::Anonymous | Caller::User(_) => false,
        }
    }
}

/// Restricts every route of `router` to `allow` (a route layer: unknown paths still 404).
pub fn restrict<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    allow: Allow,
) -> axum::Router<S> {
    router.route_layer(axum::middleware::from_fn(
        move |caller: Caller, req: Request, next: Next| async move {
            if allow.permits(caller) {
                next.run(req).await
            } else {
                caller.refuse("This endpoint").into_response()
            }
        },
    ))
}

/// The baggage keys the shop sets itself (`order.user_id`, `order.correlation_id`): a client
/// could otherwise put its own values into the services' log lines and spans.
const SHOP_BAGGAGE_PREFIX: &str = "order.";

/// Middleware, outside the tracing layer: removes the shop's own keys from the `baggage` of
/// a request that no service sent (no valid service token), before anything reads it.
pub async fn strip_client_baggage(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(kept) = baggage_to_keep(&auth, req.headers()) {
        match kept.and_then(|k| header::HeaderValue::from_str(&k).ok()) {
            Some(value) => {
                req.headers_mut().insert(BAGGAGE, value);
            }
            None => {
                req.headers_mut().remove(BAGGAGE);
            }
        }
    }
    next.run(req).await
}

/// What [`client_baggage`] keeps, when the request's baggage must be cut: tokens are
/// required and no service sent it.
fn baggage_to_keep(auth: &Authenticator, headers: &header::HeaderMap) -> Option<Option<String>> {
    if !auth.require_tokens {
        return None;
    }
    let kept = client_baggage(headers)?;
    let from_service = bearer(headers)
        .flatten()
        .and_then(|t| auth.verifier.verify(t).ok())
        .and_then(|claims| Caller::of(&claims))
        .is_some_and(|c| matches!(c, Caller::Service(_)));
    (!from_service).then_some(kept)
}

const BAGGAGE: &str = "baggage";

/// `Some(rest)` if the request's baggage has shop keys: the other entries (`None` if none
/// remain); `None` if there is nothing to remove.
fn client_baggage(headers: &header::HeaderMap) -> Option<Option<String>> {
    let mut found = false;
    let mut kept = Vec::new();
    for value in headers.get_all(BAGGAGE) {
        let text = value.to_str().unwrap_or_default();
        for entry in text.split(',') {
            let key = entry.split(['=', ';']).next().unwrap_or_default().trim();
            if key.starts_with(SHOP_BAGGAGE_PREFIX) {
                found = true;
            } else if !entry.trim().is_empty() {
                kept.push(entry.trim());
            }
        }
    }
    found.then(|| (!kept.is_empty()).then(|| kept.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_shops_own_baggage_keys_are_removed() {
        let mut headers = header::HeaderMap::new();
        headers.insert(
            BAGGAGE,
            header::HeaderValue::from_static(
                "order.correlation_id=FORGED, tenant=acme;prop=1,order.user_id=9",
            ),
        );
        assert_eq!(
            client_baggage(&headers),
            Some(Some("tenant=acme;prop=1".to_owned()))
        );
        headers.insert(BAGGAGE, header::HeaderValue::from_static("order.user_id=9"));
        assert_eq!(client_baggage(&headers), Some(None));
        headers.insert(BAGGAGE, header::HeaderValue::from_static("tenant=acme"));
        assert_eq!(client_baggage(&headers), None);
    }
}
