//! The circuit breaker as traces show it: the call that opens a circuit carries the event on
//! its CLIENT span, and a call refused by an open circuit is an ERROR span that was never sent.

use tracemart_telemetry::names::{event, span as step};

use crate::helpers::{Shop, event_attr, order_body};

const RESERVE: &str = "POST /inventory/reserve";
const RELEASE: &str = "POST /inventory/reservations/{reservation_id}/release";

#[tokio::test]
async fn the_call_that_opens_a_circuit_records_it_and_refused_calls_are_error_spans() {
    let mut shop = Shop::up().await;
    let dead = format!("http://127.0.0.1:{}", tracemart_testkit::free_port());
    let order = shop
        .extra_order_service(&[
            ("TRACEMART_INVENTORY_URL", dead),
            ("TRACEMART_CIRCUIT_FAILURE_THRESHOLD", "2".into()),
            ("TRACEMART_CIRCUIT_OPEN_MS", "60000".into()),
        ])
        .await;
    let body = order_body(7, &[(1, 1)]);

    // The reservation fails, then its compensation: the second failure opens the circuit.
    let first = shop.post_order_at(&order, &body).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let t = shop
        .receiver()
        .trace(&first.trace_id(), |t| t.has(RELEASE))
        .await;
    let reserve_step = t.one(step::RESERVE_INVENTORY);
    assert!(
        t.child(reserve_step, RESERVE)
            .event(event::CIRCUIT_OPENED)
            .is_none()
    );
    let release = t.child(reserve_step, RELEASE);
    let opened = release.event(event::CIRCUIT_OPENED).unwrap_or_else(|| {
        panic!(
            "no opening event on the release call: {:?}",
            release.events()
        )
    });
    assert_eq!(
        event_attr(opened, "target_service").as_deref(),
        Some("inventory-service")
    );

    // The next order's reservation is refused at once, and nothing needs compensating.
    let second = shop.post_order_at(&order, &body).await;
    assert_eq!(second.status, 503, "{}", second.body);
    let t = shop
        .receiver()
        .trace(&second.trace_id(), |t| t.has(step::CREATE_ORDER))
        .await;
    let refused = t.child(t.one(step::RESERVE_INVENTORY), RESERVE);
    assert!(refused.is_error());
    let exception = refused.event("exception").expect("an exception event");
    assert_eq!(
        event_attr(exception, "exception.type").as_deref(),
        Some("CircuitOpen")
    );
    assert!(!t.has(RELEASE), "a refused reservation was compensated");
    assert!(
        !t.0.iter().any(|s| s.service == "inventory-service"),
        "inventory saw the refused call"
    );
}
