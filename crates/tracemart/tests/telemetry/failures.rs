//! Each way an order fails marks the spans where it failed ERROR (with an `exception` event)
//! and leaves the others alone: 4xx answers of a callee are errors for the caller's CLIENT
//! span only, never for the callee's SERVER span.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::{event, span as step};

use crate::helpers::{Answer, Shop, Trace, event_attr, order_body};

struct Case {
    name: &'static str,
    body: Value,
    status: u16,
    exception: &'static str,
    /// The step that failed and the CLIENT span under it, ERROR if the callee said 4xx/5xx.
    failed_step: &'static str,
    client: &'static str,
    client_error: bool,
    /// A SERVER span of a callee that must have arrived (and must not be ERROR).
    callee_server: Option<(&'static str, &'static str)>,
    /// Steps that must not have run.
    not_run: &'static [&'static str],
}

fn server_arrived(t: &Trace, service: &str, name: &str) -> bool {
    t.0.iter()
        .any(|s| s.service == service && s.name() == name && s.kind() == SpanKind::Server)
}

async fn check(shop: &Shop, case: &Case, answer: &Answer) {
    assert_eq!(answer.status, case.status, "{}: {}", case.name, answer.body);
    let t = shop
        .receiver()
        .trace(&answer.trace_id(), |t| {
            server_arrived(t, "order-service", "POST /orders")
                && case
                    .callee_server
                    .is_none_or(|(svc, name)| server_arrived(t, svc, name))
        })
        .await;
    let ctx = format!("{}: {}", case.name, t.describe());

    let create = t.one(step::CREATE_ORDER);
    assert!(create.is_error(), "create_order not ERROR; {ctx}");
    assert_eq!(
        create.attr("operation.result").as_deref(),
        Some("error"),
        "{ctx}"
    );
    let exception = create.event("exception").expect("exception event");
    assert_eq!(
        event_attr(exception, "exception.type").as_deref(),
        Some(case.exception),
        "{ctx}"
    );
    assert!(create.event(event::ORDER_FAILED).is_some(), "{ctx}");

    let failed = t.one(case.failed_step);
    assert!(failed.is_error(), "{} not ERROR; {ctx}", case.failed_step);
    let client = t.child(failed, case.client);
    assert_eq!(client.kind(), SpanKind::Client);
    assert_eq!(
        client.is_error(),
        case.client_error,
        "CLIENT {}; {ctx}",
        case.client
    );

    if let Some((svc, name)) = case.callee_server {
        let callee =
            t.0.iter()
                .find(|s| s.service == svc && s.name() == name)
                .unwrap();
        assert!(
            !callee.is_error(),
            "a callee's 4xx is not its own error; {ctx}"
        );
        assert_eq!(callee.parent(), Some(client.span_id()), "{ctx}");
    }
    for s in case.not_run {
        assert!(!t.has(s), "{s} ran after the failure; {ctx}");
    }
    // Steps that succeeded before the failure stay OK.
    for s in &t.0 {
        let allowed = s.span_id() == create.span_id()
            || s.span_id() == failed.span_id()
            || s.kind() == SpanKind::Client
            || (case.status >= 500 && s.name() == "POST /orders");
        assert!(allowed || !s.is_error(), "{} is ERROR; {ctx}", s.name());
    }
    let server = t.one("POST /orders");
    assert_eq!(
        server.is_error(),
        case.status >= 500,
        "order SERVER span; {ctx}"
    );
}

#[tokio::test]
async fn each_failure_path_marks_the_right_spans_error() {
    let mut shop = Shop::up().await;
    let cases = [
        Case {
            name: "unknown user",
            body: order_body(999_999, &[(1, 1)]),
            status: 400,
            exception: "ValueError",
            failed_step: step::VALIDATE_USER,
            client: "GET /users/{user_id}",
            client_error: true,
            callee_server: Some(("user-service", "GET /users/{user_id}")),
            not_run: &[step::VALIDATE_PRODUCTS, step::RESERVE_INVENTORY],
        },
        Case {
            name: "missing product",
            body: order_body(7, &[(1, 1), (999, 1)]),
            status: 400,
            exception: "ValueError",
            failed_step: step::VALIDATE_PRODUCTS,
            client: "POST /products/batch",
            client_error: false,
            callee_server: Some(("product-service", "POST /products/batch")),
            not_run: &[step::RESERVE_INVENTORY, step::CALCULATE_TOTAL_AMOUNT],
        },
        Case {
            name: "out of stock",
            body: order_body(7, &[(2, 5_000)]),
            status: 409,
            exception: "InsufficientStockError",
            failed_step: step::RESERVE_INVENTORY,
            client: "POST /inventory/reserve",
            client_error: true,
            callee_server: Some(("inventory-service", "POST /inventory/reserve")),
            not_run: &[step::CALCULATE_TOTAL_AMOUNT, step::CREATE_ORDER_RECORD],
        },
    ];
    for case in &cases {
        let answer = shop.post_order(&case.body).await;
        check(&shop, case, &answer).await;
    }

    // Downstream down: an order service (as `up` runs it) whose inventory is unreachable,
    // without retries (resilience.rs traces those).
    let dead = format!("http://127.0.0.1:{}", tracemart_testkit::free_port());
    let order = shop
        .extra_service(
            ServiceName::Order,
            &[
                ("TRACEMART_INVENTORY_URL", dead),
                ("TRACEMART_DOWNSTREAM_RETRIES", "0".into()),
            ],
        )
        .await;
    let answer = shop.post_order_at(&order, &order_body(7, &[(1, 1)])).await;
    let case = Case {
        name: "inventory down",
        body: Value::Null,
        status: 503,
        exception: "RuntimeError",
        failed_step: step::RESERVE_INVENTORY,
        client: "POST /inventory/reserve",
        client_error: true,
        callee_server: None,
        not_run: &[step::CALCULATE_TOTAL_AMOUNT, step::CREATE_ORDER_RECORD],
    };
    check(&shop, &case, &answer).await;
    let t = shop.receiver().trace(&answer.trace_id(), |_| true).await;
    let reserve = t.one(step::RESERVE_INVENTORY);
    let client = t.child(reserve, "POST /inventory/reserve");
    let exception = client
        .event("exception")
        .expect("exception on the CLIENT span");
    assert_eq!(
        event_attr(exception, "exception.type").as_deref(),
        Some("ConnectionError")
    );
}
