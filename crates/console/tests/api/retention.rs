//! Retention deletes the oldest traces: by age, and by size.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_console::ConsoleConfig;

use crate::helpers::*;

const DAY_NS: u64 = 86_400_000_000_000;

#[tokio::test]
async fn traces_and_logs_older_than_max_age_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        retention_max_age: Duration::from_secs(86_400),
        retention_interval: Duration::from_secs(3_600),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config).await;
    let old = now_ns() - 3 * DAY_NS;
    app.send_traces(&order_trace(0x01, old)).await;
    app.send_logs(&log_request(0x01, "order", old, &[(1, "INFO", "old")]))
        .await;
    app.send_traces(&order_trace(0x02, now_ns() - 60_000_000_000))
        .await;
    let recent = now_ns() - 60_000_000_000;
    app.send_logs(&log_request(0x02, "order", recent, &[(1, "INFO", "new")]))
        .await;

    let report = app.ingest.enforce_retention().await.unwrap();

    assert_eq!(report.expired_traces, 1);
    let (status, _) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0x01))))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0x02))))
        .await;
    assert_eq!(status, 200);
    let (_, logs) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0x01))
        ))
        .await;
    assert_eq!(logs["data"], serde_json::json!([]));
    let (_, logs) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0x02))
        ))
        .await;
    assert_eq!(logs["data"][0]["body"], "new");
    let (_, found) = app.get("/api/traces?service=inventory").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    // The old record's block went whole; the new one's stays.
    let config = app.stop().await;
    let blocks: Vec<i64> = rusqlite::Connection::open(config.database_path())
        .unwrap()
        .prepare("SELECT max_time_us FROM log_blocks")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(blocks, vec![i64::try_from(recent / 1_000).unwrap()]);
}

#[tokio::test]
async fn the_oldest_traces_are_deleted_until_the_database_fits_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    // The empty schema alone takes about 520 KiB (a 16 KiB page per table and index), and the
    // twelve traces about 600 KiB more: room for a few of them.
    let max_bytes = 750 * 1024;
    let config = ConsoleConfig {
        retention_max_bytes: max_bytes,
        retention_interval: Duration::from_secs(3_600),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config).await;
    let base = now_ns() - 3_600_000_000_000;
    for n in 0..12u64 {
        // Noise, which compression cannot shrink (spans are stored compressed).
        let mut x = 0x9e37_79b9_7f4a_7c15 ^ n;
        let payload: String = (0..25_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{:02x}", x & 0xff)
            })
            .collect();
        let req = trace_request(
            0x70 + u128::from(n),
            base + n * 1_000_000_000,
            vec![
                SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server)
                    .attr("payload", s(&payload)),
            ],
        );
        app.send_traces(&req).await;
    }

    let report = app.ingest.enforce_retention().await.unwrap();

    assert!(report.bytes_before > max_bytes, "{report:?}");
    assert!(report.bytes_after <= max_bytes, "{report:?}");
    assert!(
        report.trimmed_traces >= 1 && report.trimmed_traces < 12,
        "{report:?}"
    );
    let kept = 12 - report.trimmed_traces;
    let (_, body) = app.get("/api/traces?service=order&limit=100").await;
    let got: Vec<String> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (12 - kept..12)
        .rev()
        .map(|n| hex(&trace_id(0x70 + u128::from(n))))
        .collect();
    assert_eq!(got, want, "the newest {kept} traces are kept");
    // The blocks of the deleted spans went with them.
    let config = app.stop().await;
    let blocks: Vec<(i64, i64)> = rusqlite::Connection::open(config.database_path())
        .unwrap()
        .prepare("SELECT first_span_id, span_count FROM span_blocks")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        !blocks.is_empty() && blocks.len() as u64 <= kept,
        "{} blocks for {kept} traces",
        blocks.len()
    );
}

#[tokio::test]
async fn a_consumer_waiting_for_its_producer_goes_with_its_trace() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        retention_max_age: Duration::from_secs(86_400),
        retention_interval: Duration::from_secs(3_600),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config).await;
    let old = now_ns() - 3 * DAY_NS;
    app.send_traces(&trace_request(
        0x31,
        old,
        vec![
            SpanSpec::new(
                "payment",
                1,
                None,
                "process order.created",
                SpanKind::Consumer,
            )
            .linked_to(0x30, 2),
        ],
    ))
    .await;

    app.ingest.enforce_retention().await.unwrap();
    // The producer comes after all: nobody waits for it any more.
    app.send_traces(&trace_request(
        0x30,
        now_ns() - 60_000_000_000,
        vec![
            SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server),
            SpanSpec::new(
                "order",
                2,
                Some(1),
                "publish_order_created_event",
                SpanKind::Producer,
            ),
        ],
    ))
    .await;

    let db = rusqlite::Connection::open(app.config.database_path()).unwrap();
    let count = |table: &str| -> i64 {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    };
    assert_eq!(count("pending_links"), 0);
    assert_eq!(count("dependency_edges"), 0);
}
