//! Log lines: one JSON object a line with the seed's fields, the ids of the exported spans,
//! the order's baggage downstream, and the same records exported over OTLP.

use std::collections::HashSet;

use serde_json::Value;
use tracemart_platform::ServiceName;

use crate::helpers::{DEADLINE, Options, Shop, order_body};
use crate::traces::order_trace_complete;

const SEED_FIELDS: [&str; 12] = [
    "timestamp",
    "level",
    "service",
    "version",
    "logger",
    "message",
    "trace_id",
    "span_id",
    "request_id",
    "thread",
    "filename",
    "lineno",
];

const SHOP: [(ServiceName, &str); 4] = [
    (ServiceName::Order, "order-service"),
    (ServiceName::User, "user-service"),
    (ServiceName::Product, "product-service"),
    (ServiceName::Inventory, "inventory-service"),
];

fn is_completed_of(line: &Value, trace_id: &str) -> bool {
    line["message"] == "Request completed" && line["trace_id"] == trace_id
}

#[tokio::test]
async fn log_lines_are_json_and_carry_the_ids_of_exported_spans_and_the_orders_baggage() {
    let shop = Shop::up().await;
    let answer = shop.post_order(&order_body(7, &[(1, 1)])).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let trace_id = answer.trace_id();
    let request_id = answer.header("x-request-id");
    let t = shop.receiver().trace(&trace_id, order_trace_complete).await;

    for (s, service) in SHOP {
        // `logs` panics on any line that is not a JSON object.
        let lines = shop.logs_until(s, |l| is_completed_of(l, &trace_id)).await;
        let ours: Vec<&Value> = lines.iter().filter(|l| l["trace_id"] == trace_id).collect();
        assert!(
            ours.len() >= 2,
            "{service} logged {} lines of the trace",
            ours.len()
        );
        let span_ids: HashSet<String> =
            t.0.iter()
                .filter(|sp| sp.service == service)
                .map(|sp| sp.span_id())
                .collect();
        for line in ours {
            for f in SEED_FIELDS {
                assert!(line.get(f).is_some(), "{service} line lacks {f}: {line}");
            }
            assert_eq!(line["service"], service);
            let span_id = line["span_id"].as_str().unwrap();
            assert!(
                span_ids.contains(span_id),
                "{service} logged span {span_id}, not exported: {line}"
            );
            if s != ServiceName::Order {
                // Baggage set by the order service, logged downstream.
                assert_eq!(line["order.user_id"], "7", "{line}");
                assert_eq!(line["order.correlation_id"], request_id.as_str(), "{line}");
            }
        }
    }

    // The same records reach the OTLP receiver, with the trace id.
    let exported =
        tracemart_testkit::eventually(crate::helpers::DEADLINE, "OTLP log records", || {
            let found: Vec<String> = shop
                .receiver()
                .logs()
                .into_iter()
                .filter(|l| l.trace_id() == trace_id)
                .map(|l| format!("{} {}", l.service, l.body()))
                .collect();
            let done = found
                .iter()
                .any(|l| l == "order-service Order created successfully")
                && found.iter().any(|l| l.starts_with("user-service "));
            async move { done.then_some(found) }
        })
        .await;
    assert!(!exported.is_empty());
}

#[tokio::test]
async fn every_request_is_logged_once_with_its_extra_fields() {
    let shop = Shop::up().await;
    let ok = shop.post_order(&order_body(5, &[(2, 1)])).await;
    let bad = shop.post_order(&order_body(999_999, &[(2, 1)])).await;
    assert_eq!((ok.status, bad.status), (201, 400));
    let order_id = ok.body["order_id"].as_str().unwrap().to_owned();
    let got = shop
        .get(ServiceName::Order, &format!("/orders/{order_id}"))
        .await;
    assert_eq!(got.status, 200);

    let lines = shop
        .logs_until(ServiceName::Order, |l| {
            l["message"] == "Request completed" && l["request_id"] == got.header("x-request-id")
        })
        .await;
    for (answer, method, path, status) in [
        (&ok, "POST", "/orders".to_owned(), 201),
        (&bad, "POST", "/orders".to_owned(), 400),
        (&got, "GET", format!("/orders/{order_id}"), 200),
    ] {
        let rid = answer.header("x-request-id");
        let of = |msg: &str| -> Vec<&Value> {
            lines
                .iter()
                .filter(|l| l["request_id"] == rid.as_str() && l["message"] == msg)
                .collect()
        };
        let started = of("Request started");
        let completed = of("Request completed");
        assert_eq!(
            (started.len(), completed.len()),
            (1, 1),
            "request {rid}: {lines:#?}"
        );
        let c = completed[0];
        assert_eq!(c["method"], method);
        assert_eq!(c["path"], path.as_str());
        assert_eq!(c["status_code"], status);
        assert!(c["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{c}");
        assert_eq!(c["trace_id"], answer.trace_id().as_str());
    }
    // The business line carries its own fields (the seed's `extra` never reached the JSON).
    let created: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "Order created successfully")
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["order_id"], order_id.as_str());
    assert_eq!(created[0]["user_id"], 5);
    assert_eq!(created[0]["total_amount"], ok.body["total_amount"]);
    // No line is written twice.
    let raw = shop.log_lines(ServiceName::Order);
    let unique: HashSet<&String> = raw.iter().collect();
    assert_eq!(unique.len(), raw.len(), "a log line was written twice");
}

#[tokio::test]
async fn a_full_log_file_is_rotated_and_only_the_newest_files_are_kept() {
    const MAX_BYTES: u64 = 8192;
    let mut shop = Shop::up_with(Options {
        export: false,
        env: vec![
            ("TRACEMART_LOG_FILE_MAX_BYTES", MAX_BYTES.to_string()),
            ("TRACEMART_LOG_FILES_KEPT", "2".into()),
        ],
        ..Options::default()
    })
    .await;
    let logs = shop.data.join("logs");
    let file = |suffix: &str| logs.join(format!("user.log{suffix}"));

    // Each request logs a line of a few hundred bytes: a few dozen fill the three files.
    tracemart_testkit::eventually(DEADLINE, "user.log.2", || async {
        for _ in 0..10 {
            let answer = shop.get(ServiceName::User, "/users/7").await;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        file(".2").exists().then_some(())
    })
    .await;
    for _ in 0..30 {
        shop.get(ServiceName::User, "/users/7").await;
    }
    shop.stop().await;

    assert!(!file(".3").exists(), "more files kept than asked for");
    let mut kept = Vec::new();
    // Oldest file first; every line whole (it parses).
    for suffix in [".2", ".1", ""] {
        let text = std::fs::read_to_string(file(suffix)).unwrap();
        if !suffix.is_empty() {
            let size = text.len() as u64;
            // Rotation waits for the batch being written: at most 256 KiB of lines.
            assert!(
                (MAX_BYTES..MAX_BYTES + 260 * 1024).contains(&size),
                "user.log{suffix}: {size} bytes"
            );
        }
        for line in text.lines() {
            let parsed: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("user.log{suffix}: not a JSON line ({e}): {line}"));
            kept.push(parsed);
        }
    }
    // The service kept logging to the new file until it stopped.
    assert_eq!(
        kept.last().map(|l| l["message"].clone()),
        Some(Value::from("Service stopped"))
    );
}

#[tokio::test]
async fn a_client_cannot_put_its_own_correlation_id_into_the_services_logs() {
    let shop = Shop::up().await;
    let answer = shop
        .post_order_with(
            &order_body(7, &[(1, 1)]),
            &[(
                "baggage",
                "order.correlation_id=FORGED,order.user_id=987654321,tenant=acme",
            )],
        )
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let trace_id = answer.trace_id();
    let request_id = answer.header("x-request-id");
    for (s, _) in SHOP {
        let lines = shop.logs_until(s, |l| is_completed_of(l, &trace_id)).await;
        for line in lines.iter().filter(|l| l["trace_id"] == trace_id) {
            let text = line.to_string();
            assert!(
                // (A value no random id or time is likely to contain, unlike "666".)
                !text.contains("FORGED") && !text.contains("987654321"),
                "{s} logged the client's baggage: {line}"
            );
            if s != ServiceName::Order {
                assert_eq!(line["order.correlation_id"], request_id.as_str(), "{line}");
            }
        }
    }
}
