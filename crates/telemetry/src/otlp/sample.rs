//! A realistic span and log record, those `trace_http` and a handler's `info!` record for a
//! product request: shared by the encoders' tests and the telemetry bench, so both measure and
//! check the same shapes.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// A server span as `trace_http` records it, child of a remote parent.
pub fn server_span(scope: &InstrumentationScope, n: u64) -> SpanData {
    let path = format!("/products/{}", n % 100);
    let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_110_867_615_681_000 + n);
    SpanData {
        span_context: SpanContext::new(
            TraceId::from(u128::from(n) + 1),
            SpanId::from(n + 1),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id: SpanId::from(n + 1_000_000),
        parent_span_is_remote: true,
        span_kind: SpanKind::Server,
        name: "GET /products/{id}".into(),
        start_time: start,
        end_time: start + Duration::from_micros(300),
        attributes: vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.route", "/products/{id}"),
            KeyValue::new("url.path", path.clone()),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.target", path),
            KeyValue::new("request_id", "5fa3339a-90b1-4dd3-b595-68c368b203d5"),
            KeyValue::new("order.user_id", "7"),
            KeyValue::new(
                "order.correlation_id",
                "5fa3339a-90b1-4dd3-b595-68c368b203d5",
            ),
            KeyValue::new("code.file.path", "crates/telemetry/src/server.rs"),
            KeyValue::new("code.module.name", "tracemart_telemetry::server"),
            KeyValue::new("code.line.number", 104_i64),
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.status_code", 200_i64),
        ],
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

/// A log record as the tracing bridge makes of a handler's `info!` inside a server span.
pub fn server_log_record(n: u64) -> SdkLogRecord {
    // Records are only made by a logger; one without processors makes them and nothing else.
    static LOGGER: LazyLock<SdkLogger> =
        LazyLock::new(|| SdkLoggerProvider::builder().build().logger("tracemart"));
    let mut record = LOGGER.create_log_record();
    record.set_target("tracemart_product::api");
    record.set_event_name("event crates/services/product/src/api.rs:57");
    record.set_severity_number(Severity::Info);
    record.set_severity_text("INFO");
    record.set_body(AnyValue::from("product loaded"));
    record.add_attribute("product.id", AnyValue::Int((n % 100) as i64));
    record.add_attribute(
        "request_id",
        AnyValue::from("5fa3339a-90b1-4dd3-b595-68c368b203d5"),
    );
    record.add_attribute("stock", AnyValue::Int(12));
    record.set_trace_context(
        TraceId::from(u128::from(n) + 1),
        SpanId::from(n + 1),
        Some(TraceFlags::SAMPLED),
    );
    record.set_observed_timestamp(
        SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_110_867_615_681_000 + n),
    );
    record
}
