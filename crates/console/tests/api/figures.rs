//! One rule for what counts as an error, the same on the services page, the map and search:
//! a request failed when its entry span (SERVER, CONSUMER or root) has ERROR status or, for a
//! SERVER span, answered 5xx. A refused order (409) is no error of the order service even
//! though its client span that learned of it failed. And rates: per second over the chart's
//! step, the current one beside the window's average.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind::{self, *};
use serde_json::Value;

use crate::helpers::*;

const SECOND_NS: u64 = 1_000_000_000;

/// An order's trace: order's SERVER span answering `order_status`, its CLIENT call to
/// `callee` (failed when the callee answered 4xx or 5xx, as HTTP clients mark it) and the
/// callee's SERVER span answering `callee_status`; with `set_error`, SERVER spans that
/// answered 5xx set ERROR themselves.
fn order_call(
    trace: u128,
    start_ns: u64,
    callee: &'static str,
    (order_status, callee_status): (i64, i64),
    set_error: bool,
) -> ExportTraceServiceRequest {
    let server = |service, id, parent, status: i64| {
        let spec = SpanSpec::new(service, id, parent, "POST /orders", Server)
            .at(0, 30)
            .attr("http.response.status_code", i(status));
        if set_error && status >= 500 {
            spec.failed()
        } else {
            spec
        }
    };
    let client = SpanSpec::new("order", 2, Some(1), "POST /call", Client).at(5, 20);
    let client = if callee_status >= 400 {
        client.failed()
    } else {
        client
    };
    let mut step =
        SpanSpec::new("order", 4, Some(1), "reserve_inventory", SpanKind::Internal).at(4, 22);
    if callee_status >= 400 {
        step = step.failed();
    }
    trace_request(
        trace,
        start_ns,
        vec![
            server("order", 1, None, order_status),
            client,
            server(callee, 3, Some(2), callee_status),
            step,
        ],
    )
}

/// (requests, failed requests) per service, as `/api/console/services` counts them.
async fn services_errors(app: &TestApp) -> BTreeMap<String, (u64, u64)> {
    let (status, body) = app.get("/api/console/services?lookback=1h").await;
    assert_eq!(status, 200, "{body}");
    counts(&body["data"])
}

fn counts(rows: &Value) -> BTreeMap<String, (u64, u64)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let stats = &r["stats"];
            (
                r["service"].as_str().unwrap().to_owned(),
                (
                    stats["count"].as_u64().unwrap(),
                    stats["errors"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn services_map_and_search_count_the_same_failed_requests() {
    let app = spawn_app().await;
    let t0 = now_ns() - 20 * SECOND_NS;
    // Placed; refused for lack of stock (409 all the way, nothing failed); payment down with
    // a 503 whose SERVER span left its status unset (the console applies the rule), order
    // answering 502; a payment message that failed in its consumer.
    app.send_traces(&order_call(0xf1, t0, "inventory", (201, 201), true))
        .await;
    app.send_traces(&order_call(
        0xf2,
        t0 + SECOND_NS,
        "inventory",
        (409, 409),
        true,
    ))
    .await;
    app.send_traces(&order_call(
        0xf3,
        t0 + 2 * SECOND_NS,
        "payment",
        (502, 503),
        false,
    ))
    .await;
    app.send_traces(&trace_request(
        0xf4,
        t0 + 3 * SECOND_NS,
        vec![SpanSpec::new("payment", 1, None, "process order.created", Consumer).failed()],
    ))
    .await;
    app.flush().await;

    let expected: BTreeMap<String, (u64, u64)> = [
        ("inventory".to_owned(), (2, 0)),
        ("order".to_owned(), (3, 1)),
        ("payment".to_owned(), (2, 2)),
    ]
    .into();
    assert_eq!(services_errors(&app).await, expected);

    let (status, map) = app.get("/api/console/map?lookback=1h").await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(counts(&map["nodes"]), expected, "map nodes");
    let edge_errors: BTreeMap<String, u64> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                format!(
                    "{}->{}",
                    e["parent"].as_str().unwrap(),
                    e["child"].as_str().unwrap()
                ),
                e["errors"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edge_errors,
        [
            ("order->inventory".to_owned(), 0),
            ("order->payment".to_owned(), 1)
        ]
        .into(),
        "an edge counts the callee's failed requests"
    );

    // Search: the failing traces, and each row's failed requests per service add up to the
    // services page's.
    let (status, found) = app
        .get("/api/console/traces?status=error&lookback=1h&limit=50")
        .await;
    assert_eq!(status, 200, "{found}");
    let mut ids: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [hex(&trace_id(0xf3)), hex(&trace_id(0xf4))]);
    let (_, all) = app.get("/api/console/traces?lookback=1h&limit=50").await;
    let mut per_service: BTreeMap<String, u64> = BTreeMap::new();
    for t in all["data"].as_array().unwrap() {
        let services = t["services"].as_array().unwrap();
        let sum: u64 = services.iter().map(|s| s["errors"].as_u64().unwrap()).sum();
        assert_eq!(t["error_count"].as_u64().unwrap(), sum, "{t}");
        for s in services {
            *per_service
                .entry(s["service"].as_str().unwrap().to_owned())
                .or_default() += s["errors"].as_u64().unwrap();
        }
    }
    let from_services: BTreeMap<String, u64> =
        expected.iter().map(|(k, (_, e))| (k.clone(), *e)).collect();
    assert_eq!(per_service, from_services, "search rows against services");
    let (_, order_failed) = app
        .get("/api/console/traces?service=order&status=error&lookback=1h")
        .await;
    assert_eq!(
        order_failed["data"].as_array().unwrap().len(),
        1,
        "{order_failed}"
    );
    // The span itself still says it failed: Jaeger's `error` tag is the span's own status.
    let (_, trace) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xf3))))
        .await;
    let payment = find_span(&trace["data"][0], "payment", "POST /orders");
    assert_eq!(tag(payment, "error"), Some(&Value::Bool(true)), "{payment}");
}

#[tokio::test]
async fn the_current_rate_is_per_second_over_the_last_step_beside_the_windows_average() {
    let app = spawn_app().await;
    // 120 requests in the last few seconds of an hour's window.
    let t0 = now_ns() - 5 * SECOND_NS;
    for n in 0..120u64 {
        app.send_traces(&quick_trace(
            0x1000 + u128::from(n),
            t0 + n * 10_000_000,
            "burst",
            1,
        ))
        .await;
    }
    app.flush().await;

    let (status, body) = app.get("/api/console/services?lookback=1h").await;
    assert_eq!(status, 200, "{body}");
    let stats = &body["data"][0]["stats"];
    let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-6;
    assert_eq!(stats["count"], 120);
    assert!(close(&stats["rate_per_s"], 120.0 / 3600.0), "{stats}");
    // The step of an hour's chart is a minute.
    assert!(close(&stats["step_s"], 60.0), "{stats}");
    assert!(close(&stats["current_rate_per_s"], 2.0), "{stats}");

    let (status, series) = app
        .get("/api/console/stats?service=burst&lookback=1h")
        .await;
    assert_eq!(status, 200, "{series}");
    let points = series["data"].as_array().unwrap();
    assert_eq!(points.len(), 60, "whole steps only");
    let last = points.last().unwrap();
    assert!(close(&last["stats"]["rate_per_s"], 2.0), "{last}");
    let total: u64 = points
        .iter()
        .map(|p| p["stats"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 120);
}
