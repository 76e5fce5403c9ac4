//! A service's connections: the limits its configuration sets, and their counts as metrics.
//! The serving itself (header-read timeout, cap, eviction, a stop that does not wait on idle
//! connections) is `tracemart-serve`'s, shared with the console.

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;
use tracemart_serve::{ConnectionObserver, Dropped};
use tracemart_telemetry::{ConnectionDrop, Metrics};

pub use tracemart_serve::ConnectionLimits;

use crate::ShopConfig;

/// File descriptors kept for everything but inbound connections: the database, log files,
/// the OTLP exporter, listeners.
const RESERVED_FILES: u64 = 32;

/// The configured limits, with the connection cap lowered to fit the process's open-file
/// limit (each connection is a file; so are the pooled connections to each other service).
pub fn connection_limits(config: &ShopConfig) -> ConnectionLimits {
    let outbound = 4 * u64::try_from(config.downstream_concurrency).unwrap_or(u64::MAX);
    let reserved = RESERVED_FILES.saturating_add(outbound);
    ConnectionLimits::new(
        std::time::Duration::from_millis(config.header_read_timeout_ms),
        tracemart_serve::fit_to_open_files(config.max_connections, reserved),
    )
}

/// Counts a service's connections in `http_connections_open` and
/// `http_connections_dropped_total{reason}`.
struct ConnectionMetrics(Metrics);

impl ConnectionObserver for ConnectionMetrics {
    fn opened(&self) {
        self.0.connections_open_add(1);
    }

    fn closed(&self) {
        self.0.connections_open_add(-1);
    }

    fn dropped(&self, why: Dropped) {
        self.0.connection_dropped(match why {
            Dropped::Evicted => ConnectionDrop::Evicted,
            Dropped::Refused => ConnectionDrop::Refused,
        });
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, within `limits`, counting its
/// connections in `metrics`.
pub async fn serve(
    router: Router,
    listener: TcpListener,
    limits: ConnectionLimits,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracemart_serve::serve(
        router,
        listener,
        limits,
        ConnectionMetrics(metrics),
        shutdown,
    )
    .await
}
