//! The server side of every service: request id, W3C extraction, server span, RED metrics,
//! "Request started/completed" log lines and the `X-Request-ID` / `X-Trace-ID` / `X-Span-ID`
//! response headers, in one axum middleware so their order can never drift apart.

use std::borrow::Cow;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::ids::{span_hex, trace_hex};
use crate::intern;
use crate::metrics::{HttpObservation, Metrics};
use crate::names::{self, attr, baggage, header};

tokio::task_local! {
    static REQUEST_ID: HeaderValue;
}

/// The id of the request being served, for error bodies; `None` outside a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID
        .try_with(|id| id.to_str().ok().map(str::to_owned))
        .ok()
        .flatten()
}

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
    if route == names::route::EVENTS {
        return untraced(metrics, req, next, start, request_id).await;
    }
    // Cheap clones (shared buffers) of what the log lines need after `req` is handed on.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let user_agent = req.headers().get(http::header::USER_AGENT).cloned();
    let path = uri.path();
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&BoundedHeaders(req.headers()))
    });
    let bag = parent.baggage();
    let name: Cow<'static, str> = match intern::method(&method) {
        Some(m) => Cow::Borrowed(intern::span_name(m, route)),
        None => Cow::Owned(format!("{method} {route}")),
    };

    let span = tracing::info_span!(
        target: "tracemart::http",
        "http.server",
        { attr::otel::NAME } = &*name,
        { attr::otel::KIND } = "server",
        { attr::otel::STATUS_CODE } = Empty,
        { attr::http::REQUEST_METHOD } = method.as_str(),
        { attr::http::ROUTE } = route,
        { attr::url::PATH } = path,
        { attr::url::SCHEME } = "http",
        { attr::http::METHOD } = method.as_str(),
        { attr::http::TARGET } = path,
        { attr::http::RESPONSE_STATUS_CODE } = Empty,
        { attr::http::STATUS_CODE } = Empty,
        { attr::request::ID } = request_id.to_str().unwrap_or_default(),
        { baggage::ORDER_USER_ID } = bag.get(baggage::ORDER_USER_ID).map(|v| v.as_str()),
        { baggage::ORDER_CORRELATION_ID } = bag.get(baggage::ORDER_CORRELATION_ID).map(|v| v.as_str()),
    );
    let _ = span.set_parent(parent);
    let span_context = span.context().span().span_context().clone();
    let ids = span_context
        .is_valid()
        .then(|| (span_context.trace_id(), span_context.span_id()));

    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            async {
                let user_agent = user_agent
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info!(
                    method = method.as_str(),
                    path,
                    user_agent,
                    "Request started"
                );
                let response = next.run(req).await;
                let status = response.status().as_u16();
                let duration = start.elapsed();
                let current = tracing::Span::current();
                current.record(attr::http::RESPONSE_STATUS_CODE, status);
                current.record(attr::http::STATUS_CODE, status);
                if status >= 500 {
                    current.record(attr::otel::STATUS_CODE, "ERROR");
                }
                tracing::info!(
                    method = method.as_str(),
                    path,
                    status_code = status,
                    duration_ms = duration.as_secs_f64() * 1000.0,
                    "Request completed"
                );
                response
            }
            .instrument(span),
        )
        .await;

    metrics.http_request(HttpObservation {
        method: &method,
        endpoint: route,
        status: response.status().as_u16(),
        duration: start.elapsed(),
        trace_id: ids.map(|(trace_id, _)| trace_id),
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

/// A relay's delivery of a batch of messages: counted and answered with its request id, but
/// with no server span (each message in it is traced by a CONSUMER span of its own, linked to
/// its producer; a span for the batch would be a trace shared by unrelated orders).
async fn untraced(
    metrics: Metrics,
    req: Request,
    next: Next,
    start: Instant,
    request_id: HeaderValue,
) -> Response {
    let method = req.method().clone();
    let mut response = REQUEST_ID.scope(request_id.clone(), next.run(req)).await;
    let status = response.status().as_u16();
    tracing::debug!(
        method = method.as_str(),
        path = names::route::EVENTS,
        status_code = status,
        duration_ms = start.elapsed().as_secs_f64() * 1000.0,
        "Event batch received"
    );
    metrics.http_request(HttpObservation {
        method: &method,
        endpoint: names::route::EVENTS,
        status,
        duration: start.elapsed(),
        trace_id: None,
    });
    response.headers_mut().insert(X_REQUEST_ID, request_id);
    response
}
