//! `--json` prints one document with every figure, under the documented field names.

use serde_json::Value;
use tracemart_loadgen::{execute, report::render_json};

use crate::helpers::{Recorder, args};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_report_parses_and_has_the_documented_fields() {
    let (_shop, url) = Recorder::start().await;

    let report = execute(&args(&[
        &url,
        "--requests",
        "20",
        "--connections",
        "2",
        "--slo",
        "p99=10s",
        "--json",
    ]))
    .await
    .unwrap();
    let json: Value = serde_json::from_str(&render_json(&report).unwrap()).unwrap();

    for field in [
        "target",
        "product_url",
        "scenario",
        "mix",
        "mode",
        "rate",
        "connections",
        "started_at",
        "interrupted",
        "elapsed_s",
        "requests",
        "throughput_rps",
        "latency_us",
        "by_request",
        "status_counts",
        "errors",
        "error_rate",
        "samples",
        "server_side",
        "slo",
        "slo_met",
        "exit_code",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    for field in ["scheduled", "sent", "completed", "ok", "dropped", "late"] {
        assert!(json["requests"][field].is_u64(), "requests.{field}");
    }
    for field in ["count", "min", "p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_us"][field].is_u64(), "latency_us.{field}");
    }
    for field in [
        "by_status",
        "connect",
        "timeout",
        "other",
        "dropped",
        "total",
    ] {
        assert!(json["errors"].get(field).is_some(), "errors.{field}");
    }
    assert_eq!(json["requests"]["sent"], 20);
    assert_eq!(json["status_counts"]["201"], 20);
    assert_eq!(json["by_request"]["POST /orders"]["count"], 20);
    assert_eq!(json["mode"], "closed");
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["scenario"], "order");
    assert_eq!(json["slo"][0]["key"], "p99");
    assert_eq!(json["slo"][0]["met"], true);
    let samples = json["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 20);
    for sample in samples {
        assert_eq!(sample["trace_id"].as_str().unwrap().len(), 32);
        assert!(sample["scheduled_at"].as_u64().unwrap() >= json["started_at"].as_u64().unwrap());
        assert!(sample["latency_us"].as_u64().unwrap() > 0);
        assert_eq!(sample["status"], 201);
        assert_eq!(sample["request"], "POST /orders");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_reservoir_is_capped() {
    let (_shop, url) = Recorder::start().await;

    let report = execute(&args(&[&url, "--requests", "50", "--samples", "10"]))
        .await
        .unwrap();

    assert_eq!(report.requests.sent, 50);
    assert_eq!(report.samples.len(), 10);
}
