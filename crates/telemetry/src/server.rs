//! The server side of every service: request id, W3C extraction, server span, RED metrics,
//! "Request started/completed" log lines and the `X-Request-ID` / `X-Trace-ID` / `X-Span-ID`
//! response headers, in one axum middleware so their order can never drift apart.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::metrics::{HttpObservation, Metrics};
use crate::names::{baggage, header};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, for error bodies; `None` outside a request.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Label for requests that matched no route: keeps `endpoint` bounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Longest propagation header we accept; longer ones are ignored as malformed (W3C limits
/// baggage to 8192 bytes; a traceparent is 55).
const MAX_PROPAGATION_HEADER: usize = 8192;

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
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get(header::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The middleware; install with `axum::middleware::from_fn_with_state(metrics, trace_http)`
/// as the outermost layer of the router.
pub async fn trace_http(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = request_id(req.headers());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&BoundedHeaders(req.headers()))
    });
    let bag = parent.baggage();
    let bag_user = bag.get(baggage::ORDER_USER_ID).map(|v| v.to_string());
    let bag_correlation = bag
        .get(baggage::ORDER_CORRELATION_ID)
        .map(|v| v.to_string());

    let span = tracing::info_span!(
        target: "tracemart::http",
        "http.server",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %path,
        url.scheme = "http",
        http.method = %method,
        http.target = %path,
        http.response.status_code = Empty,
        http.status_code = Empty,
        request_id = %request_id,
        order.user_id = bag_user.as_deref(),
        order.correlation_id = bag_correlation.as_deref(),
    );
    let _ = span.set_parent(parent);
    let span_context = span.context().span().span_context().clone();
    let trace_id = span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string());

    let user_agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            async {
                tracing::info!(method = %method, path = %path, user_agent = %user_agent, "Request started");
                let response = next.run(req).await;
                let status = response.status().as_u16();
                let duration = start.elapsed();
                let current = tracing::Span::current();
                current.record("http.response.status_code", status);
                current.record("http.status_code", status);
                if status >= 500 {
                    current.record("otel.status_code", "ERROR");
                }
                tracing::info!(
                    method = %method,
                    path = %path,
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
        endpoint: &route,
        status: response.status().as_u16(),
        duration: start.elapsed(),
        trace_id: trace_id.clone(),
    });

    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(header::REQUEST_ID, v);
    }
    if let Some(trace_id) = trace_id {
        if let Ok(v) = HeaderValue::from_str(&trace_id) {
            headers.insert(header::TRACE_ID, v);
        }
        if let Ok(v) = HeaderValue::from_str(&span_context.span_id().to_string()) {
            headers.insert(header::SPAN_ID, v);
        }
    }
    response
}
