//! Telemetry for every tracemart service, written once: OpenTelemetry traces and logs over
//! OTLP, W3C propagation, the seed's JSON log lines and Prometheus metrics.

mod client_span;
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
mod spans;

pub use client_span::{ClientSpan, SpanSite, start_client_span};
pub use config::{
    LogFile, LogFormat, OtlpExportSettings, OtlpProtocol, SamplerSetting, TelemetryConfig,
};
pub use export_queue::spans_dropped;
pub use init::{TelemetryError, TelemetryGuard, init};
pub use metrics::{
    CircuitState, ConnectionDrop, HttpObservation, Metrics, OPENMETRICS_CONTENT_TYPE, OrderOutcome,
    PROMETHEUS_CONTENT_TYPE, SagaOutcome, UserSegment,
};
pub use server::{UNMATCHED_ROUTE, current_request_id, trace_http};
pub use spans::{
    context_carrier, context_from_carrier, current_trace_id, inject_context, record_error,
    with_baggage,
};

/// Not API: what the benches measure on their own, and the set-up they measure under.
#[doc(hidden)]
pub mod bench;
