//! The server stack every service shares: its routes plus `/health`, `/health/ready`,
//! `/metrics`, `/openapi.json`, a JSON 404, and the cross-cutting layers, composed once.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tracemart_contracts::ErrorBody;
use tracemart_telemetry::{Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{OpenApi, ToSchema};

use crate::config::ServiceName;
use crate::error::ApiError;

/// Largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// A request still running after this is answered 408 (longer than any downstream timeout
/// would be pointless for a client, shorter would cut legitimate work). Its handler is dropped
/// then: nothing a request does outlives this.
pub const SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// A readiness probe: `Ok` or the name of what is not ready.
pub type ReadyCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// A service's routes with everything every service has.
pub struct ServiceApp {
    pub name: ServiceName,
    pub metrics: Metrics,
    pub ready: ReadyCheck,
    /// The OpenAPI document of the service's own routes; the shared ones are added to it.
    pub api: OpenApiDocument,
    /// Checks the callers' tokens.
    pub auth: Arc<crate::identity::Authenticator>,
    /// The faults set on purpose (`/admin/faults`).
    pub faults: crate::faults::Faults,
    /// `/admin/*` answers clients beyond loopback too (`admin_remote`).
    pub admin_remote: bool,
}

#[derive(Clone)]
struct Meta {
    name: ServiceName,
    metrics: Metrics,
    ready: ReadyCheck,
    /// The whole OpenAPI document, rendered once; each answer shares its bytes.
    api: Bytes,
}

/// The routes every service has, as OpenAPI describes them.
#[derive(OpenApi)]
#[openapi(
    paths(health, ready, metrics, openapi_json),
    components(schemas(ErrorBody))
)]
struct SharedRoutes;

/// The service's document with the shared routes, named and versioned.
fn document(name: ServiceName, mut api: OpenApiDocument) -> Bytes {
    api.merge(SharedRoutes::openapi());
    api.info.title = name.service_name().to_owned();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(format!(
        "The {} of tracemart, an observable microservices shop.",
        name.service_name()
    ));
    // Serialising a document of plain values cannot fail; an empty one would say so anyway.
    Bytes::from(api.to_pretty_json().unwrap_or_default())
}

impl ServiceApp {
    /// Wraps `routes` with health, readiness, metrics, the OpenAPI document, the 404 fallback
    /// and the layers.
    pub fn into_router(self, routes: Router) -> Router {
        let auth = self.auth.clone();
        let faults = crate::faults::FaultState {
            faults: self.faults,
            metrics: self.metrics.clone(),
        };
        let meta = Meta {
            name: self.name,
            metrics: self.metrics.clone(),
            ready: self.ready,
            api: document(self.name, self.api),
        };
        let common = Router::new()
            .route("/health", get(health))
            .route("/health/ready", get(ready))
            .route("/metrics", get(metrics))
            .route("/openapi.json", get(openapi_json))
            .with_state(meta);
        routes
            .merge(common)
            .merge(crate::faults::admin_routes(faults.clone()))
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
            // Inside the timeout, so that a hanging fault still ends in a 408.
            .layer(axum::middleware::from_fn_with_state(
                faults,
                crate::faults::inject,
            ))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                SERVER_TIMEOUT,
            ))
            // Who is calling, inside the tracing layer so that a refused token is logged.
            .layer(axum::middleware::from_fn_with_state(
                auth.clone(),
                crate::identity::authenticate,
            ))
            // Before any token is read: a remote client gets no further than its address.
            .layer(axum::middleware::from_fn_with_state(
                self.admin_remote,
                admin_from_loopback,
            ))
            // Outermost: request id, trace context, server span, RED metrics, access logs.
            .layer(axum::middleware::from_fn_with_state(
                self.metrics,
                tracemart_telemetry::trace_http,
            ))
            // Before the trace context is read: a client cannot set the shop's own baggage.
            .layer(axum::middleware::from_fn_with_state(
                auth,
                crate::identity::strip_client_baggage,
            ))
    }
}

/// Middleware: `/admin/*` answers loopback peers only, unless `allow_remote`. A request
/// whose peer is unknown (not served from a socket) is refused too: closed unless proven open.
async fn admin_from_loopback(
    State(allow_remote): State<bool>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    if allow_remote || !(path == "/admin" || path.starts_with("/admin/")) {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_canonical());
    match peer {
        Some(ip) if ip.is_loopback() => next.run(req).await,
        _ => ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_loopback_only",
            "Admin endpoints answer on loopback only (admin_remote, TRACEMART_ADMIN_REMOTE)",
        )
        .into_response(),
    }
}

/// `GET /health`: the process is up (the seed's body).
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `healthy`.
    status: &'static str,
    service: &'static str,
    version: &'static str,
    /// RFC 3339, milliseconds, UTC.
    timestamp: String,
}

/// `GET /health/ready`: whether the service can do its work.
#[derive(Serialize, ToSchema)]
struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    service: &'static str,
    /// What is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn health(State(meta): State<Meta>) -> Json<Health> {
    Json(Health {
        status: "healthy",
        service: meta.name.service_name(),
        version: env!("CARGO_PKG_VERSION"),
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// Readiness: the service's database (and what else it needs) answers.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "Not ready; `reason` says what", body = Readiness)))]
async fn ready(State(meta): State<Meta>) -> Response {
    let service = meta.name.service_name();
    match (meta.ready)().await {
        Ok(()) => Json(Readiness {
            status: "ready",
            service,
            reason: None,
        })
        .into_response(),
        Err(what) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Readiness {
                status: "not_ready",
                service,
                reason: Some(what),
            }),
        )
            .into_response(),
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The service's OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(State(meta): State<Meta>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        meta.api.clone(),
    )
        .into_response()
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text, or OpenMetrics (with exemplars) when the Accept header asks for it", content_type = "text/plain")))]
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
