#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri};
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message;

use super::HttpProtoExporter;
use crate::TelemetryConfig;
use crate::otlp::TraceEncoder;
use crate::otlp::fixtures::{resource, server_span, transformed, varied_spans};

type HttpProtoSpanExporter = HttpProtoExporter<TraceEncoder>;

mod logs;

/// What the collector was sent.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Debug, Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    /// Answers to give, in order; 200 with an empty body once they run out.
    answers: Arc<Mutex<VecDeque<(StatusCode, &'static str)>>>,
}

/// A collector on a loopback port, served by a runtime of its own.
struct Collector {
    endpoint: String,
    shared: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl Collector {
    fn start(answers: &[(StatusCode, &'static str)]) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Shared::default();
        shared.answers.lock().unwrap().extend(answers);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(record).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            endpoint,
            shared,
            _runtime: runtime,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn record(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.received.lock().unwrap().push(Received {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let answer = shared.answers.lock().unwrap().pop_front();
    answer.unwrap_or((StatusCode::OK, "")).into_response()
}

/// The export's result: it blocks instead of waiting, so one poll finishes it.
fn export(exporter: &HttpProtoSpanExporter, batch: Vec<SpanData>) -> OTelSdkResult {
    match pin!(exporter.export(batch)).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("export is blocking and never pending"),
    }
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The exporter `init` builds from these `OTEL_*` variables.
fn exporter_for(endpoint: &str, pairs: &[(&str, &str)]) -> HttpProtoSpanExporter {
    let config = TelemetryConfig::new("s", "1").with_vars(&vars(pairs));
    let mut exporter = HttpProtoSpanExporter::new(endpoint, &config.otlp_traces).unwrap();
    exporter.set_resource(&resource());
    exporter
}

fn decode(body: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(body).unwrap()
}

fn failure_message(result: OTelSdkResult) -> String {
    match result {
        Err(OTelSdkError::InternalFailure(message)) => message,
        other => panic!("expected an export failure, got {other:?}"),
    }
}

#[test]
fn batches_are_posted_as_protobuf_to_v1_traces_with_the_configured_headers() {
    let collector = Collector::start(&[]);
    let exporter = exporter_for(
        &collector.endpoint,
        &[("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cret%20value")],
    );
    let first = varied_spans();
    let second = vec![server_span(&InstrumentationScope::builder("s").build(), 5)];

    export(&exporter, first.clone()).unwrap();
    export(&exporter, second.clone()).unwrap();

    let received = collector.received();
    assert_eq!(received.len(), 2);
    let request = &received[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert_eq!(request.headers["x-api-key"], "s3cret value");
    assert_eq!(decode(&request.body), transformed(&first, &resource()));
    assert_eq!(
        decode(&received[1].body),
        transformed(&second, &resource()),
        "the reused buffer carries the second batch only"
    );
}

#[test]
fn a_non_2xx_answer_is_an_export_error_with_its_status_and_body_and_is_not_retried() {
    let collector = Collector::start(&[(StatusCode::BAD_REQUEST, "invalid trace id\nin span 3")]);
    let exporter = exporter_for(&collector.endpoint, &[]);

    let message = failure_message(export(&exporter, varied_spans()));

    assert!(message.contains("400"), "{message}");
    assert!(message.contains("invalid trace id in span 3"), "{message}");
    assert_eq!(collector.received().len(), 1);
}

#[test]
fn an_overloaded_collector_is_tried_again_until_it_accepts() {
    let collector = Collector::start(&[
        (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        (StatusCode::BAD_GATEWAY, ""),
    ]);
    let exporter = exporter_for(&collector.endpoint, &[]);
    let spans = varied_spans();

    export(&exporter, spans.clone()).unwrap();

    let received = collector.received();
    assert_eq!(received.len(), 3);
    for request in received {
        assert_eq!(decode(&request.body), transformed(&spans, &resource()));
    }
}

#[test]
fn an_unreachable_collector_is_an_export_error_once_the_timeout_is_spent() {
    // A port nobody listens on any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exporter = exporter_for(
        &format!("http://127.0.0.1:{port}"),
        &[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300")],
    );

    let started = std::time::Instant::now();
    let message = failure_message(export(&exporter, varied_spans()));

    assert!(
        message.contains("OTLP/HTTP trace export failed"),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the timeout"
    );
}

#[test]
fn after_shutdown_export_fails_and_a_second_shutdown_says_so() {
    let collector = Collector::start(&[]);
    let exporter = exporter_for(&collector.endpoint, &[]);

    exporter.shutdown().unwrap();

    assert!(matches!(
        export(&exporter, varied_spans()),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(collector.received().is_empty());
}
