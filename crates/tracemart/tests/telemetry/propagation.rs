//! W3C trace context from a caller is continued; a malformed one is ignored, never fatal.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use crate::helpers::{Shop, order_body};
use crate::traces::order_trace_complete;

#[tokio::test]
async fn a_request_with_a_traceparent_keeps_its_trace_id_and_parent() {
    let shop = Shop::up().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent}-01");

    let answer = shop
        .post_order_with(&order_body(12, &[(4, 1)]), &[("traceparent", &traceparent)])
        .await;

    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.trace_id(), trace_id);
    let t = shop.receiver().trace(trace_id, order_trace_complete).await;
    let server = t.one("POST /orders");
    assert_eq!(server.parent().as_deref(), Some(parent), "{}", t.describe());
    assert_eq!(server.span_id(), answer.header("x-span-id"));
    // The caller's span is the only parent not in the trace.
    for s in &t.0 {
        let p = s.parent().expect("every span has a parent");
        assert!(p == parent || t.by_id(&p).is_some(), "{}", t.describe());
    }
    assert_eq!(t.services().len(), 4, "{}", t.describe());
}

#[tokio::test]
async fn a_garbage_traceparent_starts_a_new_trace_and_the_order_still_succeeds() {
    let shop = Shop::up().await;
    let garbage = [
        "garbage",
        "00-zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ];
    for tp in garbage {
        let answer = shop
            .post_order_with(
                &order_body(3, &[(5, 1)]),
                &[("traceparent", tp), ("baggage", "%%%;;==")],
            )
            .await;
        assert_eq!(answer.status, 201, "traceparent {tp:?}: {}", answer.body);
        let trace_id = answer.trace_id();
        assert_eq!(trace_id.len(), 32, "traceparent {tp:?}");
        assert_ne!(trace_id, "0".repeat(32));
        assert_ne!(
            trace_id, "4bf92f3577b34da6a3ce929d0e0e4736",
            "{tp:?} was not ignored"
        );
        let t = shop.receiver().trace(&trace_id, order_trace_complete).await;
        let server = t.one("POST /orders");
        assert_eq!(server.kind(), SpanKind::Server);
        assert_eq!(
            server.parent(),
            None,
            "traceparent {tp:?}: {}",
            t.describe()
        );
    }
}
