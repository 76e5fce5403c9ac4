//! The seed's telemetry defects (DESIGN.md, "Seed defects"), each with a test that would have
//! caught it. Where a defect is checked elsewhere, the test is named here:
//!
//! | seed defect | test |
//! |---|---|
//! | `X-Trace-ID` all zeros; one request = two traces | `x_trace_id_is_never_all_zeros_and_one_request_is_one_trace` |
//! | two CLIENT spans per outgoing call | `each_outgoing_call_makes_exactly_one_client_span` |
//! | unknown user/product, malformed body, wrong content type -> 500 | `bad_requests_answer_4xx_never_500` |
//! | every log line twice, `extra` fields lost | `logs::every_request_is_logged_once_with_its_extra_fields` |
//! | UUIDs mangled in `endpoint`, raw user ids in `external_api_calls_total` | `metrics::endpoint_labels_are_route_templates_never_raw_ids` |
//! | `order_processing_duration_seconds` never recorded | `metrics::counts_and_business_values_match_the_orders_placed` |
//! | `GET /orders/{id}` returns made-up data | `get_order_returns_the_order_that_was_placed` |
//! | user e-mail in span attributes | `no_user_email_in_any_span_or_log_line` |

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::span as step;

use crate::helpers::{Answer, Shop, order_body, sample};
use crate::traces::{CALLS, order_trace_complete};

fn assert_real_trace_id(answer: &Answer, what: &str) -> String {
    let id = answer.trace_id();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id != "0".repeat(32),
        "{what}: X-Trace-ID {id:?}"
    );
    let span = answer.header("x-span-id");
    assert!(
        span.len() == 16 && span != "0".repeat(16),
        "{what}: X-Span-ID {span:?}"
    );
    id
}

#[tokio::test]
async fn x_trace_id_is_never_all_zeros_and_one_request_is_one_trace() {
    let shop = Shop::up().await;
    let order = shop.post_order(&order_body(2, &[(6, 1)])).await;
    assert_eq!(order.status, 201);
    let order_id = order.body["order_id"].as_str().unwrap().to_owned();
    let mut answers = vec![("POST /orders", order)];
    answers.push((
        "GET /orders/{id}",
        shop.get(ServiceName::Order, &format!("/orders/{order_id}"))
            .await,
    ));
    answers.push((
        "400",
        shop.post_order(&order_body(999_999, &[(6, 1)])).await,
    ));
    // Every service: an unmatched route is traced too.
    for s in ServiceName::ALL {
        answers.push(("404 route", shop.get(s, "/nope").await));
    }
    // Probes answer without a trace id at all: `untraced::probes_are_counted_but_not_traced…`.
    let mut ids: Vec<String> = answers
        .iter()
        .map(|(what, a)| assert_real_trace_id(a, what))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), answers.len(), "two requests shared a trace");

    // The order's server span and its create_order are in the one trace the header names.
    let trace_id = answers[0].1.trace_id();
    let t = shop.receiver().trace(&trace_id, order_trace_complete).await;
    let server = t.one("POST /orders");
    assert_eq!(t.one(step::CREATE_ORDER).parent(), Some(server.span_id()));
    // Every create_order (the failed order's too) hangs under its request's SERVER span.
    let failed = answers[2].1.trace_id();
    shop.receiver()
        .trace(&failed, |t| t.has("POST /orders"))
        .await;
    let spans = shop.receiver().spans();
    let creates: Vec<_> = spans
        .iter()
        .filter(|s| s.name() == step::CREATE_ORDER)
        .collect();
    assert_eq!(creates.len(), 2);
    for c in creates {
        let parent = spans
            .iter()
            .find(|s| Some(s.span_id()) == c.parent() && s.trace_id() == c.trace_id());
        assert!(
            parent.is_some_and(|p| p.name() == "POST /orders" && p.kind() == SpanKind::Server),
            "create_order of trace {} is not under its request's SERVER span",
            c.trace_id()
        );
    }
}

#[tokio::test]
async fn each_outgoing_call_makes_exactly_one_client_span() {
    let shop = Shop::up().await;
    let answer = shop.post_order(&order_body(4, &[(8, 1)])).await;
    assert_eq!(answer.status, 201);
    let t = shop
        .receiver()
        .trace(&answer.trace_id(), order_trace_complete)
        .await;
    let http_clients: Vec<_> =
        t.0.iter()
            .filter(|s| s.kind() == SpanKind::Client && s.attr("peer.service").is_some())
            .collect();
    assert_eq!(http_clients.len(), CALLS.len(), "{}", t.describe());
    for (_, call, callee) in CALLS {
        let clients: Vec<_> = http_clients.iter().filter(|c| c.name() == call).collect();
        assert_eq!(clients.len(), 1, "{call}: {}", t.describe());
        let servers = t.children_of(clients[0]);
        assert_eq!(servers.len(), 1, "{call}: {}", t.describe());
        assert_eq!(servers[0].service, callee);
        assert_eq!(servers[0].kind(), SpanKind::Server);
    }
}

#[tokio::test]
async fn bad_requests_answer_4xx_never_500() {
    let shop = Shop::up().await;
    let url = format!("{}/orders", shop.url(ServiceName::Order));
    let cases: [(&str, &str, String, u16); 6] = [
        (
            "unknown user",
            "application/json",
            order_body(999_999, &[(1, 1)]).to_string(),
            400,
        ),
        (
            "unknown product",
            "application/json",
            order_body(7, &[(100_000, 1)]).to_string(),
            400,
        ),
        (
            "malformed JSON",
            "application/json",
            "{\"user_id\": 7, \"items\": [".into(),
            400,
        ),
        (
            "missing fields",
            "application/json",
            "{\"user_id\": 7}".into(),
            400,
        ),
        (
            "wrong content type",
            "text/plain",
            order_body(7, &[(1, 1)]).to_string(),
            415,
        ),
        (
            "no content type",
            "",
            order_body(7, &[(1, 1)]).to_string(),
            415,
        ),
    ];
    for (name, ct, body, want) in &cases {
        let mut req = shop.http.post(&url).body(body.clone());
        if !ct.is_empty() {
            req = req.header("content-type", *ct);
        }
        let answer = Answer::of(req.send().await.unwrap()).await;
        assert_eq!(answer.status, *want, "{name}: {}", answer.body);
        assert!(
            answer.body["error"].is_string() && answer.body["code"].is_string(),
            "{name}: {}",
            answer.body
        );
        assert_eq!(
            answer.body["request_id"],
            answer.header("x-request-id").as_str(),
            "{name}"
        );
    }
    let scrape = shop.scrape(ServiceName::Order).await;
    assert_eq!(
        sample(&scrape, "http_requests_total", &[("status_class", "5xx")]),
        0.0
    );
    assert_eq!(
        sample(
            &scrape,
            "http_requests_total",
            &[("endpoint", "/orders"), ("status_class", "4xx")]
        ),
        cases.len() as f64
    );
}

#[tokio::test]
async fn get_order_returns_the_order_that_was_placed() {
    let shop = Shop::up().await;
    let placed = shop.post_order(&order_body(31, &[(11, 3), (12, 1)])).await;
    assert_eq!(placed.status, 201);
    let id = placed.body["order_id"].as_str().unwrap();

    let got = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
    assert_eq!(got.status, 200, "{}", got.body);
    for key in [
        "order_id",
        "user_id",
        "items",
        "total_amount",
        "currency",
        "shipping_address",
        "reservation_id",
        "created_at",
    ] {
        assert_eq!(got.body[key], placed.body[key], "{key}");
    }
    let unknown = shop
        .get(
            ServiceName::Order,
            "/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6",
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[tokio::test]
async fn no_user_email_in_any_span_or_log_line() {
    let shop = Shop::up().await;
    let users = [7, 10, 23];
    let mut traces = Vec::new();
    for u in users {
        let a = shop.post_order(&order_body(u, &[(1, 1)])).await;
        assert_eq!(a.status, 201);
        traces.push(a.trace_id());
    }
    for t in &traces {
        shop.receiver().trace(t, order_trace_complete).await;
    }
    // The user service did answer with the e-mail: it is in the data, just not in telemetry.
    let user = shop.get(ServiceName::User, "/users/7").await;
    assert_eq!(user.body["email"], "user7@example.com");

    let emails: Vec<String> = users
        .iter()
        .map(|u| format!("user{u}@example.com"))
        .collect();
    for s in shop.receiver().spans() {
        for text in s.all_text() {
            assert!(
                !text.contains('@'),
                "{} span {} carries {text}",
                s.service,
                s.name()
            );
        }
    }
    for l in shop.receiver().logs() {
        assert!(
            !format!("{:?}", l.record).contains('@'),
            "OTLP log of {}: {:?}",
            l.service,
            l.record
        );
    }
    for s in ServiceName::ALL {
        for line in shop.log_lines(s) {
            for e in &emails {
                assert!(!line.contains(e.as_str()), "{s} logged an e-mail: {line}");
            }
        }
    }
}
