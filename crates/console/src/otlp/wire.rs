//! The part of OTLP the console reads, as prost messages whose strings and ids are `Bytes`
//! slices of the request body.
//!
//! `opentelemetry-proto`'s types own a `String` or `Vec<u8>` per field: decoding a typical
//! span cost about 30 allocations (every attribute key and value), which the conversion then
//! copied again and dropped. These mirrors use the same field numbers and wire types (a
//! protobuf string is a length-delimited field, like bytes), so prost's derive decodes them
//! without copying; fields the console does not read are skipped as unknown. UTF-8 is checked
//! where a string is used ([`utf8`]), so invalid text still refuses the request.

use bytes::Bytes;

/// `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub(crate) resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) scope_spans: Vec<ScopeSpans>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ScopeSpans {
    #[prost(message, optional, tag = "1")]
    pub(crate) scope: Option<Scope>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) spans: Vec<Span>,
}

/// `Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Span {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) span_id: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub(crate) parent_span_id: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub(crate) name: Bytes,
    #[prost(int32, tag = "6")]
    pub(crate) kind: i32,
    #[prost(fixed64, tag = "7")]
    pub(crate) start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub(crate) end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub(crate) attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "11")]
    pub(crate) events: Vec<Event>,
    #[prost(message, repeated, tag = "13")]
    pub(crate) links: Vec<Link>,
    #[prost(message, optional, tag = "15")]
    pub(crate) status: Option<Status>,
}

/// `Span.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Event {
    #[prost(fixed64, tag = "1")]
    pub(crate) time_unix_nano: u64,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) name: Bytes,
    #[prost(message, repeated, tag = "3")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `Span.Link`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Link {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) span_id: Bytes,
    #[prost(message, repeated, tag = "4")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Status {
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) message: Bytes,
    #[prost(int32, tag = "3")]
    pub(crate) code: i32,
}

/// `ExportLogsServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LogsRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) resource_logs: Vec<ResourceLogs>,
}

/// `ResourceLogs`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub(crate) resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) scope_logs: Vec<ScopeLogs>,
}

/// `ScopeLogs` (the scope itself is not stored for logs).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ScopeLogs {
    #[prost(message, repeated, tag = "2")]
    pub(crate) log_records: Vec<LogRecord>,
}

/// `LogRecord`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub(crate) time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub(crate) observed_time_unix_nano: u64,
    #[prost(int32, tag = "2")]
    pub(crate) severity_number: i32,
    #[prost(bytes = "bytes", tag = "3")]
    pub(crate) severity_text: Bytes,
    #[prost(message, optional, tag = "5")]
    pub(crate) body: Option<AnyValue>,
    #[prost(message, repeated, tag = "6")]
    pub(crate) attributes: Vec<KeyValue>,
    #[prost(bytes = "bytes", tag = "9")]
    pub(crate) trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "10")]
    pub(crate) span_id: Bytes,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub(crate) attributes: Vec<KeyValue>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Scope {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub(crate) version: Bytes,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyValue {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub(crate) value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4, 5, 6, 7, 8")]
    pub(crate) value: Option<Value>,
}

/// `AnyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Value {
    #[prost(bytes = "bytes", tag = "1")]
    String(Bytes),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(message, tag = "5")]
    Array(ArrayValue),
    #[prost(message, tag = "6")]
    Kvlist(KeyValueList),
    #[prost(bytes = "bytes", tag = "7")]
    Bytes(Bytes),
    /// Dictionary-encoded strings (profiles only).
    #[prost(int32, tag = "8")]
    StringIndex(i32),
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub(crate) values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub(crate) values: Vec<KeyValue>,
}

/// A protobuf string field that is not UTF-8, which OTLP forbids.
#[derive(Debug, thiserror::Error)]
#[error("invalid string value: data is not UTF-8 encoded")]
pub(crate) struct NotUtf8;

/// The text of a string field.
pub(crate) fn utf8(b: &Bytes) -> Result<&str, NotUtf8> {
    std::str::from_utf8(b).map_err(|_| NotUtf8)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue as PAny, KeyValue as PKv, any_value};
    use opentelemetry_proto::tonic::trace::v1::{
        ResourceSpans as PRs, ScopeSpans as PSs, Span as PSpan,
    };
    use prost::Message;

    use super::*;

    #[test]
    fn mirrors_decode_what_opentelemetry_proto_encodes() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![PRs {
                scope_spans: vec![PSs {
                    spans: vec![PSpan {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        trace_state: "skipped=1".into(),
                        name: "GET /x".into(),
                        kind: 2,
                        start_time_unix_nano: 7,
                        end_time_unix_nano: 9,
                        attributes: vec![PKv {
                            key: "k".into(),
                            value: Some(PAny {
                                value: Some(any_value::Value::DoubleValue(1.5)),
                            }),
                            ..Default::default()
                        }],
                        flags: 0x301,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                ..Default::default()
            }],
        };
        let wire = TraceRequest::decode(Bytes::from(req.encode_to_vec())).unwrap();
        let span = &wire.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(&span.trace_id[..], &[1; 16]);
        assert_eq!(&span.name[..], b"GET /x");
        assert_eq!(
            (
                span.kind,
                span.start_time_unix_nano,
                span.end_time_unix_nano
            ),
            (2, 7, 9)
        );
        assert_eq!(&span.attributes[0].key[..], b"k");
        assert_eq!(
            span.attributes[0].value.as_ref().unwrap().value,
            Some(Value::Double(1.5))
        );
    }
}
