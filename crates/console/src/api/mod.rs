//! The UI port's router: Jaeger's query API, the console's own endpoints, the embedded UI and
//! `/health`.

mod console;
mod diagnose;
mod jaeger;
mod jaeger_trace;
mod metrics;
mod params;
mod processes;
mod related;
mod trace_reads;

use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::store::Store;
use crate::ui;

pub(crate) use processes::Processes;
pub(crate) use trace_reads::TraceReads;

/// What the API handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) store: Store,
    /// The span budget of the answers that return whole traces.
    pub(crate) reads: TraceReads,
    /// The control API of the `up` this console runs under, if it does.
    pub(crate) processes: Processes,
    /// How often metrics are scraped: a metric's steps are at least two intervals by default.
    pub(crate) scrape_interval: std::time::Duration,
}

/// `GET /health`: liveness, on both the UI and the OTLP HTTP port.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "healthy", "service": "console", "version": env!("CARGO_PKG_VERSION")}))
}

/// Routes of the UI port.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/services", get(jaeger::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger::service_operations),
        )
        .route("/api/operations", get(jaeger::operations))
        .route("/api/traces", get(jaeger::search))
        .route("/api/traces/{trace_id}", get(jaeger::trace))
        .route("/api/dependencies", get(jaeger::dependencies))
        .route("/api/console/traces", get(console::trace_summaries))
        .route(
            "/api/console/traces/{trace_id}/logs",
            get(console::trace_logs),
        )
        .route(
            "/api/console/traces/{trace_id}/related",
            get(related::related_traces),
        )
        .route("/api/console/logs", get(console::logs))
        .route("/api/console/services", get(console::services))
        .route(
            "/api/console/services/{service}/operations",
            get(console::operations),
        )
        .route("/api/console/stats", get(console::series))
        .route("/api/console/map", get(console::service_map))
        .route("/api/console/metrics", get(metrics::list))
        .route("/api/console/metrics/query", get(metrics::query))
        .route("/api/diagnose", get(diagnose::diagnose))
        .route("/api/processes", get(processes::list))
        .route("/api/processes/{name}/{action}", post(processes::act))
        .fallback(ui::serve)
        .with_state(state)
}
