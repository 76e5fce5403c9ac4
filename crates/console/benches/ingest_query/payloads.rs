//! The OTLP export bodies the bench posts, pre-encoded so that encoding costs nothing during
//! the measurement.
//!
//! - bulk: the original synthetic load; exports of 100 traces (1,000 spans) over 3 services with
//!   8 attributes per span.
//! - shop: what `tracemart up` sends under load; an order is 20 spans over 4 services, with
//!   8–15 attributes each (the server layer's HTTP fields, tracing-opentelemetry's code and
//!   thread fields, SQL text on database spans), and 10 log records. Each service exports its
//!   own spans and logs in batches of 512, as the SDK's batch processors do. Ids are random,
//!   as real ones are.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

pub(crate) const BULK_SPANS_PER_TRACE: u64 = 10;
pub(crate) const BULK_TRACES_PER_EXPORT: u64 = 100;
const BULK_SERVICES: [&str; 3] = ["order", "inventory", "payment"];

pub(crate) const SHOP_SPANS_PER_ORDER: u64 = 20;
pub(crate) const SHOP_LOGS_PER_ORDER: u64 = 10;
/// The SDK's `max_export_batch_size`.
const SHOP_EXPORT_BATCH: usize = 512;
const SHOP_SERVICES: [&str; 4] = ["order", "user", "product", "inventory"];

use any_value::Value as V;

fn kv(key: &str, v: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn text(key: &str, v: impl Into<String>) -> KeyValue {
    kv(key, V::StringValue(v.into()))
}

fn int(key: &str, v: i64) -> KeyValue {
    kv(key, V::IntValue(v))
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            text("service.name", service),
            text("service.version", "0.1.0"),
            text("deployment.environment.name", "dev"),
            text("host.name", "bench-host"),
            text("telemetry.sdk.language", "rust"),
            text("telemetry.sdk.name", "opentelemetry"),
        ],
        ..Default::default()
    }
}

/// One bulk export: traces `first_trace..first_trace + 100`, started within `spread_ns`.
pub(crate) fn bulk_export(first_trace: u64, base_ns: u64, spread_ns: u64) -> Vec<u8> {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); BULK_SERVICES.len()];
    for t in first_trace..first_trace + BULK_TRACES_PER_EXPORT {
        let start = base_ns + (t * 7_919_000) % spread_ns;
        let trace_id = (u128::from(t) + 1).to_be_bytes().to_vec();
        for s in 0..BULK_SPANS_PER_TRACE {
            let service = (s % 3) as usize;
            let duration = 1_000_000 + (t * 31 + s * 17) % 200 * 1_000_000;
            let failed = t % 50 == 0 && s == 2;
            per_service[service].push(Span {
                trace_id: trace_id.clone(),
                span_id: (t * 16 + s + 1).to_be_bytes().to_vec(),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    (t * 16 + s / 3 * 3 + 1).to_be_bytes().to_vec()
                },
                name: format!(
                    "{} /{}/{{id}}",
                    ["GET", "POST"][(s % 2) as usize],
                    BULK_SERVICES[service]
                ),
                kind: if s % 3 == 0 { 2 } else { 3 },
                start_time_unix_nano: start + s * 100_000,
                end_time_unix_nano: start + s * 100_000 + duration,
                attributes: vec![
                    text("http.request.method", "POST"),
                    text("http.route", "/orders/{order_id}"),
                    int("http.response.status_code", if failed { 500 } else { 200 }),
                    int("user.id", (t % 1000) as i64),
                    text("order.id", format!("ord-{t}")),
                    text("net.peer.name", "127.0.0.1"),
                    kv("order.total_amount", V::DoubleValue(12.5)),
                    kv("cache.hit", V::BoolValue(t % 2 == 0)),
                ],
                status: failed.then(|| Status {
                    code: 2,
                    message: "boom".into(),
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: per_service
            .into_iter()
            .enumerate()
            .map(|(i, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![text("service.name", BULK_SERVICES[i])],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

/// What one service of the shop exports for `orders` orders: span bodies and log bodies,
/// each with the number of spans or records it holds.
#[derive(Default)]
pub(crate) struct ServiceExports {
    pub(crate) traces: Vec<(Vec<u8>, u64)>,
    pub(crate) logs: Vec<(Vec<u8>, u64)>,
}

/// Shop-shaped exports for `orders` orders, one entry per service.
pub(crate) fn shop_exports(orders: u64, base_ns: u64, spread_ns: u64) -> Vec<ServiceExports> {
    let mut spans: Vec<Vec<Span>> = vec![Vec::new(); SHOP_SERVICES.len()];
    let mut logs: Vec<Vec<LogRecord>> = vec![Vec::new(); SHOP_SERVICES.len()];
    for o in 0..orders {
        shop_order(
            o,
            base_ns + (o * 7_919_000) % spread_ns,
            &mut spans,
            &mut logs,
        );
    }
    SHOP_SERVICES
        .iter()
        .zip(spans.into_iter().zip(logs))
        .map(|(service, (spans, logs))| ServiceExports {
            traces: spans
                .chunks(SHOP_EXPORT_BATCH)
                .map(|batch| {
                    let body = ExportTraceServiceRequest {
                        resource_spans: vec![ResourceSpans {
                            resource: Some(resource(service)),
                            scope_spans: vec![ScopeSpans {
                                scope: Some(InstrumentationScope {
                                    name: format!("tracemart-{service}"),
                                    version: "0.1.0".into(),
                                    ..Default::default()
                                }),
                                spans: batch.to_vec(),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    };
                    (body.encode_to_vec(), batch.len() as u64)
                })
                .collect(),
            logs: logs
                .chunks(SHOP_EXPORT_BATCH)
                .map(|batch| {
                    let body = ExportLogsServiceRequest {
                        resource_logs: vec![ResourceLogs {
                            resource: Some(resource(service)),
                            scope_logs: vec![ScopeLogs {
                                scope: Some(InstrumentationScope {
                                    name: "opentelemetry-appender-tracing".into(),
                                    version: "0.33.1".into(),
                                    ..Default::default()
                                }),
                                log_records: batch.to_vec(),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    };
                    (body.encode_to_vec(), batch.len() as u64)
                })
                .collect(),
        })
        .collect()
}

/// Span layout of one order: (service index, parent index, name, kind, shape).
const ORDER_SPANS: [(usize, Option<usize>, &str, i32, Shape); 20] = [
    (0, None, "POST /orders", 2, Shape::Server),
    (0, Some(0), "create_order", 1, Shape::Internal),
    (0, Some(1), "validate_user", 1, Shape::Internal),
    (0, Some(2), "GET /users/{id}", 3, Shape::Client),
    (1, Some(3), "GET /users/{id}", 2, Shape::Server),
    (1, Some(4), "SELECT users", 3, Shape::Db),
    (0, Some(1), "validate_products", 1, Shape::Internal),
    (0, Some(6), "POST /products/batch", 3, Shape::Client),
    (2, Some(7), "POST /products/batch", 2, Shape::Server),
    (2, Some(8), "SELECT products", 3, Shape::Db),
    (0, Some(1), "reserve_inventory", 1, Shape::Internal),
    (0, Some(10), "POST /inventory/reserve", 3, Shape::Client),
    (3, Some(11), "POST /inventory/reserve", 2, Shape::Server),
    (3, Some(12), "reserve", 1, Shape::Internal),
    (3, Some(13), "UPDATE inventory", 3, Shape::Db),
    (3, Some(13), "INSERT reservations", 3, Shape::Db),
    (0, Some(1), "calculate_total_amount", 1, Shape::Internal),
    (0, Some(1), "create_order_record", 1, Shape::Internal),
    (0, Some(17), "INSERT orders", 3, Shape::Db),
    (
        0,
        Some(1),
        "publish_order_created_event",
        1,
        Shape::Internal,
    ),
];

/// Log records of one order: (span index, severity, message).
const ORDER_LOGS: [(usize, i32, &str); 10] = [
    (0, 9, "order request received"),
    (4, 9, "loading user"),
    (2, 9, "user validated"),
    (8, 9, "loading products"),
    (6, 9, "products validated"),
    (13, 9, "reserving stock"),
    (14, 13, "stock below reorder level"),
    (12, 9, "reservation stored"),
    (18, 9, "order record written"),
    (0, 9, "order created"),
];

#[derive(Clone, Copy)]
enum Shape {
    Server,
    Client,
    Internal,
    Db,
}

/// A well-mixed 64-bit value (splitmix64's finaliser): ids as random as real ones.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn shop_order(o: u64, start: u64, spans: &mut [Vec<Span>], logs: &mut [Vec<LogRecord>]) {
    // Real trace and span ids are random, which scatters index inserts.
    let trace_id = ((u128::from(mix(o)) << 64) | u128::from(mix(!o)))
        .to_be_bytes()
        .to_vec();
    let span_id = |i: usize| mix(o * 32 + i as u64 + 1).max(1).to_be_bytes().to_vec();
    let request_id = format!("{:08x}-90b1-4dd3-b595-{:012x}", o, o * 7);
    let user = (o % 500) as i64 + 1;
    let failed = o.is_multiple_of(97);
    for (i, (service, parent, name, kind, shape)) in ORDER_SPANS.iter().enumerate() {
        let begin = start + i as u64 * 150_000;
        let end = begin + 200_000 + (o * 13 + i as u64 * 7) % 40 * 100_000;
        let mut attributes = vec![
            text(
                "code.filepath",
                format!("crates/services/{}/src/api.rs", SHOP_SERVICES[*service]),
            ),
            text(
                "code.namespace",
                format!("tracemart_{}::api", SHOP_SERVICES[*service]),
            ),
            int("code.lineno", 40 + i as i64),
            text("thread.name", "tokio-runtime-worker"),
            int("thread.id", 2 + (o % 4) as i64),
            int("busy_ns", 52_000 + (o % 1000) as i64),
            int("idle_ns", 310_000 + (o % 977) as i64),
        ];
        let status_code = if failed && i == 14 { 500 } else { 200 };
        match shape {
            Shape::Server => attributes.extend([
                text("http.request.method", &name[..name.find(' ').unwrap_or(0)]),
                text("http.route", &name[name.find(' ').unwrap_or(0) + 1..]),
                text("url.path", format!("/{}/{user}", SHOP_SERVICES[*service])),
                text("url.scheme", "http"),
                int("http.response.status_code", status_code),
                text("request_id", request_id.clone()),
                text("user_agent.original", "tracemart-loadgen/0.1"),
            ]),
            Shape::Client => attributes.extend([
                text("http.request.method", &name[..name.find(' ').unwrap_or(0)]),
                text("url.full", format!("http://127.0.0.1:8081{}", &name[name.find(' ').unwrap_or(0) + 1..])),
                text("server.address", "127.0.0.1"),
                int("server.port", 8081 + *service as i64),
                int("http.response.status_code", status_code),
            ]),
            Shape::Internal => attributes.extend([
                int("order.user_id", user),
                text("order.correlation_id", request_id.clone()),
            ]),
            Shape::Db => attributes.extend([
                text("db.system.name", "sqlite"),
                text("db.operation.name", &name[..name.find(' ').unwrap_or(0)]),
                text("db.collection.name", &name[name.find(' ').unwrap_or(0) + 1..]),
                text(
                    "db.query.text",
                    format!("{name} SET available = available - ?1, reserved = reserved + ?1 WHERE product_id = ?2 AND available >= ?1"),
                ),
                int("db.response.returned_rows", 1),
            ]),
        }
        let events = if i == 1 {
            ["사용자 검증 완료", "상품 정보 검증 완료", "재고 예약 완료"]
                .iter()
                .enumerate()
                .map(|(n, name)| Event {
                    time_unix_nano: begin + 50_000 * (n as u64 + 1),
                    name: (*name).into(),
                    attributes: vec![int("order.user_id", user)],
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        };
        spans[*service].push(Span {
            trace_id: trace_id.clone(),
            span_id: span_id(i),
            parent_span_id: parent.map(span_id).unwrap_or_default(),
            name: (*name).into(),
            kind: *kind,
            start_time_unix_nano: begin,
            end_time_unix_nano: end,
            attributes,
            events,
            status: (failed && i == 14).then(|| Status {
                code: 2,
                message: "insufficient stock".into(),
            }),
            ..Default::default()
        });
    }
    for (n, (span, severity, message)) in ORDER_LOGS.iter().enumerate() {
        let service = ORDER_SPANS[*span].0;
        logs[service].push(LogRecord {
            time_unix_nano: start + *span as u64 * 150_000 + 20_000,
            observed_time_unix_nano: start + *span as u64 * 150_000 + 21_000,
            severity_number: *severity,
            severity_text: if *severity == 9 { "INFO" } else { "WARN" }.into(),
            body: Some(AnyValue {
                value: Some(V::StringValue((*message).into())),
            }),
            attributes: vec![
                text(
                    "target",
                    format!("tracemart_{}::api", SHOP_SERVICES[service]),
                ),
                text(
                    "code.filepath",
                    format!("crates/services/{}/src/api.rs", SHOP_SERVICES[service]),
                ),
                int("code.lineno", 60 + n as i64),
                text("request_id", request_id.clone()),
                int("order.user_id", user),
            ],
            trace_id: trace_id.clone(),
            span_id: span_id(*span),
            flags: 1,
            ..Default::default()
        });
    }
}
