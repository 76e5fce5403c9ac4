//! Telemetry for every tracemart service, written once: OpenTelemetry traces and logs over
//! OTLP, W3C propagation, the seed's JSON log lines and Prometheus metrics.

mod config;
pub mod events;
mod export_queue;
mod ids;
mod init;
mod intern;
mod logs;
mod metrics;
pub mod names;
mod otlp;
mod process;
mod server;
mod span;

pub use config::{
    LogFile, LogFormat, OtlpExportSettings, OtlpProtocol, SamplerSetting, TelemetryConfig,
};
pub use export_queue::spans_dropped;
pub use init::{TelemetryError, TelemetryGuard, init};
pub use metrics::{
    CircuitState, ConnectionDrop, HttpObservation, Metrics, OPENMETRICS_CONTENT_TYPE, OrderOutcome,
    PROMETHEUS_CONTENT_TYPE, SagaOutcome, UserSegment,
};
/// Span kinds, for [`Span::build`].
pub use opentelemetry::trace::SpanKind;
pub use server::{UNMATCHED_ROUTE, trace_http};
pub use span::{
    Span, SpanSite, SpanStart, context_from_carrier, current_request_id, current_trace_id,
    detached_context, in_span, order_baggage_attributes, with_baggage,
};

/// Not API: what the benches measure on their own, and the set-up they measure under.
#[doc(hidden)]
pub mod bench;
