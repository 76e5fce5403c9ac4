//! The log exporter on the span exporter's poster: its own path and body, and the poster's
//! headers, errors and retries seen through it.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use http::{Method, StatusCode};
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{LogBatch, LogExporter};
use prost::Message;

use super::{Collector, failure_message, vars};
use crate::TelemetryConfig;
use crate::otlp::fixtures::resource;
use crate::otlp::log_fixtures::{Records, server_log_record, transformed_logs, varied_records};
use crate::otlp::{HttpProtoExporter, LogEncoder};

type HttpProtoLogExporter = HttpProtoExporter<LogEncoder>;

/// The export's result: it blocks instead of waiting, so one poll finishes it.
fn export(exporter: &HttpProtoLogExporter, records: &Records) -> OTelSdkResult {
    let pairs: Vec<_> = records.iter().map(|(r, s)| (r, s)).collect();
    let export = pin!(exporter.export(LogBatch::new(&pairs)));
    match export.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("export is blocking and never pending"),
    }
}

/// The exporter `init` builds from these `OTEL_*` variables.
fn exporter_for(endpoint: &str, pairs: &[(&str, &str)]) -> HttpProtoLogExporter {
    let config = TelemetryConfig::new("s", "1").with_vars(&vars(pairs));
    let mut exporter =
        HttpProtoLogExporter::new(endpoint, &config.otlp_logs).expect("a valid endpoint");
    exporter.set_resource(&resource());
    exporter
}

/// The request sent, and what opentelemetry-otlp would have sent for `records`.
fn decode_and_expect(
    body: &[u8],
    records: &Records,
) -> (ExportLogsServiceRequest, ExportLogsServiceRequest) {
    let decoded = ExportLogsServiceRequest::decode(body).expect("a logs request");
    let expected = transformed_logs(records, &resource(), &decoded);
    (decoded, expected)
}

#[test]
fn batches_are_posted_as_protobuf_to_v1_logs_with_the_configured_log_headers() {
    let collector = Collector::start(&[]);
    let exporter = exporter_for(
        &collector.endpoint,
        &[
            (
                "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
                "x-api-key=s3cret%20value",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-api-key=for-traces"),
        ],
    );
    let first = varied_records();
    let second: Records = vec![(
        server_log_record(5),
        InstrumentationScope::builder("s").build(),
    )];

    export(&exporter, &first).expect("first batch accepted");
    export(&exporter, &second).expect("second batch accepted");

    let received = collector.received();
    assert_eq!(received.len(), 2);
    let request = &received[0];
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/v1/logs");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert_eq!(request.headers["x-api-key"], "s3cret value");
    let (decoded, expected) = decode_and_expect(&request.body, &first);
    assert_eq!(decoded, expected);
    let (decoded, expected) = decode_and_expect(&received[1].body, &second);
    assert_eq!(
        decoded, expected,
        "the reused buffer carries the second batch only"
    );
}

#[test]
fn a_non_2xx_answer_is_a_log_export_error_with_its_status_and_body_and_is_not_retried() {
    let collector = Collector::start(&[(StatusCode::BAD_REQUEST, "invalid\nlog record")]);
    let exporter = exporter_for(&collector.endpoint, &[]);

    let message = failure_message(export(&exporter, &varied_records()));

    assert!(message.contains("OTLP/HTTP log export"), "{message}");
    assert!(message.contains("400"), "{message}");
    assert!(message.contains("invalid log record"), "{message}");
    assert_eq!(collector.received().len(), 1);
}

#[test]
fn an_overloaded_collector_is_sent_the_same_logs_again_until_it_accepts() {
    let collector = Collector::start(&[
        (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        (StatusCode::GATEWAY_TIMEOUT, ""),
    ]);
    let exporter = exporter_for(&collector.endpoint, &[]);
    let records = varied_records();

    export(&exporter, &records).expect("accepted on the third try");

    let received = collector.received();
    assert_eq!(received.len(), 3);
    for request in received {
        assert_eq!(request.path, "/v1/logs");
        let (decoded, expected) = decode_and_expect(&request.body, &records);
        assert_eq!(decoded, expected);
    }
}

#[test]
fn after_shutdown_log_export_fails_and_a_second_shutdown_says_so() {
    let collector = Collector::start(&[]);
    let exporter = exporter_for(&collector.endpoint, &[]);

    exporter.shutdown().expect("first shutdown");

    assert!(matches!(
        export(&exporter, &varied_records()),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(matches!(
        exporter.shutdown(),
        Err(OTelSdkError::AlreadyShutdown)
    ));
    assert!(collector.received().is_empty());
}
