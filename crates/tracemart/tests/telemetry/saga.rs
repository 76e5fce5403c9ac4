//! The saga across traces: each asynchronous hop is a trace of its own whose CONSUMER span
//! links to the PRODUCER span that published its message, with the messaging conventions'
//! attributes; the order's audit trail names each hop's trace; the correlation id of the
//! request reaches the consumers' log lines.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, order_body};
use crate::otlp::SpanRecord;

/// The CONSUMER span that processed a message published by `producer`.
pub(crate) async fn consumer_of(shop: &Shop, producer: &SpanRecord) -> SpanRecord {
    let link = (producer.trace_id(), producer.span_id());
    shop.receiver()
        .span_where(&format!("the consumer of {}", producer.name()), |s| {
            s.kind() == SpanKind::Consumer && s.links().contains(&link)
        })
        .await
}

/// The PRODUCER span in `consumer`'s trace that published `topic`.
pub(crate) async fn publisher_in(shop: &Shop, consumer: &SpanRecord, topic: &str) -> SpanRecord {
    let trace = consumer.trace_id();
    shop.receiver()
        .span_where(&format!("a publish of {topic}"), |s| {
            s.trace_id() == trace
                && s.kind() == SpanKind::Producer
                && s.attr("messaging.destination.name").as_deref() == Some(topic)
        })
        .await
}

fn assert_process_span(span: &SpanRecord, topic: &str, group: &str) {
    assert_eq!(span.name(), format!("process {topic}"));
    assert_eq!(
        span.parent(),
        None,
        "a new trace, linked rather than parented"
    );
    assert_eq!(span.service, group);
    for (key, want) in [
        ("messaging.system", "tracemart"),
        ("messaging.operation.type", "process"),
        ("messaging.destination.name", topic),
        ("messaging.consumer.group.name", group),
    ] {
        assert_eq!(
            span.attr(key).as_deref(),
            Some(want),
            "{key} on {}",
            span.name()
        );
    }
    assert_eq!(
        span.attr("messaging.message.id").map(|id| id.len()),
        Some(36)
    );
}

#[tokio::test]
async fn each_hop_of_the_saga_is_a_trace_linked_to_the_span_that_published_its_message() {
    let shop = Shop::up().await;
    let placed = shop.post_order(&order_body(17, &[(2, 1)])).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();
    let request_id = placed.header("x-request-id");

    // POST /orders -> payment processes order.created.
    let created = shop
        .receiver()
        .trace(&placed.trace_id(), |t| t.has("publish_order_created_event"))
        .await;
    let publish = created.one("publish_order_created_event");
    assert_eq!(publish.kind(), SpanKind::Producer);
    assert_eq!(
        publish.attr("messaging.destination.name").as_deref(),
        Some("order.created")
    );
    assert_eq!(
        publish.attr("messaging.message.conversation_id").as_deref(),
        Some(order_id.as_str())
    );
    let paid = consumer_of(&shop, publish).await;
    assert_process_span(&paid, "order.created", "payment-service");
    assert_ne!(paid.trace_id(), placed.trace_id());

    // payment.authorized -> order, which commits the reservation at inventory in that step.
    let decided = publisher_in(&shop, &paid, "payment.authorized").await;
    let committed = consumer_of(&shop, &decided).await;
    assert_process_span(&committed, "payment.authorized", "order-service");
    let hop = shop
        .receiver()
        .trace(&committed.trace_id(), |t| {
            t.services().contains(&"inventory-service".to_owned())
        })
        .await;
    let call = hop.child(
        &committed,
        "POST /inventory/reservations/{reservation_id}/commit",
    );
    assert_eq!(call.kind(), SpanKind::Client);
    let served = hop.children_of(call);
    assert!(
        served.iter().any(|s| s.service == "inventory-service"),
        "{}",
        hop.describe()
    );

    // The audit trail names the trace of each step.
    let events = shop
        .get(ServiceName::Order, &format!("/orders/{order_id}/events"))
        .await
        .body;
    let traces: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["trace_id"].as_str().unwrap())
        .collect();
    let want = [
        placed.trace_id(),
        committed.trace_id(),
        committed.trace_id(),
        committed.trace_id(),
    ];
    assert_eq!(
        traces,
        want.iter().map(String::as_str).collect::<Vec<_>>(),
        "{events}"
    );

    // The relay's deliveries are not traced: no POST /events server span.
    assert!(
        !shop
            .receiver()
            .spans()
            .iter()
            .any(|s| s.name() == "POST /events"),
        "a batch delivery made a trace of its own"
    );
    // Nor do the relays' polls and bookkeeping: database spans only inside a request or a
    // message's processing, never a trace of one database span.
    let lone: Vec<String> = shop
        .receiver()
        .spans()
        .iter()
        .filter(|s| s.parent().is_none() && s.attr("db.system.name").is_some())
        .map(|s| format!("{} {}", s.service, s.name()))
        .collect();
    assert!(lone.is_empty(), "database spans without a parent: {lone:?}");
    // The request id travels as the correlation id in baggage into payment's log lines.
    let lines = shop
        .logs_until(ServiceName::Payment, |l| {
            l["message"] == "Event handled" && l["request_id"] == request_id.as_str()
        })
        .await;
    let handled = lines
        .iter()
        .find(|l| l["message"] == "Event handled")
        .unwrap();
    assert_eq!(handled["trace_id"], paid.trace_id(), "{handled}");
}
