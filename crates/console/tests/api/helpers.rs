//! `spawn_app()` and builders for the OTLP payloads the tests send.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tracemart_console::{Console, ConsoleConfig, ConsoleError, ConsoleListeners, Ingest};

pub(crate) const PROTOBUF: &str = "application/x-protobuf";

/// A running console and what a test needs to talk to it.
pub(crate) struct TestApp {
    pub(crate) ui: String,
    pub(crate) otlp_http: String,
    pub(crate) otlp_grpc: String,
    pub(crate) ingest: Ingest,
    pub(crate) http: reqwest::Client,
    pub(crate) config: ConsoleConfig,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ConsoleError>>>,
    _dir: Option<TempDir>,
}

/// A console on fresh ports with a fresh database.
pub(crate) async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig::with_data_dir(dir.path());
    let mut app = spawn_app_with(config).await;
    app._dir = Some(dir);
    app
}

/// A console with this configuration (the caller keeps the data directory alive).
pub(crate) async fn spawn_app_with(config: ConsoleConfig) -> TestApp {
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = ConsoleListeners {
        ui: bind().await,
        otlp_grpc: bind().await,
        otlp_http: bind().await,
    };
    let url = |l: &TcpListener| format!("http://{}", l.local_addr().unwrap());
    let (ui, otlp_grpc, otlp_http) = (
        url(&listeners.ui),
        url(&listeners.otlp_grpc),
        url(&listeners.otlp_http),
    );
    let console = Console::open(config.clone()).await.unwrap();
    let ingest = console.ingest();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(console.serve(listeners, async move {
        let _ = stopped.await;
    }));
    TestApp {
        ui,
        otlp_http,
        otlp_grpc,
        ingest,
        http: reqwest::Client::new(),
        config,
        stop: Some(stop),
        task: Some(task),
        _dir: None,
    }
}

impl TestApp {
    /// Waits until everything sent so far is stored.
    pub(crate) async fn flush(&self) {
        self.ingest.flush().await.unwrap();
    }

    /// Shuts the console down and waits for `run` to return.
    pub(crate) async fn stop(mut self) -> ConsoleConfig {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("console stops within 10 s")
                .unwrap()
                .unwrap();
        }
        self.config.clone()
    }

    pub(crate) async fn get(&self, path: &str) -> (reqwest::StatusCode, Value) {
        let res = self
            .http
            .get(format!("{}{path}", self.ui))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub(crate) async fn post_otlp(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.otlp_http))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Sends traces as OTLP/HTTP protobuf and waits until they are stored.
    pub(crate) async fn send_traces(&self, req: &ExportTraceServiceRequest) {
        let res = self
            .post_otlp("/v1/traces", PROTOBUF, req.encode_to_vec())
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        self.flush().await;
    }

    pub(crate) async fn send_logs(&self, req: &ExportLogsServiceRequest) {
        let res = self
            .post_otlp("/v1/logs", PROTOBUF, req.encode_to_vec())
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
        self.flush().await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub(crate) fn trace_id(n: u128) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

pub(crate) fn span_id(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

pub(crate) fn i(v: i64) -> any_value::Value {
    any_value::Value::IntValue(v)
}

/// A span in a test trace; times relative to the trace's start.
pub(crate) struct SpanSpec<'a> {
    pub(crate) service: &'a str,
    pub(crate) id: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) name: &'a str,
    pub(crate) kind: SpanKind,
    pub(crate) offset_ms: u64,
    pub(crate) duration_ms: u64,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) error: bool,
    /// (trace, span) this span links to.
    pub(crate) links: Vec<(u128, u64)>,
}

impl<'a> SpanSpec<'a> {
    pub(crate) fn new(
        service: &'a str,
        id: u64,
        parent: Option<u64>,
        name: &'a str,
        kind: SpanKind,
    ) -> Self {
        Self {
            service,
            id,
            parent,
            name,
            kind,
            offset_ms: 0,
            duration_ms: 1,
            attributes: Vec::new(),
            error: false,
            links: Vec::new(),
        }
    }

    pub(crate) fn at(mut self, offset_ms: u64, duration_ms: u64) -> Self {
        self.offset_ms = offset_ms;
        self.duration_ms = duration_ms;
        self
    }

    pub(crate) fn attr(mut self, key: &str, value: any_value::Value) -> Self {
        self.attributes.push(kv(key, value));
        self
    }

    pub(crate) fn failed(mut self) -> Self {
        self.error = true;
        self
    }

    /// A link to span `span` of trace `trace` (as a message consumer links to its producer).
    pub(crate) fn linked_to(mut self, trace: u128, span: u64) -> Self {
        self.links.push((trace, span));
        self
    }
}

pub(crate) fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            kv("service.name", s(service)),
            kv("service.version", s("0.1.0")),
        ],
        ..Default::default()
    }
}

/// One export with a `ResourceSpans` per service.
pub(crate) fn trace_request(
    trace: u128,
    start_ns: u64,
    spans: Vec<SpanSpec<'_>>,
) -> ExportTraceServiceRequest {
    let mut by_service: Vec<(String, Vec<Span>)> = Vec::new();
    for spec in spans {
        let start = start_ns + spec.offset_ms * 1_000_000;
        let span = Span {
            trace_id: trace_id(trace),
            span_id: span_id(spec.id),
            parent_span_id: spec.parent.map(span_id).unwrap_or_default(),
            name: spec.name.into(),
            kind: spec.kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + spec.duration_ms * 1_000_000,
            attributes: spec.attributes,
            events: vec![Event {
                time_unix_nano: start,
                name: format!("{} started", spec.name),
                attributes: vec![kv("step", i(1))],
                ..Default::default()
            }],
            links: spec
                .links
                .iter()
                .map(|(trace, span)| Link {
                    trace_id: trace_id(*trace),
                    span_id: span_id(*span),
                    attributes: vec![kv("messaging.operation.type", s("process"))],
                    ..Default::default()
                })
                .collect(),
            status: spec.error.then(|| Status {
                code: OtlpStatus::Error as i32,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        match by_service.iter_mut().find(|(name, _)| name == spec.service) {
            Some((_, list)) => list.push(span),
            None => by_service.push((spec.service.to_owned(), vec![span])),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(resource(&service)),
                scope_spans: vec![ScopeSpans {
                    scope: Some(
                        opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                            name: "tracemart-test".into(),
                            version: "1".into(),
                            ..Default::default()
                        },
                    ),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// The shop's order flow: order calls user (ok) and inventory (fails with 500).
pub(crate) fn order_trace(trace: u128, start_ns: u64) -> ExportTraceServiceRequest {
    use SpanKind::*;
    trace_request(
        trace,
        start_ns,
        vec![
            SpanSpec::new("order", 1, None, "POST /orders", Server)
                .at(0, 120)
                .attr("http.request.method", s("POST"))
                .attr("http.response.status_code", i(500))
                .failed(),
            SpanSpec::new("order", 2, Some(1), "GET /users/{id}", Client).at(5, 10),
            SpanSpec::new("user", 3, Some(2), "GET /users/{id}", Server)
                .at(6, 8)
                .attr("http.response.status_code", i(200)),
            SpanSpec::new("order", 4, Some(1), "POST /inventory/reserve", Client).at(20, 90),
            SpanSpec::new("inventory", 5, Some(4), "POST /inventory/reserve", Server)
                .at(21, 85)
                .attr("http.response.status_code", i(500))
                .failed(),
            SpanSpec::new("order", 6, Some(1), "create_order", Internal).at(1, 2),
        ],
    )
}

/// A fast, successful trace of one span in `service`.
pub(crate) fn quick_trace(
    trace: u128,
    start_ns: u64,
    service: &str,
    duration_ms: u64,
) -> ExportTraceServiceRequest {
    trace_request(
        trace,
        start_ns,
        vec![
            SpanSpec::new(service, 1, None, "GET /orders/{order_id}", SpanKind::Server)
                .at(0, duration_ms)
                .attr("http.response.status_code", i(200)),
        ],
    )
}

/// Log records of `trace` emitted by `service`, one per (span, message).
pub(crate) fn log_request(
    trace: u128,
    service: &str,
    start_ns: u64,
    lines: &[(u64, &str, &str)],
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(service)),
            scope_logs: vec![ScopeLogs {
                log_records: lines
                    .iter()
                    .enumerate()
                    .map(|(n, (span, severity, body))| LogRecord {
                        time_unix_nano: start_ns + n as u64 * 1_000_000,
                        severity_text: (*severity).into(),
                        severity_number: 9,
                        body: Some(AnyValue {
                            value: Some(s(body)),
                        }),
                        attributes: vec![kv("request_id", s("req-1"))],
                        trace_id: trace_id(trace),
                        span_id: span_id(*span),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Where a test's data directory lives when it must outlive one console.
pub(crate) fn data_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("console")
}

/// The span with this operation and service in a Jaeger trace.
pub(crate) fn find_span<'a>(trace: &'a Value, service: &str, operation: &str) -> &'a Value {
    let processes = &trace["processes"];
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| {
            let pid = sp["processID"].as_str().unwrap();
            sp["operationName"] == operation && processes[pid]["serviceName"] == service
        })
        .unwrap_or_else(|| panic!("no span {service}/{operation} in {trace}"))
}

/// The value of a tag in a Jaeger span's tags.
pub(crate) fn tag<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}
