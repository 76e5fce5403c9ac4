//! Metrics of the connections a service holds: how many are open, and how many it dropped to
//! stay within its connection limit (slow or stalled clients, or too many of them).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;
use crate::names::metric;

/// Why a connection was closed by the server before its client was done with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionDrop {
    /// The limit was reached and every open connection had sent a request: the new one was
    /// answered 503 and closed.
    Refused,
    /// The limit was reached: the oldest connection that had not sent a whole request yet was
    /// closed to make room.
    Evicted,
}

impl ConnectionDrop {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Evicted => "evicted",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    reason: &'static str,
}

pub(super) struct ConnectionMetrics {
    open: Gauge,
    dropped: Family<DropLabels, Counter>,
}

impl ConnectionMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            open: Gauge::default(),
            dropped: Family::default(),
        };
        registry.register(
            metric::HTTP_CONNECTIONS_OPEN,
            "HTTP connections open now",
            m.open.clone(),
        );
        registry.register(
            metric::HTTP_CONNECTIONS_DROPPED,
            "HTTP connections closed by the server to stay within its connection limit, by reason",
            m.dropped.clone(),
        );
        m
    }
}

impl Metrics {
    /// A connection was accepted (`+1`) or has closed (`-1`).
    pub fn connections_open_add(&self, delta: i64) {
        self.inner.connections.open.inc_by(delta);
    }

    pub fn connection_dropped(&self, reason: ConnectionDrop) {
        self.inner
            .connections
            .dropped
            .get_or_create(&DropLabels {
                reason: reason.as_str(),
            })
            .inc();
    }
}
