//! OTLP protobuf types into store rows, with Jaeger's tag conventions applied once, at ingest.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Map, Value, json};

use crate::store::model::{LogRow, ResourceRow, SpanRow, encode_tags};

/// Longest attribute value put in the tag index; longer values stay searchable only by eye.
const MAX_TAG_VALUE_LEN: usize = 256;
const UNKNOWN_SERVICE: &str = "unknown_service";

/// Rows decoded from one request, and how many spans or records were refused (bad ids).
#[derive(Debug)]
pub(crate) struct Converted<T> {
    pub(crate) rows: Vec<T>,
    pub(crate) rejected: i64,
}

impl<T> Default for Converted<T> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            rejected: 0,
        }
    }
}

/// Lowercase hex of an id.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

fn valid_id(id: &[u8], len: usize) -> bool {
    id.len() == len && id.iter().any(|b| *b != 0)
}

fn nanos_to_micros(ns: u64) -> i64 {
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

/// Flattens the spans of a trace export.
pub(crate) fn spans(req: ExportTraceServiceRequest) -> Converted<SpanRow> {
    let mut out = Converted::default();
    for rs in req.resource_spans {
        let resource = resource_row(rs.resource.as_ref());
        for ss in rs.scope_spans {
            let (scope_name, scope_version): (Arc<str>, Arc<str>) = ss
                .scope
                .map(|s| (s.name.into(), s.version.into()))
                .unwrap_or_default();
            for span in ss.spans {
                if !valid_id(&span.trace_id, 16) || !valid_id(&span.span_id, 8) {
                    out.rejected += 1;
                    continue;
                }
                let start_us = nanos_to_micros(span.start_time_unix_nano);
                let end_us = nanos_to_micros(span.end_time_unix_nano).max(start_us);
                let (status_code, status_message) =
                    span.status.map(|s| (s.code, s.message)).unwrap_or_default();
                let mut tags = scalar_tags(&span.attributes);
                if let Some(kind) = kind_name(span.kind) {
                    tags.push(("span.kind".into(), kind.into()));
                }
                match status_code {
                    c if c == StatusCode::Error as i32 => {
                        tags.push(("error".into(), "true".into()));
                        tags.push(("otel.status_code".into(), "ERROR".into()));
                    }
                    c if c == StatusCode::Ok as i32 => {
                        tags.push(("otel.status_code".into(), "OK".into()));
                    }
                    _ => {}
                }
                let events: Vec<Value> = span
                    .events
                    .iter()
                    .map(|e| {
                        json!({"t": nanos_to_micros(e.time_unix_nano), "name": e.name,
                               "attrs": attributes(&e.attributes)})
                    })
                    .collect();
                let links: Vec<Value> = span
                    .links
                    .iter()
                    .map(|l| {
                        json!({"trace_id": hex(&l.trace_id), "span_id": hex(&l.span_id),
                               "attrs": attributes(&l.attributes)})
                    })
                    .collect();
                out.rows.push(SpanRow {
                    trace_id: hex(&span.trace_id).into(),
                    span_id: hex(&span.span_id).into(),
                    parent_span_id: if valid_id(&span.parent_span_id, 8) {
                        hex(&span.parent_span_id).into()
                    } else {
                        Arc::from("")
                    },
                    operation: span.name.into(),
                    kind: span.kind,
                    start_us,
                    duration_us: end_us - start_us,
                    status_code,
                    status_message: status_message.into(),
                    attributes: Value::Object(attributes(&span.attributes))
                        .to_string()
                        .into(),
                    events: Value::Array(events).to_string().into(),
                    links: Value::Array(links).to_string().into(),
                    scope_name: Arc::clone(&scope_name),
                    scope_version: Arc::clone(&scope_version),
                    resource: Arc::clone(&resource),
                    tags: encode_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))).into(),
                });
            }
        }
    }
    out
}

/// Flattens the records of a logs export.
pub(crate) fn logs(req: ExportLogsServiceRequest) -> Converted<LogRow> {
    let mut out = Converted::default();
    for rl in req.resource_logs {
        let resource = resource_row(rl.resource.as_ref());
        for sl in rl.scope_logs {
            for rec in sl.log_records {
                let time = if rec.time_unix_nano != 0 {
                    rec.time_unix_nano
                } else {
                    rec.observed_time_unix_nano
                };
                let body = match rec.body.and_then(|b| b.value) {
                    Some(any_value::Value::StringValue(s)) => s,
                    Some(other) => value(other).to_string(),
                    None => String::new(),
                };
                let trace_id = if valid_id(&rec.trace_id, 16) {
                    hex(&rec.trace_id)
                } else {
                    String::new()
                };
                let span_id = if valid_id(&rec.span_id, 8) {
                    hex(&rec.span_id)
                } else {
                    String::new()
                };
                out.rows.push(LogRow {
                    time_us: nanos_to_micros(time),
                    trace_id: trace_id.into(),
                    span_id: span_id.into(),
                    severity_number: rec.severity_number,
                    severity_text: rec.severity_text.into(),
                    body: body.into(),
                    attributes: Value::Object(attributes(&rec.attributes))
                        .to_string()
                        .into(),
                    resource: Arc::clone(&resource),
                });
            }
        }
    }
    out
}

fn resource_row(resource: Option<&Resource>) -> Arc<ResourceRow> {
    let attrs = resource
        .map(|r| attributes(&r.attributes))
        .unwrap_or_default();
    let service = match attrs.get("service.name") {
        Some(Value::String(s)) if !s.is_empty() => Arc::from(s.as_str()),
        _ => Arc::from(UNKNOWN_SERVICE),
    };
    Arc::new(ResourceRow {
        service,
        attributes: Value::Object(attrs).to_string().into(),
    })
}

/// Jaeger's `span.kind` values; unspecified has none.
pub(crate) fn kind_name(kind: i32) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

fn attributes(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), any(kv.value.as_ref())))
        .collect()
}

fn any(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.clone()) {
        Some(v) => value(v),
        None => Value::Null,
    }
}

/// Scalars map to JSON scalars; arrays and maps become JSON text, as Jaeger shows them.
fn value(v: any_value::Value) -> Value {
    use any_value::Value as V;
    match v {
        V::StringValue(s) => Value::String(s),
        V::BoolValue(b) => Value::Bool(b),
        V::IntValue(i) => Value::from(i),
        V::DoubleValue(d) => serde_json::Number::from_f64(d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        V::BytesValue(b) => Value::String(hex(&b)),
        V::ArrayValue(a) => {
            Value::String(Value::Array(a.values.iter().map(|v| any(Some(v))).collect()).to_string())
        }
        V::KvlistValue(kv) => Value::String(Value::Object(attributes(&kv.values)).to_string()),
        // Dictionary-encoded strings (profiles only); the dictionary is not ours to resolve.
        V::StringValueStrindex(i) => Value::String(format!("strindex:{i}")),
    }
}

fn scalar_tags(kvs: &[KeyValue]) -> Vec<(String, String)> {
    let mut tags = Vec::with_capacity(kvs.len() + 3);
    for kv in kvs {
        use any_value::Value as V;
        let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) if s.len() <= MAX_TAG_VALUE_LEN => s.clone(),
            Some(V::BoolValue(b)) => b.to_string(),
            Some(V::IntValue(i)) => i.to_string(),
            Some(V::DoubleValue(d)) => d.to_string(),
            _ => continue,
        };
        tags.push((kv.key.clone(), text));
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_encodes_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[test]
    fn zero_ids_are_invalid() {
        assert!(!valid_id(&[0; 16], 16));
        assert!(!valid_id(&[1; 8], 16));
        assert!(valid_id(&[1; 16], 16));
    }
}
