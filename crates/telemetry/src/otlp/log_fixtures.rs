//! Log records of every shape the encoder meets, and what opentelemetry-proto's transform makes
//! of them: the reference the hand-written log encoding is compared with.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::trace::{SpanId, TraceFlags, TraceId};
use opentelemetry::{InstrumentationScope, Key};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord, SdkLogger, SdkLoggerProvider};

pub(super) use super::sample::server_log_record;

/// Records with the scope they were emitted under, as the batch log processor keeps them.
pub(super) type Records = Vec<(SdkLogRecord, InstrumentationScope)>;

/// `f` given `records` as the SDK hands them to an exporter.
pub(super) fn with_batch<T>(records: &Records, f: impl FnOnce(&LogBatch<'_>) -> T) -> T {
    let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
        records.iter().map(|(r, s)| (r, s)).collect();
    f(&LogBatch::new(&pairs))
}

/// What opentelemetry-otlp's HTTP exporter would have sent, its scope groups put in the order
/// of `order`'s (the transform's own order is a `HashMap`'s, different from run to run).
pub(super) fn transformed_logs(
    records: &Records,
    resource: &Resource,
    order: &ExportLogsServiceRequest,
) -> ExportLogsServiceRequest {
    let mut resource_logs = with_batch(records, |batch| {
        group_logs_by_resource_and_scope(batch, &ResourceAttributesWithSchema::from(resource))
    });
    if let (Some(expected), Some(wanted)) = (resource_logs.first_mut(), order.resource_logs.first())
    {
        let key = |g: &opentelemetry_proto::tonic::logs::v1::ScopeLogs| {
            (g.scope.clone(), g.schema_url.clone())
        };
        let rank = |g: &opentelemetry_proto::tonic::logs::v1::ScopeLogs| {
            wanted
                .scope_logs
                .iter()
                .position(|w| key(w) == key(g))
                .unwrap_or(usize::MAX)
        };
        expected.scope_logs.sort_by_key(rank);
    }
    ExportLogsServiceRequest { resource_logs }
}

/// An empty record as the SDK emits it: with an observed time (the transform needs one).
fn record() -> SdkLogRecord {
    static LOGGER: LazyLock<SdkLogger> =
        LazyLock::new(|| SdkLoggerProvider::builder().build().logger("fixtures"));
    let mut record = LOGGER.create_log_record();
    record.set_observed_timestamp(time(1_764_110_867_615_681_000));
    record
}

fn time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

/// A map of several entries (their order is the map's own), one of them nesting.
fn map() -> AnyValue {
    let mut inner = HashMap::new();
    inner.insert(Key::from("depth"), AnyValue::Int(2));
    let mut map = HashMap::new();
    map.insert(Key::from("a"), AnyValue::from("1"));
    map.insert(Key::from("b"), AnyValue::Boolean(false));
    map.insert(Key::from("c"), AnyValue::Double(-0.5));
    map.insert(Key::from(""), AnyValue::Int(0));
    map.insert(Key::from("nested"), AnyValue::Map(Box::new(inner)));
    AnyValue::Map(Box::new(map))
}

/// One value of every kind, empty and nested ones included.
pub(super) fn every_log_value() -> Vec<(&'static str, AnyValue)> {
    let long = "é".repeat(150);
    vec![
        ("int", AnyValue::Int(-42)),
        ("int.zero", AnyValue::Int(0)),
        ("int.large", AnyValue::Int(i64::MAX)),
        ("double", AnyValue::Double(3.25)),
        ("double.zero", AnyValue::Double(0.0)),
        ("string", AnyValue::from("GET /products/{id}")),
        ("string.empty", AnyValue::from("")),
        ("string.long", AnyValue::from(long)),
        ("bool.true", AnyValue::Boolean(true)),
        ("bool.false", AnyValue::Boolean(false)),
        ("bytes", AnyValue::Bytes(Box::new(vec![0, 1, 255]))),
        ("bytes.empty", AnyValue::Bytes(Box::default())),
        (
            "list",
            AnyValue::ListAny(Box::new(vec![
                AnyValue::Int(1),
                AnyValue::from("two"),
                AnyValue::ListAny(Box::new(vec![AnyValue::Boolean(true)])),
                map(),
            ])),
        ),
        ("list.empty", AnyValue::ListAny(Box::default())),
        ("map", map()),
        ("map.empty", AnyValue::Map(Box::default())),
        ("", AnyValue::from("empty key")),
    ]
}

/// Every field the transform writes, across scopes met in interleaved order, grouped (or not)
/// by target, version, schema URL and attributes.
pub(super) fn varied_records() -> Records {
    let bridge = InstrumentationScope::builder("").build();
    // The same scope twice, its attributes in another order: one group.
    let [store, store_reordered] = super::fixtures::store_scopes();
    // An empty version and schema URL group with absent ones.
    let bridge_empty_version = InstrumentationScope::builder("")
        .with_version("")
        .with_schema_url("")
        .build();
    let other_bridge = InstrumentationScope::builder("another-bridge").build();

    let mut full = server_log_record(1);
    full.set_timestamp(time(1_764_110_867_615_700_000));
    for (key, value) in every_log_value() {
        full.add_attribute(key, value);
    }

    let mut bare = record();
    bare.set_observed_timestamp(time(1));

    let mut no_flags = record();
    no_flags.set_trace_context(TraceId::from(7_u128), SpanId::from(8_u64), None);
    no_flags.set_severity_number(Severity::Fatal4);
    no_flags.set_observed_timestamp(UNIX_EPOCH - Duration::from_secs(1));
    no_flags.set_target("tracemart_order::saga");

    let mut unsampled = record();
    unsampled.set_trace_context(
        TraceId::from(9_u128),
        SpanId::from(10_u64),
        Some(TraceFlags::default()),
    );
    unsampled.set_severity_text("WARN");
    unsampled.set_event_name("order.created");
    unsampled.set_body(AnyValue::Int(3));
    unsampled.set_target("tracemart_order::saga");

    let mut bodies: Records = every_log_value()
        .into_iter()
        .map(|(_, body)| {
            let mut r = server_log_record(2);
            r.set_body(body);
            (r, store.clone())
        })
        .collect();
    // Between the store's records: the same group, although its attributes are reordered.
    bodies.insert(3, (server_log_record(3), store_reordered));

    let mut records = vec![
        (full, bridge.clone()),
        (bare.clone(), bridge.clone()),
        (no_flags, bridge_empty_version.clone()),
        (server_log_record(4), other_bridge.clone()),
        (unsampled, other_bridge),
        (bare, bridge_empty_version),
    ];
    records.extend(bodies);
    records.push((server_log_record(5), bridge));
    records
}
