//! `GET /api/console/traces/{id}/related`: the traces connected to one through span links, in
//! either direction and transitively, in start order, with the links that connect them.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use tracemart_console::ConsoleConfig;

use crate::helpers::*;

const MS: u64 = 1_000_000;
const DAY_NS: u64 = 86_400_000_000_000;
/// The saga's traces, and one that has nothing to do with it.
const A: u128 = 0xa1;
const B: u128 = 0xb2;
const C: u128 = 0xc3;
const UNRELATED: u128 = 0xd4;

/// One order as an asynchronous saga, a trace per hop: `POST /orders` (A) publishes
/// `order.created`; payment processes it in a trace of its own (B), whose consumer span links
/// to A's producer span, and publishes `payment.authorized`; order processes that in a third
/// trace (C), linked to B's producer span. Spans 2 are the producers, spans 1 the roots.
fn saga(start_ns: u64) -> [(u128, ExportTraceServiceRequest); 3] {
    use SpanKind::*;
    [
        (
            A,
            trace_request(
                A,
                start_ns,
                vec![
                    SpanSpec::new("order", 1, None, "POST /orders", Server).at(0, 30),
                    SpanSpec::new("order", 2, Some(1), "order.created publish", Producer).at(20, 2),
                ],
            ),
        ),
        (
            B,
            trace_request(
                B,
                start_ns + 200 * MS,
                vec![
                    SpanSpec::new("payment", 1, None, "order.created process", Consumer)
                        .at(0, 50)
                        .linked_to(A, 2)
                        .failed(),
                    SpanSpec::new(
                        "payment",
                        2,
                        Some(1),
                        "payment.authorized publish",
                        Producer,
                    )
                    .at(40, 2),
                ],
            ),
        ),
        (
            C,
            trace_request(
                C,
                start_ns + 400 * MS,
                vec![
                    SpanSpec::new("order", 1, None, "payment.authorized process", Consumer)
                        .at(0, 10)
                        .linked_to(B, 2),
                ],
            ),
        ),
    ]
}

fn t(n: u128) -> String {
    hex(&trace_id(n))
}

fn sp(n: u64) -> String {
    hex(&span_id(n))
}

async fn related(app: &TestApp, trace: u128) -> Value {
    let (status, body) = app
        .get(&format!("/api/console/traces/{}/related", t(trace)))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The trace ids of an answer, in its order.
fn ids(body: &Value) -> Vec<String> {
    body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tr| tr["trace_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The entry of `trace` in an answer.
fn entry(body: &Value, trace: u128) -> &Value {
    body["traces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tr| tr["trace_id"] == t(trace))
        .unwrap_or_else(|| panic!("no trace {} in {body}", t(trace)))
}

#[tokio::test]
async fn every_trace_of_a_linked_chain_is_related_to_the_whole_chain_in_start_order() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    let [a, b, c] = saga(start);
    // Arrival order is not start order: C (linking to B) arrives before B, B after A.
    for (_, req) in [&c, &a, &b] {
        app.send_traces(req).await;
    }
    app.send_traces(&quick_trace(UNRELATED, start + 100 * MS, "order", 5))
        .await;

    for asked in [A, B, C] {
        let body = related(&app, asked).await;

        assert_eq!(ids(&body), vec![t(A), t(B), t(C)], "from {}", t(asked));
        assert_eq!(body["trace_id"], t(asked));
        assert_eq!(
            (body["total"].clone(), body["truncated"].clone()),
            (json!(3), json!(false))
        );
        for n in [A, B, C] {
            assert_eq!(entry(&body, n)["current"], n == asked, "{body}");
        }
    }
    let body = related(&app, B).await;
    assert_eq!(entry(&body, A)["links"], json!([]));
    assert_eq!(
        entry(&body, B)["links"],
        json!([{"from_span_id": sp(1), "to_trace_id": t(A), "to_span_id": sp(2)}])
    );
    assert_eq!(
        entry(&body, C)["links"],
        json!([{"from_span_id": sp(1), "to_trace_id": t(B), "to_span_id": sp(2)}])
    );
    let b = entry(&body, B);
    assert_eq!(b["root_service"], "payment");
    assert_eq!(b["root_operation"], "order.created process");
    assert_eq!(b["start_us"], (start + 200 * MS) / 1000);
    assert_eq!(b["duration_us"], 50_000);
    assert_eq!(b["span_count"], 2);
    assert_eq!(
        (b["error"].clone(), b["error_count"].clone()),
        (json!(true), json!(1))
    );
    assert_eq!(entry(&body, A)["error"], false);
}

#[tokio::test]
async fn a_trace_without_links_is_related_only_to_itself() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    for (_, req) in saga(start) {
        app.send_traces(&req).await;
    }
    app.send_traces(&quick_trace(UNRELATED, start + 100 * MS, "order", 5))
        .await;

    let body = related(&app, UNRELATED).await;

    assert_eq!(ids(&body), vec![t(UNRELATED)]);
    let only = entry(&body, UNRELATED);
    assert_eq!(only["current"], true);
    assert_eq!(only["links"], json!([]));
    assert_eq!(only["root_operation"], "GET /orders/{order_id}");
}

#[tokio::test]
async fn traces_linking_to_the_same_trace_are_related_to_each_other() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    let [(_, a), (_, b), _] = saga(start);
    // A second consumer of A's `order.created`, in inventory.
    let sibling = trace_request(
        0xe5,
        start + 300 * MS,
        vec![
            SpanSpec::new(
                "inventory",
                1,
                None,
                "order.created process",
                SpanKind::Consumer,
            )
            .linked_to(A, 2),
        ],
    );
    for req in [&a, &b, &sibling] {
        app.send_traces(req).await;
    }

    let body = related(&app, B).await;

    assert_eq!(ids(&body), vec![t(A), t(B), t(0xe5)]);
}

#[tokio::test]
async fn a_link_to_a_trace_not_stored_yet_connects_it_once_it_arrives() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    let [(_, a), (_, b), _] = saga(start);
    app.send_traces(&b).await;

    let before = related(&app, B).await;
    assert_eq!(ids(&before), vec![t(B)]);
    assert_eq!(
        entry(&before, B)["links"][0]["to_trace_id"],
        t(A),
        "the link is listed though its trace is not stored"
    );
    let (status, _) = app
        .get(&format!("/api/console/traces/{}/related", t(A)))
        .await;
    assert_eq!(status, 404, "A itself is unknown");

    app.send_traces(&a).await;

    assert_eq!(ids(&related(&app, A).await), vec![t(A), t(B)]);
    assert_eq!(ids(&related(&app, B).await), vec![t(A), t(B)]);
}

#[tokio::test]
async fn more_connected_traces_than_the_limit_are_cut_at_it_and_say_so() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    // One producer trace whose message 120 consumers process, each in its own trace.
    let mut req = trace_request(
        0x100,
        start,
        vec![SpanSpec::new(
            "order",
            1,
            None,
            "order.created publish",
            SpanKind::Producer,
        )],
    );
    for n in 1..=120u64 {
        let consumer = trace_request(
            0x100 + u128::from(n),
            start + n * MS,
            vec![
                SpanSpec::new(
                    "payment",
                    1,
                    None,
                    "order.created process",
                    SpanKind::Consumer,
                )
                .linked_to(0x100, 1),
            ],
        );
        req.resource_spans.extend(consumer.resource_spans);
    }
    app.send_traces(&req).await;

    for asked in [0x100, 0x101] {
        let body = related(&app, asked).await;

        assert_eq!(body["truncated"], true, "{}", body["total"]);
        assert_eq!(body["total"], 100);
        assert_eq!(body["limit"], 100);
        assert_eq!(
            entry(&body, asked)["current"],
            true,
            "the asked trace is kept"
        );
        let starts: Vec<i64> = body["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tr| tr["start_us"].as_i64().unwrap())
            .collect();
        assert!(starts.is_sorted(), "{starts:?}");
    }
}

#[tokio::test]
async fn retention_deletes_the_links_of_a_trace_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        retention_max_age: std::time::Duration::from_secs(86_400),
        retention_interval: std::time::Duration::from_secs(3_600),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let app = spawn_app_with(config.clone()).await;
    let [(_, a), (_, b), _] = saga(now_ns() - 3 * DAY_NS);
    let [_, _, (_, c)] = saga(now_ns() - 60_000 * MS);
    for req in [&a, &b, &c] {
        app.send_traces(req).await;
    }
    let link_rows = || {
        rusqlite::Connection::open(config.database_path())
            .unwrap()
            .query_row("SELECT COUNT(*) FROM span_links", [], |row| {
                row.get::<_, i64>(0)
            })
            .unwrap()
    };
    assert_eq!(link_rows(), 2, "B -> A and C -> B");

    let report = app.ingest.enforce_retention().await.unwrap();

    assert_eq!(report.expired_traces, 2);
    assert_eq!(link_rows(), 1, "only C's link is left");
    let body = related(&app, C).await;
    assert_eq!(ids(&body), vec![t(C)]);
    assert_eq!(entry(&body, C)["links"][0]["to_trace_id"], t(B));
    let (status, _) = app
        .get(&format!("/api/console/traces/{}/related", t(B)))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn malformed_and_unknown_trace_ids_are_answered_400_and_404() {
    let app = spawn_app().await;
    app.send_traces(&quick_trace(UNRELATED, now_ns(), "order", 5))
        .await;
    let cases = [
        ("not hex", "xyz".to_owned(), 400),
        ("too long", "a".repeat(33), 400),
        ("unknown", t(0xdead), 404),
    ];

    for (name, id, want) in cases {
        let (status, body) = app.get(&format!("/api/console/traces/{id}/related")).await;

        assert_eq!(status, want, "{name}: {body}");
        assert_eq!(body["errors"][0]["code"], want, "{name}: {body}");
        assert_eq!(body["data"], Value::Null, "{name}");
    }
}
