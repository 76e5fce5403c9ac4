//! Spans of every shape the encoder meets, and what opentelemetry-proto's transform makes of
//! them: the reference the hand-written encoding is compared with.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

pub(super) use super::sample::server_span;

/// What opentelemetry-otlp's HTTP exporter would have sent.
pub(super) fn transformed(spans: &[SpanData], resource: &Resource) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(
            spans.to_vec(),
            &ResourceAttributesWithSchema::from(resource),
        ),
    }
}

/// One resource for all tests: its attributes iterate in an order of its own (a `HashMap`'s), so
/// the encoder and the transform must be given the same one.
pub(super) fn resource() -> Resource {
    static RESOURCE: LazyLock<Resource> = LazyLock::new(build_resource);
    RESOURCE.clone()
}

fn build_resource() -> Resource {
    Resource::builder_empty()
        .with_service_name("order-service")
        .with_schema_url(
            [
                KeyValue::new("service.version", "1.2.3"),
                KeyValue::new(
                    "service.instance.id",
                    "5fa3339a-90b1-4dd3-b595-68c368b203d5",
                ),
                // Long enough that the resource's length takes two bytes.
                KeyValue::new("host.description", "x".repeat(140)),
            ],
            "https://opentelemetry.io/schemas/1.36.0",
        )
        .build()
}

/// One attribute of every value type, arrays (empty ones too) included.
pub(super) fn every_value() -> Vec<KeyValue> {
    let s = |v: &str| StringValue::from(v.to_owned());
    vec![
        KeyValue::new("bool.true", true),
        KeyValue::new("bool.false", false),
        KeyValue::new("int.zero", 0_i64),
        KeyValue::new("int.negative", -42_i64),
        KeyValue::new("int.large", i64::MAX),
        KeyValue::new("double", 3.25),
        KeyValue::new("double.zero", 0.0),
        KeyValue::new("string", "GET /products/{id}"),
        KeyValue::new("string.empty", ""),
        KeyValue::new("string.long", "é".repeat(150)),
        KeyValue::new("", "empty key"),
        KeyValue::new("bools", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("ints", Value::Array(Array::I64(vec![0, -1, 300]))),
        KeyValue::new("doubles", Value::Array(Array::F64(vec![0.0, -1.5]))),
        KeyValue::new(
            "strings",
            Value::Array(Array::String(vec![s("a"), s(""), s(&"long".repeat(40))])),
        ),
        KeyValue::new("empty.array", Value::Array(Array::I64(vec![]))),
    ]
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn context(trace: u128, span: u64, sampled: bool, remote: bool, state: &str) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let state = if state.is_empty() {
        TraceState::NONE
    } else {
        state.parse().expect("a valid tracestate")
    };
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        flags,
        remote,
        state,
    )
}

/// The smallest span the SDK can produce: no parent, attributes, events or links.
pub(super) fn bare_span(scope: &InstrumentationScope) -> SpanData {
    SpanData {
        span_context: context(1, 1, false, false, ""),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(""),
        start_time: UNIX_EPOCH,
        end_time: UNIX_EPOCH,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: Status::Unset,
        instrumentation_scope: scope.clone(),
    }
}

/// A scope with a version, schema URL and attributes, twice: the attributes in two orders.
pub(super) fn store_scopes() -> [InstrumentationScope; 2] {
    let scope = |attributes: [KeyValue; 2]| {
        InstrumentationScope::builder("tracemart::store")
            .with_version("0.1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.36.0")
            .with_attributes(attributes)
            .build()
    };
    let system = KeyValue::new("db.system", "sqlite");
    let name = KeyValue::new("db.name", "orders");
    [scope([system.clone(), name.clone()]), scope([name, system])]
}

/// Every field the transform writes, across three scopes met in interleaved order.
pub(super) fn varied_spans() -> Vec<SpanData> {
    let http = InstrumentationScope::builder("order-service").build();
    // The same scope twice, its attributes in another order: one group.
    let [db, db_reordered] = store_scopes();
    let empty = InstrumentationScope::builder("").build();

    let mut error = server_span(&http, 2);
    error.span_kind = SpanKind::Client;
    error.status = Status::error("upstream timed out");
    error.span_context = context(7, 8, true, false, "vendor=a1,other=b:2");
    error.dropped_attributes_count = 3;
    let mut events = SpanEvents::default();
    events.events = vec![
        Event::new(
            "exception",
            time(1_764_110_867_615_700_000),
            every_value(),
            1,
        ),
        Event::new("", UNIX_EPOCH, Vec::new(), 0),
        Event::new("retry", time(1), vec![KeyValue::new("attempt", 2_i64)], 0),
    ];
    events.dropped_count = 4;
    error.events = events;
    let mut links = SpanLinks::default();
    links.links = vec![
        Link::new(
            context(9, 10, true, true, "k=v"),
            vec![KeyValue::new("link.kind", "follows")],
            5,
        ),
        Link::new(context(11, 12, false, false, ""), Vec::new(), 0),
    ];
    links.dropped_count = 6;
    error.links = links;

    let mut ok = bare_span(&db);
    ok.span_kind = SpanKind::Producer;
    ok.status = Status::Ok;
    ok.name = Cow::Owned("INSERT orders".to_owned());
    ok.attributes = every_value();
    ok.parent_span_id = SpanId::from(77);

    let mut error_without_message = bare_span(&db_reordered);
    error_without_message.span_kind = SpanKind::Consumer;
    error_without_message.status = Status::error("");

    let mut before_epoch = bare_span(&empty);
    before_epoch.start_time = UNIX_EPOCH - Duration::from_secs(1);

    vec![
        server_span(&http, 1),
        ok,
        error,
        bare_span(&empty),
        error_without_message,
        before_epoch,
        server_span(&http, 3),
    ]
}
