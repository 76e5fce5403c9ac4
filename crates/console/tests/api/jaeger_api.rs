//! Jaeger query API: the shapes Jaeger UI and Grafana's Jaeger data source read.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};

use crate::helpers::*;

async fn shop() -> (TestApp, u64) {
    let app = spawn_app().await;
    let start = now_ns() - 120_000_000_000;
    app.send_traces(&order_trace(0x1, start)).await;
    app.send_traces(&quick_trace(0x2, start + 1_000_000_000, "order", 3))
        .await;
    app.send_traces(&quick_trace(0x3, start + 2_000_000_000, "order", 250))
        .await;
    (app, start)
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn services_and_operations_list_what_was_received() {
    let (app, _) = shop().await;

    let (status, services) = app.get("/api/services").await;
    assert_eq!(status, 200);
    assert_eq!(services["data"], json!(["inventory", "order", "user"]));
    assert_eq!(services["total"], 3);
    assert_eq!(services["errors"], Value::Null);

    let (_, ops) = app.get("/api/services/order/operations").await;
    assert_eq!(
        ops["data"],
        json!([
            "GET /orders/{order_id}",
            "GET /users/{id}",
            "POST /inventory/reserve",
            "POST /orders",
            "create_order"
        ])
    );
    let (_, kinds) = app
        .get("/api/operations?service=order&spanKind=server")
        .await;
    assert_eq!(
        kinds["data"],
        json!([{"name": "GET /orders/{order_id}", "spanKind": "server"}, {"name": "POST /orders", "spanKind": "server"}])
    );
}

#[tokio::test]
async fn search_filters_by_operation_tags_duration_and_time() {
    let (app, start) = shop().await;
    let t = |n: u128| hex(&trace_id(n));
    let start_us = start / 1000;
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "every order trace, newest first",
            "service=order".into(),
            vec![t(3), t(2), t(1)],
        ),
        (
            "by operation",
            "service=order&operation=POST%20%2Forders".into(),
            vec![t(1)],
        ),
        (
            "by tag",
            format!(
                "service=inventory&tags={}",
                urlencode(r#"{"http.response.status_code":"500"}"#)
            ),
            vec![t(1)],
        ),
        (
            "by numeric tag on another service",
            format!(
                "service=user&tags={}",
                urlencode(r#"{"http.response.status_code":"200"}"#)
            ),
            vec![t(1)],
        ),
        (
            "tag that matches nothing",
            format!(
                "service=order&tags={}",
                urlencode(r#"{"http.response.status_code":"404"}"#)
            ),
            vec![],
        ),
        (
            "by tag=key:value",
            "service=order&tag=error:true".into(),
            vec![t(1)],
        ),
        (
            "by minDuration",
            "service=order&minDuration=100ms".into(),
            vec![t(3), t(1)],
        ),
        (
            "by min and maxDuration",
            "service=order&minDuration=1ms&maxDuration=200ms".into(),
            vec![t(2), t(1)],
        ),
        (
            "by µs window",
            format!(
                "service=order&start={}&end={}",
                start_us + 500_000,
                start_us + 1_500_000
            ),
            vec![t(2)],
        ),
        ("limit", "service=order&limit=2".into(), vec![t(3), t(2)]),
        ("without a service", "minDuration=200ms".into(), vec![t(3)]),
    ];

    for (name, query, want) in cases {
        let (status, body) = app.get(&format!("/api/traces?{query}")).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(ids(&body), want, "{name}");
        assert_eq!(body["total"], want.len(), "{name}");
    }
}

#[tokio::test]
async fn search_returns_whole_traces() {
    let (app, _) = shop().await;

    let (_, body) = app.get("/api/traces?service=inventory").await;

    let trace = &body["data"][0];
    assert_eq!(trace["spans"].as_array().unwrap().len(), 6);
    assert_eq!(trace["processes"].as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn error_spans_carry_jaegers_error_tags() {
    let (app, _) = shop().await;

    let (_, body) = app.get(&format!("/api/traces/{}", hex(&trace_id(1)))).await;

    let failed = find_span(&body["data"][0], "inventory", "POST /inventory/reserve");
    assert_eq!(tag(failed, "error"), Some(&json!(true)));
    assert_eq!(tag(failed, "otel.status_code"), Some(&json!("ERROR")));
    assert_eq!(tag(failed, "otel.status_description"), Some(&json!("boom")));
    let types: Vec<&Value> = failed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["type"])
        .collect();
    assert!(types.contains(&&json!("bool")) && types.contains(&&json!("int64")));
    let fine = find_span(&body["data"][0], "user", "GET /users/{id}");
    assert_eq!(tag(fine, "error"), None);
}

#[tokio::test]
async fn dependencies_count_calls_between_different_services() {
    let (app, start) = shop().await;
    // A second order trace doubles the order -> inventory and order -> user edges.
    app.send_traces(&order_trace(0x4, start + 3_000_000_000))
        .await;

    let (status, body) = app.get("/api/dependencies?lookback=86400000").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!([
            {"parent": "order", "child": "inventory", "callCount": 2},
            {"parent": "order", "child": "user", "callCount": 2},
        ])
    );
    let end_ts = start / 1_000_000 - 3_600_000;
    let (_, old) = app
        .get(&format!("/api/dependencies?endTs={end_ts}&lookback=60000"))
        .await;
    assert_eq!(old["data"], json!([]));
}

#[tokio::test]
async fn a_trace_split_across_exports_is_one_trace() {
    let app = spawn_app().await;
    let start = now_ns() - 10_000_000_000;
    // The child ends first, so it is exported before its parent.
    app.send_traces(&trace_request(
        0x9,
        start,
        vec![SpanSpec::new("payment", 2, Some(1), "POST /payments", SpanKind::Server).at(5, 20)],
    ))
    .await;
    app.send_traces(&trace_request(
        0x9,
        start,
        vec![SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server).at(0, 40)],
    ))
    .await;

    let (_, list) = app.get("/api/console/traces?service=payment").await;
    let summary = &list["data"][0];
    assert_eq!(summary["root_service"], "order");
    assert_eq!(summary["root_operation"], "POST /orders");
    assert_eq!(summary["span_count"], 2);
    assert_eq!(summary["duration_us"], 40_000);
    let (_, deps) = app.get("/api/dependencies").await;
    assert_eq!(
        deps["data"],
        json!([{"parent": "order", "child": "payment", "callCount": 1}])
    );
}

pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn dependencies_resolve_when_the_second_span_of_a_pair_arrives() {
    let app = spawn_app().await;
    let start = now_ns() - 10_000_000_000;
    let order = || SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server).at(0, 40);
    // Parent first, child in a later export.
    app.send_traces(&trace_request(0xa, start, vec![order()]))
        .await;
    app.send_traces(&trace_request(
        0xa,
        start,
        vec![SpanSpec::new("payment", 2, Some(1), "POST /payments", SpanKind::Server).at(5, 20)],
    ))
    .await;
    // Child first (from another service), its parent in a later export.
    app.send_traces(&trace_request(
        0xb,
        start,
        vec![SpanSpec::new("user", 2, Some(1), "GET /users/{id}", SpanKind::Server).at(5, 20)],
    ))
    .await;
    app.send_traces(&trace_request(0xb, start, vec![order()]))
        .await;
    // A child whose parent never arrives is no edge.
    app.send_traces(&trace_request(
        0xc,
        start,
        vec![SpanSpec::new("user", 2, Some(7), "GET /users/{id}", SpanKind::Server).at(5, 20)],
    ))
    .await;

    let (_, deps) = app.get("/api/dependencies").await;

    assert_eq!(
        deps["data"],
        json!([
            {"parent": "order", "child": "payment", "callCount": 1},
            {"parent": "order", "child": "user", "callCount": 1},
        ])
    );
}

#[tokio::test]
async fn log_records_that_arrive_before_their_spans_join_the_trace() {
    let app = spawn_app().await;
    let start = now_ns() - 10_000_000_000;
    // The logs are exported first, stamped before the spans' start: a trace's start and
    // duration still come from its spans alone.
    app.send_logs(&log_request(
        0xd,
        "order",
        start - 5_000_000,
        &[(1, "INFO", "Request started")],
    ))
    .await;
    let (_, listed) = app.get("/api/console/traces?service=order").await;
    assert_eq!(listed["data"], json!([]), "no trace before a span arrives");
    let (_, all) = app.get("/api/console/traces").await;
    assert_eq!(all["data"], json!([]), "{all}");

    app.send_traces(&trace_request(
        0xd,
        start,
        vec![
            SpanSpec::new("user", 2, Some(1), "GET /users/{id}", SpanKind::Server).at(5, 20),
            SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server).at(0, 40),
        ],
    ))
    .await;

    let (_, all) = app.get("/api/console/traces").await;
    let summary = &all["data"][0];
    assert_eq!(summary["trace_id"], hex(&trace_id(0xd)), "{all}");
    assert_eq!(summary["root_service"], "order");
    assert_eq!(summary["span_count"], 2);
    assert_eq!(summary["duration_us"], 40_000);
    let (_, logs) = app
        .get(&format!("/api/console/traces/{}/logs", hex(&trace_id(0xd))))
        .await;
    assert_eq!(logs["data"][0]["body"], "Request started", "{logs}");
    let (_, trace) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xd))))
        .await;
    assert_eq!(trace["data"][0]["spans"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_span_link_is_a_follows_from_reference_to_the_linked_span() {
    let app = spawn_app().await;
    let start = now_ns() - 10_000_000_000;
    app.send_traces(&trace_request(
        0xf1,
        start,
        vec![
            SpanSpec::new(
                "payment",
                1,
                None,
                "order.created process",
                SpanKind::Consumer,
            )
            .linked_to(0xf0, 7),
            SpanSpec::new("payment", 2, Some(1), "POST /payments", SpanKind::Internal),
        ],
    ))
    .await;

    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xf1))))
        .await;

    assert_eq!(status, 200, "{body}");
    let consumer = find_span(&body["data"][0], "payment", "order.created process");
    assert_eq!(
        consumer["references"],
        json!([{"refType": "FOLLOWS_FROM", "traceID": hex(&trace_id(0xf0)),
                "spanID": hex(&span_id(7))}])
    );
    let child = find_span(&body["data"][0], "payment", "POST /payments");
    assert_eq!(
        child["references"],
        json!([{"refType": "CHILD_OF", "traceID": hex(&trace_id(0xf1)),
                "spanID": hex(&span_id(1))}])
    );
}

#[tokio::test]
async fn tag_searches_find_the_newest_matches_across_span_blocks() {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    let app = spawn_app().await;
    let base = now_ns() - 600_000_000_000;
    // 300 traces of two spans in one export: 600 spans, more than two blocks hold.
    let mut export = ExportTraceServiceRequest::default();
    for n in 0..300u64 {
        let mut root = SpanSpec::new("order", 1, None, "POST /orders", SpanKind::Server)
            .at(0, 5)
            .attr("user.id", i(i64::try_from(n).unwrap()));
        if n % 50 == 0 {
            root = root.attr("tier", s("gold"));
        }
        let child = SpanSpec::new("order", 2, Some(1), "SELECT orders", SpanKind::Client).at(1, 2);
        let trace = trace_request(
            0x1000 + u128::from(n),
            base + n * 1_000_000_000,
            vec![root, child],
        );
        export.resource_spans.extend(trace.resource_spans);
    }
    app.send_traces(&export).await;
    let trace = |n: u128| hex(&trace_id(0x1000 + n));
    let jaeger = |tags: &str, limit: usize| {
        format!(
            "/api/traces?service=order&lookback=1h&limit={limit}&tags={}",
            crate::jaeger_api::urlencode(tags)
        )
    };

    let (_, body) = app.get(&jaeger(r#"{"user.id":"7"}"#, 20)).await;
    assert_eq!(ids(&body), vec![trace(7)], "a rare tag in the oldest block");
    let (_, body) = app.get(&jaeger(r#"{"tier":"gold"}"#, 3)).await;
    assert_eq!(ids(&body), vec![trace(250), trace(200), trace(150)]);
    let (_, body) = app
        .get(&jaeger(r#"{"tier":"gold","span.kind":"server"}"#, 100))
        .await;
    assert_eq!(ids(&body).len(), 6, "all six gold traces");
    let (_, body) = app
        .get(&jaeger(r#"{"user.id":"7","span.kind":"client"}"#, 20))
        .await;
    assert_eq!(
        ids(&body),
        Vec::<String>::new(),
        "criteria hold on one span"
    );

    // The console's own search, without a service: newest traces first.
    let (status, body) = app
        .get("/api/console/traces?tag=tier:gold&limit=2&lookback=1h")
        .await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec![trace(250), trace(200)]);
}
