//! Each order's whole trace, found in the console by the order's X-Trace-ID: spans from every
//! service on the order's path, and the error status on orders that fail.

use crate::helpers::{ORDER_PATH_SERVICES, Up};

/// A user the demo data does not have.
const UNKNOWN_USER: i64 = 999_999;

#[tokio::test]
async fn a_created_orders_trace_spans_order_user_product_and_inventory_without_errors() {
    let up = Up::start();

    let placed = up.order(7, 1, 2).await;

    assert_eq!(placed.status, 201, "{}", placed.body);
    let trace = up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;
    assert_eq!(trace.0["traceID"], placed.trace_id.as_str());
    let spans = trace.spans();
    let roots: Vec<_> = spans.iter().filter(|s| s.parent().is_none()).collect();
    assert_eq!(roots.len(), 1, "one root span");
    assert_eq!(roots[0].service(), "order-service");
    assert_eq!(roots[0].operation(), "POST /orders");
    // Each downstream service answered as a SERVER span that is a child of order's CLIENT span.
    for service in &ORDER_PATH_SERVICES[1..] {
        let server = spans
            .iter()
            .find(|s| {
                s.service() == *service
                    && s.tag("span.kind").and_then(|k| k.as_str()) == Some("server")
            })
            .unwrap_or_else(|| panic!("no server span of {service}"));
        let parent = server
            .parent()
            .expect("a server span downstream has a parent");
        let caller = spans
            .iter()
            .find(|s| s.json["spanID"] == parent)
            .unwrap_or_else(|| panic!("the parent of {service}'s server span is not in the trace"));
        assert_eq!(caller.service(), "order-service");
        assert_eq!(
            caller.tag("span.kind").and_then(|k| k.as_str()),
            Some("client")
        );
    }
    let errors: Vec<_> = spans
        .iter()
        .filter(|s| s.is_error())
        .map(|s| s.operation())
        .collect();
    assert!(
        errors.is_empty(),
        "error spans in a successful order: {errors:?}"
    );
}

#[tokio::test]
async fn failing_orders_carry_the_error_status_in_their_traces() {
    let up = Up::start();
    // name, user, quantity (the demo stock is 5), expected status, services the trace reaches
    let cases: [(&str, i64, i64, u16, &[&str]); 2] = [
        (
            "unknown user",
            UNKNOWN_USER,
            1,
            400,
            &["order-service", "user-service"],
        ),
        ("out of stock", 7, 6, 409, &ORDER_PATH_SERVICES),
    ];

    for (name, user, quantity, status, services) in cases {
        let placed = up.order(user, 1, quantity).await;

        assert_eq!(placed.status, status, "{name}: {}", placed.body);
        let trace = up.trace_with(&placed.trace_id, services).await;
        let spans = trace.spans();
        let errors: Vec<_> = spans.iter().filter(|s| s.is_error()).collect();
        assert!(
            errors
                .iter()
                .any(|s| s.service() == "order-service" && s.operation() == "create_order"),
            "{name}: create_order is not marked error=true / otel.status_code=ERROR; error spans: {:?}",
            errors.iter().map(|s| s.operation()).collect::<Vec<_>>()
        );
        // The search API finds it among the errors.
        let (code, found) = up
            .console_get("/api/traces?service=order-service&tags=%7B%22error%22%3A%22true%22%7D&lookback=1h&limit=100")
            .await;
        assert_eq!(code, 200, "{found}");
        let ids: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["traceID"].as_str())
            .collect();
        assert!(
            ids.contains(&placed.trace_id.as_str()),
            "{name}: error search misses {}: {ids:?}",
            placed.trace_id
        );
    }
}
