//! Events through RabbitMQ under `tracemart up --broker`: the saga completes with order and
//! payment talking through the broker, and its PRODUCER and CONSUMER spans say
//! `messaging.system` = `rabbitmq`, each consumer's linked to the span that published.

use tracemart_events::amqp::queue;
use tracemart_platform::ServiceName;
use tracemart_testkit::amqp::TestBroker;
use tracemart_testkit::eventually;

use crate::helpers::{DEADLINE, Options, Shop, order_body};
use crate::otlp::SpanRecord;
use crate::saga::{consumer_of, publisher_in};

fn assert_carried_by_rabbitmq(span: &SpanRecord) {
    assert_eq!(
        span.attr("messaging.system").as_deref(),
        Some("rabbitmq"),
        "{} of {}",
        span.name(),
        span.service
    );
}

#[tokio::test]
async fn with_a_broker_the_saga_completes_through_rabbitmq_and_its_spans_say_so() {
    let broker = TestBroker::create("up").await;
    let shop = Shop::up_with(Options {
        args: vec!["--broker".to_owned(), broker.url().to_owned()],
        ..Options::default()
    })
    .await;

    let placed = shop.post_order(&order_body(17, &[(2, 1)])).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = placed.body["order_id"].as_str().unwrap().to_owned();

    let created = shop
        .receiver()
        .trace(&placed.trace_id(), |t| t.has("publish_order_created_event"))
        .await;
    let publish = created.one("publish_order_created_event");
    assert_carried_by_rabbitmq(publish);
    let paid = consumer_of(&shop, publish).await;
    assert_eq!(paid.service, "payment-service");
    assert_eq!(paid.name(), "process order.created");
    assert_carried_by_rabbitmq(&paid);
    let decided = publisher_in(&shop, &paid, "payment.authorized").await;
    assert_carried_by_rabbitmq(&decided);
    let confirming = consumer_of(&shop, &decided).await;
    assert_eq!(confirming.service, "order-service");
    assert_carried_by_rabbitmq(&confirming);

    eventually(DEADLINE, "the order confirmed", || async {
        let order = shop
            .get(ServiceName::Order, &format!("/orders/{order_id}"))
            .await;
        (order.body["status"] == "confirmed").then_some(())
    })
    .await;
    for (consumer, topic) in [
        ("payment-service", "order.created"),
        ("order-service", "payment.authorized"),
    ] {
        broker.until_messages(&queue(consumer, topic), 0).await;
    }
    // Each service's relay and consumer.
    assert_eq!(broker.connections().await.len(), 4);
}
