//! Who may use the UI port: clients on loopback always (as the console has always been, and
//! as `tracemart traces` and `up`'s readiness checks are); clients beyond it only with a
//! token, when the binary gives the console a way to check one ([`Access::token`]). The token
//! comes as `Authorization: Bearer`, or from the cookie that a `?token=` link sets, so that a
//! link printed at start opens the UI in a browser.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

/// The cookie a `?token=` link sets.
pub(crate) const COOKIE: &str = "tracemart_token";

type Check = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How the UI port checks a client beyond loopback.
#[derive(Clone, Default)]
pub struct Access {
    check: Option<Check>,
}

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.check.is_some() {
            "Access(token)"
        } else {
            "Access(open)"
        })
    }
}

impl Access {
    /// Clients beyond loopback need a token that `check` accepts.
    pub fn token(check: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Self {
            check: Some(Arc::new(check)),
        }
    }
}

/// The token a request carries: its bearer header, else its cookie.
pub(crate) fn token_of(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
    })
}

/// Middleware of the UI port.
pub(crate) async fn guard(State(access): State<Access>, req: Request, next: Next) -> Response {
    let Some(check) = &access.check else {
        return next.run(req).await;
    };
    let loopback = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().to_canonical().is_loopback());
    // Liveness stays open: it tells nothing, and load balancers ask it.
    if loopback || req.uri().path() == "/health" {
        return next.run(req).await;
    }
    if let Some((token, rest)) = link_token(req.uri().query()) {
        return if check(&token) {
            with_cookie(req.uri().path(), &rest, &token)
        } else {
            refuse(req.uri().path(), "the token of this link is not valid")
        };
    }
    match token_of(req.headers()) {
        Some(token) if check(token) => next.run(req).await,
        Some(_) => refuse(req.uri().path(), "the token is not valid (expired?)"),
        None => refuse(req.uri().path(), "a token is needed beyond loopback"),
    }
}

/// `token` from a query string, and the rest of it.
fn link_token(query: Option<&str>) -> Option<(String, String)> {
    let mut token = None;
    let mut rest = Vec::new();
    for pair in query?.split('&') {
        match pair.strip_prefix("token=") {
            Some(t) => token = Some(t.to_owned()),
            None => rest.push(pair),
        }
    }
    token.map(|t| (t, rest.join("&")))
}

/// Sets the cookie and sends the browser to the same page without the token in its address.
fn with_cookie(path: &str, rest: &str, token: &str) -> Response {
    let location = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
    };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let (Ok(location), Ok(cookie)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) {
        headers.insert(header::LOCATION, location);
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

fn refuse(path: &str, why: &str) -> Response {
    let how = "open the link printed when the console started, or send \
               `Authorization: Bearer <token>` with a token of `tracemart token admin`";
    let mut response = if path.starts_with("/api") {
        ApiError::Unauthorized(format!("{why}: {how}")).into_response()
    } else {
        (
            StatusCode::UNAUTHORIZED,
            Html(format!(
                "<!doctype html><title>tracemart console</title><h1>Token needed</h1>\
                 <p>This console answers clients beyond loopback with a token only: {why}.</p>\
                 <p>To get in, {how}.</p>"
            )),
        )
            .into_response()
    };
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_from_the_bearer_header_or_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tracemart_token=tm1.x.y; b=2"),
        );
        assert_eq!(token_of(&headers), Some("tm1.x.y"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer tm1.h.z"),
        );
        assert_eq!(token_of(&headers), Some("tm1.h.z"));
    }

    #[test]
    fn the_link_token_is_taken_out_of_the_query() {
        assert_eq!(
            link_token(Some("service=a&token=tm1.q&x=1")),
            Some(("tm1.q".to_owned(), "service=a&x=1".to_owned()))
        );
        assert_eq!(link_token(Some("service=a")), None);
    }
}
