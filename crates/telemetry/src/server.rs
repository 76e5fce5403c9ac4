//! The server side of every service: request id, W3C extraction, server span, RED metrics,
//! "Request started/completed" log lines and the `X-Request-ID` / `X-Trace-ID` / `X-Span-ID`
//! response headers, in one axum middleware so their order can never drift apart.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::context::FutureExt as _;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{KeyValue, StringValue};

use crate::ids::{span_hex, trace_hex};
use crate::intern;
use crate::metrics::{HttpObservation, Metrics};
use crate::names::{self, attr, header};
use crate::span::{Span, order_baggage_attributes, with_request_id};

/// Label for requests that matched no route: keeps `endpoint` bounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Longest propagation header we accept; longer ones are ignored as malformed (W3C limits
/// baggage to 8192 bytes; a traceparent is 55).
pub(crate) const MAX_PROPAGATION_HEADER: usize = 8192;

const X_REQUEST_ID: HeaderName = HeaderName::from_static(header::REQUEST_ID);
const X_TRACE_ID: HeaderName = HeaderName::from_static(header::TRACE_ID);
const X_SPAN_ID: HeaderName = HeaderName::from_static(header::SPAN_ID);

struct BoundedHeaders<'a>(&'a http::HeaderMap);

impl Extractor for BoundedHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= MAX_PROPAGATION_HEADER)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A caller's `X-Request-ID` is kept only if it is short and plain; otherwise we make one.
/// Kept as the header value itself: echoing it back then copies nothing.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    let plain = |v: &&HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= 128
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    };
    match headers.get(header::REQUEST_ID).filter(plain) {
        Some(v) => v.clone(),
        None => {
            let mut buf = uuid::Uuid::encode_buffer();
            let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
            // A UUID's text is always a valid header value; the fallback is never used.
            HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("invalid-uuid"))
        }
    }
}

/// The middleware; install with `axum::middleware::from_fn_with_state(metrics, trace_http)`
/// as the outermost layer of the router.
pub async fn trace_http(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = request_id(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE, |m| intern::route(m.as_str()));
    if route == names::route::EVENTS || names::route::UNTRACED.contains(&route) {
        return untraced(metrics, req, next, start, request_id, route).await;
    }
    // Cheap clones (shared buffers) of what the log lines need after `req` is handed on.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let user_agent = req.headers().get(http::header::USER_AGENT).cloned();
    let path = uri.path();
    // With the SDK disabled nothing is extracted (nor, below, recorded).
    let parent = if crate::span::enabled() {
        opentelemetry::global::get_text_map_propagator(|p| {
            p.extract(&BoundedHeaders(req.headers()))
        })
    } else {
        opentelemetry::Context::new()
    };
    let bag = parent.baggage();
    let name: Cow<'static, str> = match intern::method(&method) {
        _ if route == UNMATCHED_ROUTE => Cow::Owned(format!("{method} {}", short_path(path))),
        Some(m) => Cow::Borrowed(intern::span_name(m, route)),
        None => Cow::Owned(format!("{method} {route}")),
    };

    // Built only for a span that is made.
    let attributes = if crate::span::enabled() {
        server_attributes(&method, route, path, &request_id, bag)
    } else {
        Vec::new()
    };
    let parent = with_request_id(parent, request_id.clone());
    let span = Span::build(crate::span_site!("tracemart::http"), SpanKind::Server, name)
        .attributes(attributes)
        .start_in(&parent);
    let ids = span.ids();
    // An unsampled request (its caller's `traceparent` says so) is no exemplar: its trace is
    // exported nowhere.
    let sampled = span.context().span().span_context().is_sampled();

    let user_agent = user_agent
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut response = span
        .instrument(async {
            tracing::info!(
                method = method.as_str(),
                path,
                user_agent,
                "Request started"
            );
            let response = next.run(req).await;
            tracing::info!(
                method = method.as_str(),
                path,
                status_code = response.status().as_u16(),
                duration_ms = start.elapsed().as_secs_f64() * 1000.0,
                "Request completed"
            );
            response
        })
        .await;
    let status = response.status().as_u16();
    span.set_attribute(KeyValue::new(
        attr::http::RESPONSE_STATUS_CODE,
        i64::from(status),
    ));
    span.set_attribute(KeyValue::new(attr::http::STATUS_CODE, i64::from(status)));
    if status >= 500 {
        span.set_error_status();
    }
    drop(span);

    metrics.http_request(HttpObservation {
        method: &method,
        endpoint: route,
        status: response.status().as_u16(),
        duration: start.elapsed(),
        trace_id: ids.filter(|_| sampled).map(|(trace_id, _)| trace_id),
    });

    let headers = response.headers_mut();
    headers.insert(X_REQUEST_ID, request_id);
    if let Some((trace_id, span_id)) = ids {
        if let Ok(v) = HeaderValue::from_str(trace_hex(trace_id).as_str()) {
            headers.insert(X_TRACE_ID, v);
        }
        if let Ok(v) = HeaderValue::from_str(span_hex(span_id).as_str()) {
            headers.insert(X_SPAN_ID, v);
        }
    }
    response
}

/// The name an unmatched path gets in its span: the path's first segment, cut to 32
/// characters, and `{…}` for the rest (`/`, `/favicon.ico`, `/api/{…}`). Enough to tell a
/// client's mistake apart, with no ids in span names.
fn short_path(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    let (first, more) = match rest.split_once('/') {
        Some((first, more)) => (first, !more.is_empty()),
        None => (rest, false),
    };
    let first: String = first.chars().take(32).collect();
    if more {
        format!("/{first}/{{…}}")
    } else {
        format!("/{first}")
    }
}

/// The SERVER span's attributes, the order's baggage among them.
fn server_attributes(
    method: &http::Method,
    route: &'static str,
    path: &str,
    request_id: &HeaderValue,
    bag: &opentelemetry::baggage::Baggage,
) -> Vec<KeyValue> {
    let method_name: StringValue = match intern::method(method) {
        Some(m) => m.into(),
        None => method.to_string().into(),
    };
    // One copy of the path for both of its attributes.
    let path_value = StringValue::from(Arc::<str>::from(path));
    let mut attributes = vec![
        KeyValue::new(attr::http::REQUEST_METHOD, method_name.clone()),
        KeyValue::new(attr::http::ROUTE, route),
        KeyValue::new(attr::url::PATH, path_value.clone()),
        KeyValue::new(attr::url::SCHEME, "http"),
        KeyValue::new(attr::http::METHOD, method_name),
        KeyValue::new(attr::http::TARGET, path_value),
        KeyValue::new(
            attr::request::ID,
            request_id.to_str().unwrap_or_default().to_owned(),
        ),
    ];
    attributes.extend(order_baggage_attributes(bag));
    attributes
}

/// A relay's delivery of a batch of messages, or a probe (`names::route::UNTRACED` says
/// why): counted and answered with its request id, but with no server span (each message in
/// a batch is traced by a CONSUMER span of its own, linked to its producer; a span for the
/// batch would be a trace shared by unrelated orders).
async fn untraced(
    metrics: Metrics,
    req: Request,
    next: Next,
    start: Instant,
    request_id: HeaderValue,
    route: &'static str,
) -> Response {
    let method = req.method().clone();
    let cx = with_request_id(opentelemetry::Context::new(), request_id.clone());
    let mut response = next.run(req).with_context(cx).await;
    let status = response.status().as_u16();
    tracing::debug!(
        method = method.as_str(),
        path = route,
        status_code = status,
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "Untraced request answered"
    );
    metrics.http_request(HttpObservation {
        method: &method,
        endpoint: route,
        status,
        duration: start.elapsed(),
        trace_id: None,
    });
    response.headers_mut().insert(X_REQUEST_ID, request_id);
    response
}

#[cfg(test)]
mod tests {
    use super::short_path;

    #[test]
    fn an_unmatched_path_is_named_by_its_first_segment() {
        assert_eq!(short_path("/"), "/");
        assert_eq!(short_path(""), "/");
        assert_eq!(short_path("/favicon.ico"), "/favicon.ico");
        assert_eq!(short_path("/api/v1/orders/42"), "/api/{…}");
        assert_eq!(short_path("/wp-admin/"), "/wp-admin");
        assert_eq!(short_path(&format!("/{}", "x".repeat(100))).len(), 33);
    }
}
