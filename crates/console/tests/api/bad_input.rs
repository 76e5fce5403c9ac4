//! Bad input gets the protocol's error answer, never a crash; a full queue is answered with
//! retryable codes.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use sqlx::Connection;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tracemart_console::ConsoleConfig;

use crate::helpers::*;

#[tokio::test]
async fn malformed_otlp_http_bodies_are_answered_400() {
    let app = spawn_app().await;
    let valid = order_trace(0x1, now_ns()).encode_to_vec();
    let cases: Vec<(&str, &str, &str, Vec<u8>)> = vec![
        (
            "garbage protobuf",
            "/v1/traces",
            PROTOBUF,
            b"\xff\xff\xff\xff not protobuf".to_vec(),
        ),
        (
            "truncated protobuf",
            "/v1/traces",
            PROTOBUF,
            valid[..valid.len() / 2].to_vec(),
        ),
        (
            "garbage json",
            "/v1/traces",
            "application/json",
            b"{\"resourceSpans\": [".to_vec(),
        ),
        (
            "json of the wrong shape",
            "/v1/traces",
            "application/json",
            b"{\"resourceSpans\": 7}".to_vec(),
        ),
        (
            "garbage protobuf logs",
            "/v1/logs",
            PROTOBUF,
            b"\x0a\xff\xff\xff\xff\x0f".to_vec(),
        ),
        ("empty json", "/v1/logs", "application/json", Vec::new()),
    ];

    for (name, path, content_type, body) in cases {
        let res = app.post_otlp(path, content_type, body).await;
        assert_eq!(res.status(), 400, "{name}");
    }
    // Still serving.
    app.send_traces(&order_trace(0x2, now_ns())).await;
}

#[tokio::test]
async fn protobuf_errors_carry_a_google_rpc_status_body() {
    let app = spawn_app().await;

    let res = app
        .post_otlp("/v1/traces", PROTOBUF, b"\xff\xff".to_vec())
        .await;

    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], PROTOBUF);
    let body = res.bytes().await.unwrap();
    // field 1 (code) = 3 INVALID_ARGUMENT
    assert_eq!(&body[..2], &[0x08, 0x03]);
}

#[tokio::test]
async fn wrong_content_types_are_answered_415() {
    let app = spawn_app().await;
    let body = order_trace(0x1, now_ns()).encode_to_vec();
    for content_type in ["text/plain", "application/grpc-web", "multipart/form-data"] {
        let res = app
            .post_otlp("/v1/traces", content_type, body.clone())
            .await;
        assert_eq!(res.status(), 415, "{content_type}");
    }
    let res = app
        .http
        .post(format!("{}/v1/traces", app.otlp_http))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415, "no content type");
}

#[tokio::test]
async fn oversized_payloads_are_answered_413_and_resource_exhausted() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        max_request_bytes: 4096,
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config).await;
    let big = trace_request(
        0x1,
        now_ns(),
        vec![
            SpanSpec::new("order", 1, None, "big", Default::default())
                .attr("blob", s(&"x".repeat(10_000))),
        ],
    );

    let res = app
        .post_otlp("/v1/traces", PROTOBUF, big.encode_to_vec())
        .await;
    assert_eq!(res.status(), 413);

    let chunked = reqwest::Body::wrap_stream(futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(vec![b'{'; 1024])),
    ));
    let res = app
        .http
        .post(format!("{}/v1/traces", app.otlp_http))
        .header("content-type", "application/json")
        .body(chunked)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413, "without content-length");

    let mut client = TraceServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();
    let status = client.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

/// Sends raw bytes as a gRPC message, as a broken exporter would.
#[derive(Clone, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        bytes::BufMut::put_slice(dst, &item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(bytes::Buf::copy_to_bytes(
            src,
            bytes::Buf::remaining(src),
        )))
    }
}

#[tokio::test]
async fn malformed_grpc_messages_are_invalid_argument() {
    let app = spawn_app().await;
    let channel = tonic::transport::Channel::from_shared(app.otlp_grpc.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    for path in [
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    ] {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let status = grpc
            .unary(
                tonic::Request::new(Bytes::from_static(b"\xff\xff\xff\xff garbage")),
                http::uri::PathAndQuery::from_static(path),
                RawCodec,
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
    }
}

#[tokio::test]
async fn jaeger_api_errors_use_jaegers_error_shape() {
    let (app, _) = (spawn_app().await, ());
    app.send_traces(&order_trace(0x1, now_ns())).await;
    let cases = [
        (
            "unknown trace",
            "/api/traces/0000000000000000000000000000beef",
            404,
        ),
        ("malformed trace id", "/api/traces/not-hex", 400),
        (
            "limit not a number",
            "/api/traces?service=order&limit=ten",
            400,
        ),
        ("negative limit", "/api/traces?service=order&limit=-3", 400),
        (
            "bad duration",
            "/api/traces?service=order&minDuration=fast",
            400,
        ),
        (
            "min over max",
            "/api/traces?service=order&minDuration=2s&maxDuration=1s",
            400,
        ),
        (
            "bad start",
            "/api/traces?service=order&start=yesterday",
            400,
        ),
        (
            "tags not json",
            "/api/traces?service=order&tags=%7Bnope",
            400,
        ),
        ("bad endTs", "/api/dependencies?endTs=soon", 400),
        ("bad status", "/api/console/traces?status=maybe", 400),
        ("unknown api path", "/api/nothing/here", 404),
        ("operations without service", "/api/operations", 400),
        ("logs of a malformed id", "/api/console/traces/zz/logs", 400),
    ];

    for (name, path, want) in cases {
        let (status, body) = app.get(path).await;
        assert_eq!(status, want, "{name}: {body}");
        assert_eq!(body["data"], serde_json::Value::Null, "{name}");
        assert_eq!(body["errors"][0]["code"], want, "{name}");
        assert!(
            !body["errors"][0]["msg"].as_str().unwrap().is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_full_queue_is_answered_503_with_retry_after_and_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        queue_capacity: 1,
        enqueue_timeout: Duration::from_millis(20),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config.clone()).await;
    // Hold the database's write lock so the writer blocks on its first batch.
    let mut blocker =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", config.database_path().display()))
            .await
            .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let mut refused = None;
    let mut accepted = Vec::new();
    for n in 0..10u128 {
        let body = quick_trace(0x100 + n, now_ns(), "order", 1).encode_to_vec();
        let res = app.post_otlp("/v1/traces", PROTOBUF, body).await;
        if res.status() == 503 {
            refused = Some(res);
            break;
        }
        assert_eq!(res.status(), 200);
        accepted.push(0x100 + n);
    }
    let refused = refused.expect("a full queue refuses within 10 requests");
    assert_eq!(refused.headers()["retry-after"], "1");
    let mut client = TraceServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();
    let status = client
        .export(quick_trace(0x200, now_ns(), "order", 1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    app.flush().await;
    for n in accepted {
        let (status, _) = app.get(&format!("/api/traces/{}", hex(&trace_id(n)))).await;
        assert_eq!(status, 200, "accepted trace {n:x} is stored");
    }
}
