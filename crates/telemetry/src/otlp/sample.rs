//! A realistic span, the one `trace_http` records for a product request: shared by the
//! encoder's tests and the telemetry bench, so both measure and check the same shape.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
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
