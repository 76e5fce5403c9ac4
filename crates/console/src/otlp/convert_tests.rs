//! The streaming conversion against the reference mapping it replaced (OTLP values through
//! `serde_json::Value`): the same rows and JSON that parses to the same maps.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue as PAny, ArrayValue, InstrumentationScope, KeyValue as PKv, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};

use super::*;
use crate::store::model::{SpanId, TraceId, span_hex, trace_hex};

use any_value::Value as PV;

fn kv(key: &str, v: Option<PV>) -> PKv {
    PKv {
        key: key.into(),
        value: Some(PAny { value: v }),
        ..Default::default()
    }
}

fn tricky_attributes() -> Vec<PKv> {
    vec![
        kv("http.route", Some(PV::StringValue("/orders/{id}".into()))),
        kv("dup", Some(PV::IntValue(1))),
        kv(
            "quote\"d",
            Some(PV::StringValue("line\nbreak \"q\" \\ é 한".into())),
        ),
        kv("sep\u{1f}key", Some(PV::StringValue("a\u{1f}b".into()))),
        kv("ratio", Some(PV::DoubleValue(1.0))),
        kv("small", Some(PV::DoubleValue(1e-7))),
        kv("nan", Some(PV::DoubleValue(f64::NAN))),
        kv("inf", Some(PV::DoubleValue(f64::NEG_INFINITY))),
        kv("ok", Some(PV::BoolValue(false))),
        kv("raw", Some(PV::BytesValue(vec![0xde, 0xad]))),
        kv("long", Some(PV::StringValue("x".repeat(300)))),
        kv("empty", None),
        kv("strindex", Some(PV::StringValueStrindex(4))),
        kv(
            "list",
            Some(PV::ArrayValue(ArrayValue {
                values: vec![
                    PAny {
                        value: Some(PV::IntValue(1)),
                    },
                    PAny {
                        value: Some(PV::ArrayValue(ArrayValue {
                            values: vec![PAny {
                                value: Some(PV::StringValue("in".into())),
                            }],
                        })),
                    },
                    PAny { value: None },
                ],
            })),
        ),
        kv(
            "map",
            Some(PV::KvlistValue(KeyValueList {
                values: vec![
                    kv("z", Some(PV::BoolValue(true))),
                    kv("a", Some(PV::DoubleValue(2.5))),
                    kv("a", Some(PV::DoubleValue(3.5))),
                ],
            })),
        ),
        kv("dup", Some(PV::IntValue(2))),
    ]
}

// The reference: the mapping as it was, over opentelemetry-proto's owned types.
fn ref_attributes(kvs: &[PKv]) -> serde_json::Map<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), ref_any(kv.value.as_ref())))
        .collect()
}

fn ref_any(v: Option<&PAny>) -> Value {
    match v.and_then(|v| v.value.clone()) {
        Some(v) => ref_value(v),
        None => Value::Null,
    }
}

fn ref_value(v: PV) -> Value {
    match v {
        PV::StringValue(s) => Value::String(s),
        PV::BoolValue(b) => Value::Bool(b),
        PV::IntValue(i) => Value::from(i),
        PV::DoubleValue(d) => serde_json::Number::from_f64(d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        PV::BytesValue(b) => Value::String(hex::encode(&b)),
        PV::ArrayValue(a) => Value::String(
            Value::Array(a.values.iter().map(|v| ref_any(Some(v))).collect()).to_string(),
        ),
        PV::KvlistValue(kv) => Value::String(Value::Object(ref_attributes(&kv.values)).to_string()),
        PV::StringValueStrindex(i) => Value::String(format!("strindex:{i}")),
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn trace_request() -> ExportTraceServiceRequest {
    let span = |n: u8, kind: i32, status: Option<Status>| Span {
        trace_id: vec![n; 16],
        span_id: vec![n; 8],
        parent_span_id: if n == 1 { Vec::new() } else { vec![1; 8] },
        name: format!("op {n}"),
        kind,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_223_456_000,
        attributes: tricky_attributes(),
        events: if n == 1 {
            vec![Event {
                time_unix_nano: 1_700_000_000_150_000_999,
                name: "사용자 검증 완료".into(),
                attributes: tricky_attributes(),
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        links: if n == 2 {
            vec![Link {
                trace_id: vec![9; 16],
                span_id: vec![8; 8],
                attributes: vec![kv("l", Some(PV::IntValue(1)))],
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        status,
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.version", Some(PV::StringValue("1".into()))),
                    kv("service.name", Some(PV::StringValue("order".into()))),
                ],
                ..Default::default()
            }),
            scope_spans: vec![
                ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "lib".into(),
                        version: "0.1".into(),
                        ..Default::default()
                    }),
                    spans: vec![
                        span(1, 2, None),
                        span(
                            2,
                            3,
                            Some(Status {
                                code: 2,
                                message: "boom".into(),
                            }),
                        ),
                        Span {
                            trace_id: vec![0; 16],
                            ..span(3, 1, None)
                        },
                    ],
                    ..Default::default()
                },
                ScopeSpans {
                    spans: vec![span(
                        4,
                        0,
                        Some(Status {
                            code: 1,
                            message: String::new(),
                        }),
                    )],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
    }
}

fn convert_traces(req: &ExportTraceServiceRequest) -> Converted<SpanBatch> {
    let bytes = Bytes::from(req.encode_to_vec());
    let wire = TraceRequest::decode(bytes.clone()).unwrap();
    spans(&wire, bytes.len(), usize::MAX).unwrap()
}

#[test]
fn spans_convert_as_the_reference_mapping_does() {
    let req = trace_request();
    let Converted {
        batch,
        rejected,
        over_limit,
    } = convert_traces(&req);
    assert_eq!(over_limit, 0);

    assert_eq!(rejected, 1, "the span with a zero trace id");
    let sent: Vec<&Span> = req.resource_spans[0]
        .scope_spans
        .iter()
        .flat_map(|ss| &ss.spans)
        .filter(|s| s.trace_id != [0; 16])
        .collect();
    assert_eq!(batch.rows.len(), sent.len());
    let t = batch.text.as_str();
    let resource = &batch.resources[0];
    assert_eq!(&*resource.service, "order");
    assert_eq!(
        resource.attributes,
        r#"{"service.name":"order","service.version":"1"}"#
    );
    for (row, span) in batch.rows.iter().zip(sent) {
        assert_eq!(
            trace_hex(&row.trace_id).as_str(),
            hex::encode(&span.trace_id)
        );
        assert_eq!(span_hex(&row.span_id).as_str(), hex::encode(&span.span_id));
        assert_eq!(
            row.parent_span_id.map(|p| span_hex(&p).as_str().to_owned()),
            (!span.parent_span_id.is_empty()).then(|| hex::encode(&span.parent_span_id))
        );
        assert_eq!(row.operation.of(t), span.name);
        assert_eq!(row.kind, span.kind);
        assert_eq!(row.start_us, 1_700_000_000_123_456);
        assert_eq!(
            row.duration_us,
            1_700_000_000_223_456 - 1_700_000_000_123_456
        );
        let status = span.status.clone().unwrap_or_default();
        assert_eq!(row.status_code, status.code);
        assert_eq!(row.status_message.of(t), status.message);
        assert_eq!(
            parse(row.attributes.of(t)),
            Value::Object(ref_attributes(&span.attributes))
        );
        let events: Vec<Value> = span
            .events
            .iter()
            .map(|e| {
                json!({"t": e.time_unix_nano / 1000, "name": e.name,
                       "attrs": ref_attributes(&e.attributes)})
            })
            .collect();
        assert_eq!(parse(row.events.of(t)), Value::Array(events));
        let links: Vec<Value> = span
            .links
            .iter()
            .map(|l| {
                json!({"trace_id": hex::encode(&l.trace_id), "span_id": hex::encode(&l.span_id),
                       "attrs": ref_attributes(&l.attributes)})
            })
            .collect();
        assert_eq!(parse(row.links.of(t)), Value::Array(links));
    }
    let scope = &batch.scopes[batch.rows[0].scope as usize];
    assert_eq!((scope.name.of(t), scope.version.of(t)), ("lib", "0.1"));
    let scope = &batch.scopes[batch.rows[2].scope as usize];
    assert_eq!((scope.name.of(t), scope.version.of(t)), ("", ""));
}

#[test]
fn links_with_whole_non_zero_ids_are_indexed_by_their_spans_row() {
    let mut req = trace_request();
    // After the refused span (zero trace id), so its row index differs from its position.
    let mut linking = req.resource_spans[0].scope_spans[0].spans[1].clone();
    linking.span_id = vec![5; 8];
    linking.links.extend([
        Link {
            trace_id: vec![0; 16],
            span_id: vec![8; 8],
            ..Default::default()
        },
        Link {
            trace_id: vec![9; 16],
            span_id: vec![8; 4],
            ..Default::default()
        },
    ]);
    req.resource_spans[0].scope_spans[1].spans.push(linking);

    let Converted { batch, .. } = convert_traces(&req);

    let indexed: Vec<(u32, TraceId, SpanId)> = batch
        .links
        .iter()
        .map(|l| (l.span, l.trace_id, l.span_id))
        .collect();
    assert_eq!(indexed, vec![(1, [9; 16], [8; 8]), (3, [9; 16], [8; 8])]);
    assert_eq!(batch.rows[3].span_id, [5; 8]);
    let t = batch.text.as_str();
    let stored = parse(batch.rows[3].links.of(t));
    assert_eq!(
        stored.as_array().unwrap().len(),
        3,
        "the JSON keeps every link"
    );
}

#[test]
fn logs_convert_as_the_reference_mapping_does() {
    let record = |body: Option<PV>, trace: Vec<u8>| LogRecord {
        time_unix_nano: 0,
        observed_time_unix_nano: 1_700_000_000_000_001_000,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: body.map(|v| PAny { value: Some(v) }),
        attributes: tricky_attributes(),
        trace_id: trace,
        span_id: vec![3; 8],
        ..Default::default()
    };
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    record(Some(PV::StringValue("plain \"text\"".into())), vec![1; 16]),
                    record(Some(PV::IntValue(5)), vec![0; 16]),
                    record(Some(PV::StringValue("a".into())), vec![1; 3]),
                    record(Some(PV::DoubleValue(f64::NAN)), Vec::new()),
                    record(None, Vec::new()),
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let bytes = Bytes::from(req.encode_to_vec());
    let wire = LogsRequest::decode(bytes.clone()).unwrap();
    let Converted {
        batch, rejected, ..
    } = logs(&wire, bytes.len()).unwrap();

    assert_eq!(rejected, 0);
    assert_eq!(&*batch.resources[0].service, "unknown_service");
    assert_eq!(batch.resources[0].attributes, "{}");
    let t = batch.text.as_str();
    let bodies: Vec<&str> = batch.rows.iter().map(|r| r.body.of(t)).collect();
    assert_eq!(bodies, ["plain \"text\"", "5", "a", "\"NaN\"", ""]);
    let traces: Vec<bool> = batch.rows.iter().map(|r| r.trace_id.is_some()).collect();
    assert_eq!(traces, [true, false, false, false, false]);
    for (row, sent) in batch
        .rows
        .iter()
        .zip(&req.resource_logs[0].scope_logs[0].log_records)
    {
        assert_eq!(row.time_us, 1_700_000_000_000_001);
        assert_eq!(row.span_id, Some([3; 8]));
        assert_eq!(row.severity_number, 9);
        assert_eq!(row.severity_text.of(t), "INFO");
        assert_eq!(
            parse(row.attributes.of(t)),
            Value::Object(ref_attributes(&sent.attributes))
        );
    }
}

#[test]
fn spans_beyond_the_request_limit_are_left_out_and_counted() {
    let req = trace_request();
    let bytes = Bytes::from(req.encode_to_vec());
    let wire = TraceRequest::decode(bytes.clone()).unwrap();
    let all = spans(&wire, bytes.len(), usize::MAX).unwrap();
    assert!(
        all.batch.rows.len() > 1,
        "the request has spans to leave out"
    );

    let first = spans(&wire, bytes.len(), 1).unwrap();

    assert_eq!(first.batch.rows.len(), 1);
    assert_eq!(first.batch.rows[0].span_id, all.batch.rows[0].span_id);
    assert_eq!(
        first.over_limit,
        i64::try_from(all.batch.rows.len()).unwrap() - 1
    );
    assert_eq!(first.rejected, all.rejected);
}

#[test]
fn text_that_is_not_utf8_refuses_the_request() {
    let mut attr = PKv {
        key: "k".into(),
        value: Some(PAny {
            value: Some(PV::StringValue("v".into())),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    // Replace the value's "v" with a lone continuation byte.
    let last = attr.len() - 1;
    attr[last] = 0x80;
    let attr = wire::KeyValue::decode(&attr[..]).unwrap();
    let req = TraceRequest {
        resource_spans: vec![wire::ResourceSpans {
            resource: None,
            scope_spans: vec![wire::ScopeSpans {
                scope: None,
                spans: vec![wire::Span {
                    trace_id: Bytes::from(vec![1; 16]),
                    span_id: Bytes::from(vec![1; 8]),
                    attributes: vec![attr],
                    ..Default::default()
                }],
            }],
        }],
    };

    let err = spans(&req, 0, usize::MAX).unwrap_err();

    assert!(err.to_string().contains("UTF-8"), "{err}");
}
