//! Not API: the pieces `benches/trace_http.rs` and `benches/span_paths.rs` measure, and the
//! telemetry set-up of `init` with the span exporter swapped, so a bench pays for the same
//! layers, sampler and batching as a service does without posting anything.

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};

use crate::{TelemetryConfig, TelemetryError, TelemetryGuard};

pub use crate::otlp::{LogEncoder, ScopeGroups, TraceEncoder, server_log_record, server_span};

/// [`init`](crate::init) with ended spans batched for `exporter` instead of an OTLP endpoint
/// (and no log export).
pub fn init_exporting_spans_to<E: SpanExporter + 'static>(
    config: &TelemetryConfig,
    exporter: E,
) -> Result<TelemetryGuard, TelemetryError> {
    crate::init::init_exporting_spans_to(config, exporter)
}

/// The tracer provider `guard` installed (`None` with the SDK disabled).
pub fn tracer_provider(guard: &TelemetryGuard) -> Option<&SdkTracerProvider> {
    guard.tracer_provider()
}

/// The resource `init` gives the providers for `config`.
pub fn resource(config: &TelemetryConfig) -> Resource {
    crate::init::resource(config)
}
