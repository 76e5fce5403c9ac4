//! The server stack every service shares: its routes plus `/health`, `/health/ready`,
//! `/metrics`, a JSON 404, and the cross-cutting layers, composed once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderMap, StatusCode, header};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tracemart_telemetry::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};

use crate::config::ServiceName;
use crate::error::ApiError;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request still running after this is answered 408 (longer than any downstream timeout
/// would be pointless for a client, shorter would cut legitimate work).
const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A readiness probe: `Ok` or the name of what is not ready.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A service's routes with everything every service has.
pub struct ServiceApp {
    pub name: ServiceName,
    pub metrics: Metrics,
    pub ready: ReadyCheck,
}

#[derive(Clone)]
struct Meta {
    name: ServiceName,
    metrics: Metrics,
    ready: ReadyCheck,
}

impl ServiceApp {
    /// Wraps `routes` with health, readiness, metrics, the 404 fallback and the layers.
    pub fn into_router(self, routes: Router) -> Router {
        let meta = Meta {
            name: self.name,
            metrics: self.metrics.clone(),
            ready: self.ready,
        };
        let common = Router::new()
            .route("/health", get(health))
            .route("/health/ready", get(ready))
            .route("/metrics", get(metrics))
            .with_state(meta);
        routes
            .merge(common)
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            // Innermost first: a body over the limit is rejected by the extractor (413).
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            // A panic becomes a 500 that still passes through metrics and logs below.
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal server error",
                )
                .into_response()
            }))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                SERVER_TIMEOUT,
            ))
            // Outermost: request id, trace context, server span, RED metrics, access logs.
            .layer(axum::middleware::from_fn_with_state(
                self.metrics,
                tracemart_telemetry::trace_http,
            ))
    }
}

async fn health(State(meta): State<Meta>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "healthy",
        "service": meta.name.service_name(),
        "version": env!("CARGO_PKG_VERSION"),
        "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
}

async fn ready(State(meta): State<Meta>) -> Response {
    match (meta.ready)().await {
        Ok(()) => Json(serde_json::json!({
            "status": "ready",
            "service": meta.name.service_name(),
        }))
        .into_response(),
        Err(what) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({
                "status": "not_ready",
                "service": meta.name.service_name(),
                "reason": what,
            })),
        )
            .into_response(),
    }
}

async fn metrics(State(meta): State<Meta>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    match meta.metrics.render(openmetrics) {
        Ok(body) => {
            let ct = if openmetrics {
                OPENMETRICS_CONTENT_TYPE
            } else {
                PROMETHEUS_CONTENT_TYPE
            };
            ([(header::CONTENT_TYPE, ct)], body).into_response()
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("route_not_found", "No such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed on this endpoint",
    )
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
