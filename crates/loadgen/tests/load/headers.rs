//! Every load request says it is synthetic and starts its own sampled W3C trace.

use std::collections::HashSet;

use tracemart_loadgen::{SYNTHETIC_BAGGAGE, execute};

use crate::helpers::{Recorder, args};

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_synthetic_baggage_and_its_own_valid_traceparent() {
    let (shop, url) = Recorder::start().await;

    let report = execute(&args(&[
        &url,
        "--product-url",
        &url,
        "--mix",
        "order=1,get=1,browse=1",
        "--requests",
        "60",
        "--connections",
        "4",
    ]))
    .await
    .unwrap();

    let load: Vec<_> = shop
        .requests()
        .into_iter()
        .filter(|r| r.path != "/health")
        .collect();
    assert!(load.len() >= 60, "{} requests", load.len());
    let mut trace_ids = HashSet::new();
    for request in &load {
        assert_eq!(
            request.headers.get("baggage").and_then(|v| v.to_str().ok()),
            Some(SYNTHETIC_BAGGAGE),
            "{} {}",
            request.method,
            request.path
        );
        let traceparent = request.headers["traceparent"].to_str().unwrap();
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[0], "00");
        assert!(
            is_lower_hex(parts[1], 32) && parts[1] != "0".repeat(32),
            "{traceparent}"
        );
        assert!(
            is_lower_hex(parts[2], 16) && parts[2] != "0".repeat(16),
            "{traceparent}"
        );
        assert_eq!(parts[3], "01", "sampled flag");
        assert!(
            trace_ids.insert(parts[1].to_owned()),
            "trace id reused: {traceparent}"
        );
    }
    // The samples name traces the server really saw.
    assert!(!report.samples.is_empty());
    for sample in &report.samples {
        assert!(trace_ids.contains(&sample.trace_id), "{sample:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_goes_with_every_request_and_none_without_one() {
    for token in [Some("tm1.abc.def"), None] {
        let (shop, url) = Recorder::start().await;
        let mut argv = vec![url.as_str(), "--scenario", "get-order", "--requests", "10"];
        if let Some(t) = token {
            argv.extend(["--token", t]);
        }
        execute(&args(&argv)).await.unwrap();
        let load: Vec<_> = shop
            .requests()
            .into_iter()
            .filter(|r| r.path != "/health")
            .collect();
        assert!(load.len() >= 10, "{} requests", load.len());
        for request in &load {
            let sent = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            assert_eq!(
                sent,
                token.map(|t| format!("Bearer {t}")).as_deref(),
                "{} {}",
                request.method,
                request.path
            );
        }
    }
}
