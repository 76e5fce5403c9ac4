//! A restart keeps what was stored.

use crate::helpers::*;
use tracemart_console::ConsoleConfig;

#[tokio::test]
async fn a_restarted_console_still_has_its_traces_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ns() - 30_000_000_000;
    let app = spawn_app_with(ConsoleConfig::with_data_dir(data_dir(&dir))).await;
    app.send_traces(&order_trace(0x51, start)).await;
    app.send_logs(&log_request(
        0x51,
        "order",
        start,
        &[(1, "INFO", "before restart")],
    ))
    .await;
    let config = app.stop().await;

    let app = spawn_app_with(config).await;
    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0x51))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 6);
    let (_, logs) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0x51))
        ))
        .await;
    assert_eq!(logs["data"][0]["body"], "before restart");

    // Ingest continues after the restart without clashing with stored rows.
    app.send_traces(&order_trace(0x52, start + 1_000_000_000))
        .await;
    let (_, found) = app
        .get("/api/traces?service=inventory&tag=error:true")
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 2);
    let (_, services) = app.get("/api/services").await;
    assert_eq!(services["total"], 3);
}

#[tokio::test]
async fn shutdown_stores_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(ConsoleConfig::with_data_dir(data_dir(&dir))).await;
    for n in 0..20u128 {
        let res = app
            .post_otlp(
                "/v1/traces",
                PROTOBUF,
                prost::Message::encode_to_vec(&quick_trace(0x600 + n, now_ns(), "order", 1)),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    // No flush: stopping drains the queue.
    let config = app.stop().await;

    let app = spawn_app_with(config).await;
    let (_, body) = app.get("/api/console/traces?service=order&limit=100").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 20);
}
