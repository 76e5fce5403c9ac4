//! tracemart's embedded telemetry backend: receives OTLP traces and logs (gRPC and HTTP,
//! protobuf and JSON), scrapes the `/metrics` of the targets it is given (`metrics/`), stores
//! them in SQLite with retention, answers Jaeger's query API, serves a web UI, and names the
//! likely culprit of recent failures and slowness from the stored traces (`diagnose/`). It
//! knows nothing of the shop but the URLs it scrapes.
//!
//! The binary binds the three listeners and calls [`run`]; tests use [`Console`] to also reach
//! the ingest queue ([`Ingest::flush`]).

mod access;
mod api;
mod config;
mod diagnose;
mod duration;
mod error;
mod metrics;
mod otlp;
mod percentile;
mod store;
mod ui;

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;

pub use access::Access;
pub use config::{ConsoleConfig, ScrapeTarget};
pub use error::ConsoleError;
pub use store::ingest::Ingest;
pub use store::retention::RetentionReport;

/// The three sockets the console serves, bound by the caller (port 0 in tests).
#[derive(Debug)]
pub struct ConsoleListeners {
    /// Web UI, Jaeger query API and `/health` (default 16686).
    pub ui: TcpListener,
    /// OTLP/gRPC (default 4317); OTLP/HTTP is accepted here too.
    pub otlp_grpc: TcpListener,
    /// OTLP/HTTP (default 4318) and `/health`; OTLP/gRPC is accepted here too.
    pub otlp_http: TcpListener,
}

/// Opens the store at `data_dir/console.db`, serves until `shutdown` resolves, then drains the
/// ingest queue and returns.
pub async fn run(
    config: ConsoleConfig,
    listeners: ConsoleListeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ConsoleError> {
    Console::open(config)
        .await?
        .serve(listeners, shutdown)
        .await
}

/// An opened console: the store is migrated and the writer is running.
#[derive(Debug)]
pub struct Console {
    config: ConsoleConfig,
    store: store::Store,
    ingest: Ingest,
    writer: store::ingest::WriterDone,
}

impl Console {
    /// Opens (creating or migrating) the store and starts the ingest writer.
    pub async fn open(config: ConsoleConfig) -> Result<Self, ConsoleError> {
        let (store, ingest, writer) = store::open(&config).await?;
        Ok(Self {
            config,
            store,
            ingest,
            writer,
        })
    }

    /// A handle to the ingest queue (to `flush` or to apply retention now).
    pub fn ingest(&self) -> Ingest {
        self.ingest.clone()
    }

    /// Serves the UI and both OTLP ports until `shutdown` resolves, then stores what is queued.
    pub async fn serve(
        self,
        listeners: ConsoleListeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ConsoleError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let receiver = otlp::Receiver {
            ingest: self.ingest.clone(),
            max_request_bytes: self.config.max_request_bytes,
            max_spans_per_request: self.config.max_spans_per_request.max(1),
        };
        // CatchPanicLayer: a bug in one request answers 500 instead of dropping the connection.
        let otlp_router = otlp::router(receiver)
            .layer(axum::middleware::from_fn_with_state(
                self.config.otlp_header.clone().map(std::sync::Arc::new),
                otlp::require_header,
            ))
            .layer(CatchPanicLayer::new());
        tokio::spawn(metrics::scrape::run(
            self.config.scrape_targets.clone(),
            scrape_interval(&self.config),
            self.ingest.clone(),
            stop_rx.clone(),
        ));
        let ui_router = api::router(api::AppState {
            store: self.store.clone(),
            reads: api::TraceReads::new(self.config.max_spans_per_answer),
            processes: api::Processes::new(self.config.processes_url.clone()),
            scrape_interval: scrape_interval(&self.config),
        })
        .layer(axum::middleware::from_fn_with_state(
            self.config.access.clone(),
            access::guard,
        ))
        .layer(CatchPanicLayer::new());
        for (name, listener) in [
            ("ui", &listeners.ui),
            ("otlp-grpc", &listeners.otlp_grpc),
            ("otlp-http", &listeners.otlp_http),
        ] {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(listener = name, %addr, "console listening");
            }
        }
        let limits = self.config.connection_limits();
        let servers = [
            (listeners.ui, ui_router),
            (listeners.otlp_grpc, otlp_router.clone()),
            (listeners.otlp_http, otlp_router),
        ]
        .map(|(listener, router)| {
            let mut stop = stop_rx.clone();
            // Each listener has its own cap; a stalled client of one cannot starve the others.
            tokio::spawn(tracemart_serve::serve(
                router,
                listener,
                limits.clone(),
                (),
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            ))
        });
        let mut result = Ok(());
        for server in servers {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(ConsoleError::Serve(e)),
                Err(e) => result = Err(ConsoleError::Serve(std::io::Error::other(e))),
            }
        }
        self.ingest.shutdown().await;
        if self.writer.await.is_err() {
            result = result.and(Err(ConsoleError::WriterGone));
        }
        self.store.close().await;
        result
    }
}

/// The scrape interval, at least 100 ms.
fn scrape_interval(config: &ConsoleConfig) -> Duration {
    config.scrape_interval.max(Duration::from_millis(100))
}
