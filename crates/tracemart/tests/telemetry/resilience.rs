//! Retries and the circuit breaker as traces show them: each retry is a CLIENT span of its
//! own with its resend count, the call that opens a circuit carries the event on its CLIENT
//! span, and a call refused by an open circuit is an ERROR span that was never sent.

use tracemart_platform::ServiceName;
use tracemart_telemetry::names::{event, span as step};

use crate::helpers::{Shop, event_attr, order_body};
use crate::otlp::SpanRecord;

const RESERVE: &str = "POST /inventory/reserve";
const RELEASE: &str = "POST /inventory/reservations/{reservation_id}/release";
/// The PRODUCER span that hands a reservation no order holds to the outbox for release.
const ORPHAN_PUBLISH: &str = "publish order.release_orphan_reservation";

#[tokio::test]
async fn a_reservation_that_finds_no_inventory_is_tried_three_times_each_a_client_span() {
    let mut shop = Shop::up().await;
    let dead = format!("http://127.0.0.1:{}", tracemart_testkit::free_port());
    let order = shop
        .extra_service(ServiceName::Order, &[("TRACEMART_INVENTORY_URL", dead)])
        .await;

    let answer = shop.post_order_at(&order, &order_body(7, &[(1, 1)])).await;

    assert_eq!(answer.status, 503, "{}", answer.body);
    let is_reserve = |s: &&SpanRecord| s.name() == RESERVE;
    let t = shop
        .receiver()
        .trace(&answer.trace_id(), |t| {
            t.has(step::CREATE_ORDER) && t.0.iter().filter(is_reserve).count() == 3
        })
        .await;
    let mut attempts: Vec<_> = t.0.iter().filter(is_reserve).collect();
    attempts.sort_by_key(|s| s.span.start_time_unix_nano);
    let resends: Vec<Option<String>> = attempts
        .iter()
        .map(|s| s.attr("http.request.resend_count"))
        .collect();
    assert_eq!(resends, [None, Some("1".into()), Some("2".into())]);
    let reserve_step = t.one(step::RESERVE_INVENTORY);
    for attempt in &attempts {
        assert!(attempt.is_error());
        assert_eq!(attempt.parent(), Some(reserve_step.span_id()));
        let exception = attempt.event("exception").expect("an exception event");
        assert_eq!(
            event_attr(exception, "exception.type").as_deref(),
            Some("ConnectionError")
        );
    }
}

#[tokio::test]
async fn the_call_that_opens_a_circuit_records_it_and_refused_calls_are_error_spans() {
    let mut shop = Shop::up().await;
    let dead = format!("http://127.0.0.1:{}", tracemart_testkit::free_port());
    let order = shop
        .extra_service(
            ServiceName::Order,
            &[
                ("TRACEMART_INVENTORY_URL", dead),
                ("TRACEMART_CIRCUIT_FAILURE_THRESHOLD", "2".into()),
                ("TRACEMART_CIRCUIT_OPEN_MS", "60000".into()),
                ("TRACEMART_DOWNSTREAM_RETRIES", "0".into()),
            ],
        )
        .await;
    let body = order_body(7, &[(1, 1)]);

    // The reservation fails; its release, handed to the outbox, fails too: the second
    // failure opens the circuit, on the release's CLIENT span in the consumer's trace.
    let first = shop.post_order_at(&order, &body).await;
    assert_eq!(first.status, 503, "{}", first.body);
    let t = shop
        .receiver()
        .trace(&first.trace_id(), |t| t.has(ORPHAN_PUBLISH))
        .await;
    let reserve_step = t.one(step::RESERVE_INVENTORY);
    assert!(
        t.child(reserve_step, RESERVE)
            .event(event::CIRCUIT_OPENED)
            .is_none()
    );
    assert!(!t.has(RELEASE), "no compensation waits inside the request");
    let handed_over = t.child(reserve_step, ORPHAN_PUBLISH);
    let link = (handed_over.trace_id(), handed_over.span_id());
    let release = shop
        .receiver()
        .span_where("the release call that opened the circuit", |s| {
            s.name() == RELEASE && s.event(event::CIRCUIT_OPENED).is_some()
        })
        .await;
    let hop = shop
        .receiver()
        .trace(&release.trace_id(), |t| t.parent_of(&release).is_some())
        .await;
    let consumer = hop.parent_of(&release).unwrap();
    assert_eq!(consumer.name(), "process order.release_orphan_reservation");
    assert!(consumer.links().contains(&link), "{:?}", consumer.links());
    let opened = release.event(event::CIRCUIT_OPENED).unwrap();
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
    assert!(
        !t.has(RELEASE) && !t.has(ORPHAN_PUBLISH),
        "a refused reservation was compensated"
    );
    assert!(
        !t.0.iter().any(|s| s.service == "inventory-service"),
        "inventory saw the refused call"
    );
}
