//! An in-test OTLP/HTTP receiver that decodes every export with the official
//! `opentelemetry-proto` types, and lookups over the spans of a trace.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, span};
use prost::Message;

use crate::helpers::DEADLINE;

/// Lower-case hex, as trace ids appear in headers and logs.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An attribute value as text (strings as they are, numbers and booleans printed).
fn value_text(v: &AnyValue) -> String {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::ArrayValue(a)) => {
            let items: Vec<String> = a.values.iter().map(value_text).collect();
            format!("[{}]", items.join(","))
        }
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn find<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

/// One exported span and the `service.name` and `service.instance.id` of the process that
/// exported it.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub service: String,
    pub instance: String,
    pub span: Span,
}

impl SpanRecord {
    pub fn name(&self) -> &str {
        &self.span.name
    }
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }
    /// The parent span id, `None` for a root span.
    pub fn parent(&self) -> Option<String> {
        (!self.span.parent_span_id.is_empty()).then(|| hex(&self.span.parent_span_id))
    }
    pub fn kind(&self) -> SpanKind {
        SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified)
    }
    pub fn is_error(&self) -> bool {
        self.span
            .status
            .as_ref()
            .is_some_and(|s| s.code == StatusCode::Error as i32)
    }
    /// An attribute as text, `None` when absent.
    pub fn attr(&self, key: &str) -> Option<String> {
        find(&self.span.attributes, key).map(value_text)
    }
    /// The spans this one links to, as (trace id, span id).
    pub fn links(&self) -> Vec<(String, String)> {
        self.span
            .links
            .iter()
            .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
            .collect()
    }
    pub fn events(&self) -> &[span::Event] {
        &self.span.events
    }
    pub fn event(&self, name: &str) -> Option<&span::Event> {
        self.span.events.iter().find(|e| e.name == name)
    }
    /// Every attribute and event attribute as `key=value` text (for PII checks).
    pub fn all_text(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .span
            .attributes
            .iter()
            .map(|kv| {
                format!(
                    "{}={}",
                    kv.key,
                    kv.value.as_ref().map(value_text).unwrap_or_default()
                )
            })
            .collect();
        for e in &self.span.events {
            out.push(e.name.clone());
            out.extend(e.attributes.iter().map(|kv| {
                format!(
                    "{}={}",
                    kv.key,
                    kv.value.as_ref().map(value_text).unwrap_or_default()
                )
            }));
        }
        out.push(self.span.name.clone());
        out
    }
}

/// The attribute text of an event attribute.
pub fn event_attr(e: &span::Event, key: &str) -> Option<String> {
    find(&e.attributes, key).map(value_text)
}

/// One exported log record and its service.
#[derive(Debug, Clone)]
pub struct LogRecordOf {
    pub service: String,
    pub record: LogRecord,
}

impl LogRecordOf {
    pub fn body(&self) -> String {
        self.record
            .body
            .as_ref()
            .map(value_text)
            .unwrap_or_default()
    }
    pub fn trace_id(&self) -> String {
        hex(&self.record.trace_id)
    }
}

#[derive(Clone, Default)]
struct Received {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    logs: Arc<Mutex<Vec<LogRecordOf>>>,
}

fn service_of(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource_attr(resource, "service.name")
}

fn resource_attr(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
    key: &str,
) -> String {
    resource
        .and_then(|r| find(&r.attributes, key))
        .map(value_text)
        .unwrap_or_default()
}

fn protobuf(body: Vec<u8>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
        body,
    )
        .into_response()
}

async fn receive_traces(State(r): State<Received>, body: Bytes) -> Response {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let mut spans = r.spans.lock().unwrap();
    for rs in req.resource_spans {
        let service = service_of(rs.resource.as_ref());
        let instance = resource_attr(rs.resource.as_ref(), "service.instance.id");
        for ss in rs.scope_spans {
            for span in ss.spans {
                spans.push(SpanRecord {
                    service: service.clone(),
                    instance: instance.clone(),
                    span,
                });
            }
        }
    }
    protobuf(ExportTraceServiceResponse::default().encode_to_vec())
}

async fn receive_logs(State(r): State<Received>, body: Bytes) -> Response {
    let Ok(req) = ExportLogsServiceRequest::decode(body) else {
        return axum::http::StatusCode::BAD_REQUEST.into_response();
    };
    let mut logs = r.logs.lock().unwrap();
    for rl in req.resource_logs {
        let service = service_of(rl.resource.as_ref());
        for sl in rl.scope_logs {
            for record in sl.log_records {
                logs.push(LogRecordOf {
                    service: service.clone(),
                    record,
                });
            }
        }
    }
    protobuf(ExportLogsServiceResponse::default().encode_to_vec())
}

/// An OTLP/HTTP (protobuf) receiver on a loopback port: `/v1/traces` and `/v1/logs`.
pub struct Receiver {
    pub endpoint: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received = Received::default();
        let app = Router::new()
            .route("/v1/traces", post(receive_traces))
            .route("/v1/logs", post(receive_logs))
            .route("/v1/metrics", post(|| async { axum::http::StatusCode::OK }))
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            endpoint,
            received,
            task,
        }
    }

    pub fn spans(&self) -> Vec<SpanRecord> {
        self.received.spans.lock().unwrap().clone()
    }

    pub fn logs(&self) -> Vec<LogRecordOf> {
        self.received.logs.lock().unwrap().clone()
    }

    /// The first exported span that satisfies `pred`, waited for.
    pub async fn span_where(&self, what: &str, pred: impl Fn(&SpanRecord) -> bool) -> SpanRecord {
        tracemart_testkit::eventually(DEADLINE, what, || {
            let found = self.spans().into_iter().find(|s| pred(s));
            async move { found }
        })
        .await
    }

    /// The spans of `trace_id` once `complete` says they are all there.
    pub async fn trace(&self, trace_id: &str, complete: impl Fn(&Trace) -> bool) -> Trace {
        tracemart_testkit::eventually(DEADLINE, "the spans of a trace", || {
            let t = Trace(
                self.spans()
                    .into_iter()
                    .filter(|s| s.trace_id() == trace_id)
                    .collect(),
            );
            let done = complete(&t);
            async move { done.then_some(t) }
        })
        .await
    }
}

/// The spans of one trace, with lookups by name, service and parent.
#[derive(Debug, Clone)]
pub struct Trace(pub Vec<SpanRecord>);

impl Trace {
    pub fn named(&self, name: &str) -> Vec<&SpanRecord> {
        self.0.iter().filter(|s| s.name() == name).collect()
    }
    /// The one span called `name`; panics (listing the trace) if there is not exactly one.
    pub fn one(&self, name: &str) -> &SpanRecord {
        let found = self.named(name);
        assert_eq!(found.len(), 1, "spans named {name:?}: {}", self.describe());
        found[0]
    }
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.name() == name)
    }
    pub fn by_id(&self, id: &str) -> Option<&SpanRecord> {
        self.0.iter().find(|s| s.span_id() == id)
    }
    pub fn parent_of(&self, s: &SpanRecord) -> Option<&SpanRecord> {
        s.parent().and_then(|p| self.by_id(&p))
    }
    pub fn children_of(&self, s: &SpanRecord) -> Vec<&SpanRecord> {
        let id = s.span_id();
        self.0
            .iter()
            .filter(|c| c.parent().as_deref() == Some(id.as_str()))
            .collect()
    }
    /// The one child of `parent` called `name`.
    pub fn child(&self, parent: &SpanRecord, name: &str) -> &SpanRecord {
        let found: Vec<&SpanRecord> = self
            .children_of(parent)
            .into_iter()
            .filter(|c| c.name() == name)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "children of {} named {name:?}: {}",
            parent.name(),
            self.describe()
        );
        found[0]
    }
    pub fn services(&self) -> Vec<String> {
        let mut s: Vec<String> = self.0.iter().map(|s| s.service.clone()).collect();
        s.sort();
        s.dedup();
        s
    }
    /// One line per span: service, name, kind, status, parent.
    pub fn describe(&self) -> String {
        let mut lines: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                format!(
                    "\n  {} {:?} {:?} error={} id={} parent={:?}",
                    s.service,
                    s.name(),
                    s.kind(),
                    s.is_error(),
                    s.span_id(),
                    s.parent()
                )
            })
            .collect();
        lines.sort();
        lines.concat()
    }
}
