//! The console's listeners guard their connections like the services do: a client that does
//! not finish its request head, or sends nothing, is closed after the header timeout; a stop
//! does not wait for such clients; and OTLP/gRPC (HTTP/2) still goes through.

use std::time::{Duration, Instant};
use tracemart_testkit::net::closed_by_server;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracemart_console::ConsoleConfig;

use crate::helpers::*;

/// The start of an export whose headers never end.
const STALLED: &[u8] = b"POST /v1/traces HTTP/1.1\r\nHost: console\r\nContent-Type: ";
/// Longer than any close the tests wait for.
const DEADLINE: Duration = Duration::from_secs(10);

async fn connect(url: &str) -> TcpStream {
    TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stalled_otlp_http_client_is_disconnected_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(ConsoleConfig {
        header_read_timeout: Duration::from_millis(300),
        ..ConsoleConfig::with_data_dir(dir.path())
    })
    .await;

    let mut stalled = connect(&app.otlp_http).await;
    stalled.write_all(STALLED).await.unwrap();
    let mut silent = connect(&app.otlp_http).await;
    let opened = Instant::now();

    closed_by_server(&mut stalled, DEADLINE, "an export with half its headers").await;
    closed_by_server(&mut silent, DEADLINE, "a connection that sent nothing").await;
    assert!(
        opened.elapsed() >= Duration::from_millis(250),
        "closed after {:?}, before the timeout",
        opened.elapsed()
    );
    // Exports on new connections still go through, over HTTP/1.1 and gRPC.
    app.send_traces(&order_trace(0xc1, now_ns())).await;
    let mut grpc = TraceServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();
    grpc.export(quick_trace(0xc2, now_ns(), "order", 3))
        .await
        .unwrap();
    app.flush().await;
    for trace in [0xc1, 0xc2] {
        let (status, _) = app
            .get(&format!("/api/traces/{}", hex(&trace_id(trace))))
            .await;
        assert_eq!(status, 200, "trace {trace:x}");
    }
}

#[tokio::test]
async fn a_stop_does_not_wait_for_stalled_or_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(ConsoleConfig {
        header_read_timeout: Duration::from_secs(60),
        ..ConsoleConfig::with_data_dir(dir.path())
    })
    .await;
    let mut open = Vec::new();
    for url in [&app.otlp_http, &app.otlp_grpc, &app.ui] {
        let mut stalled = connect(url).await;
        stalled.write_all(STALLED).await.unwrap();
        open.push(stalled);
        open.push(connect(url).await);
    }
    // An exporter's gRPC channel that has exported once and stays open, idle.
    let mut grpc = TraceServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();
    grpc.export(quick_trace(0xc3, now_ns(), "order", 3))
        .await
        .unwrap();

    let asked = Instant::now();
    app.stop().await;

    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stopped after {:?}: it waited on connections with nothing in flight",
        asked.elapsed()
    );
    drop(open);
}
