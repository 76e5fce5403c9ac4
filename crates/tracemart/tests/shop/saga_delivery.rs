//! Delivering events at least once with effects exactly once: a consumer that fails a few
//! times gets the event once, one that keeps failing sends it to the dead letters (and a
//! replay delivers it once the fault is gone), and an event delivered twice on purpose has
//! one effect.

use serde_json::{Value, json};
use tracemart_events::Selection;
use tracemart_platform::ServiceName;
use tracemart_platform::identity::Principal;

use crate::helpers::{Engine, SAGA, Shop, on_each_engine, order_body};
use tracemart_testkit::proxy::{ALWAYS, FaultyProxy};

/// A shop on `engine` whose order service reaches payment's `POST /events` through `proxy`.
async fn shop_behind(
    engine: Engine,
    proxy: &FaultyProxy,
    tweak: impl FnOnce(&mut tracemart_platform::ShopConfig),
) -> Shop {
    let url = proxy.url.clone();
    let shop = Shop::start_on(engine, |c| {
        c.payment.url = url;
        tweak(c);
    })
    .await;
    proxy.forward_to(format!(
        "http://127.0.0.1:{}",
        shop.config.endpoint(ServiceName::Payment).port
    ));
    shop
}

/// Payments the payment service holds for `order_id`.
async fn payments_for(shop: &Shop, order_id: &str) -> i64 {
    let (n,) = shop
        .row_in(
            ServiceName::Payment,
            &format!("SELECT COUNT(*) FROM payments WHERE order_id = '{order_id}'"),
        )
        .await;
    n
}

on_each_engine! {
    async fn a_consumer_that_fails_a_few_times_gets_the_event_once_with_one_effect(engine: Engine) {
        let proxy = FaultyProxy::bind(3).await;
        let shop = shop_behind(engine, &proxy, |_| {}).await;

        let (status, order) = shop.post_order(&order_body(14, &[(3, 1)])).await;
        assert_eq!(status, 201, "{order}");
        let order_id = order["order_id"].as_str().unwrap();

        assert_eq!(shop.settled(order_id).await["status"], "confirmed");
        assert_eq!(proxy.forwarded(), 1, "delivered once, after three 500s");
        let payments = payments_for(&shop, order_id).await;
        assert_eq!(payments, 1, "one payment");
        let types = shop.event_types(order_id).await;
        assert_eq!(
            types.iter().filter(|t| *t == "PaymentAuthorized").count(),
            1,
            "{types:?}"
        );
    }
}

on_each_engine! {
    async fn an_event_that_keeps_failing_is_dead_lettered_and_a_replay_delivers_it_once(engine: Engine) {
        let proxy = FaultyProxy::bind(ALWAYS).await;
        let shop = shop_behind(engine, &proxy, |c| c.event_max_failures = 3).await;
        let (status, order) = shop.post_order(&order_body(15, &[(5, 2)])).await;
        assert_eq!(status, 201, "{order}");
        let order_id = order["order_id"].as_str().unwrap().to_owned();
        let dead_letters = tracemart_order::dead_letters(&shop.config).await.unwrap();

        let dead = tracemart_testkit::eventually(SAGA, "a dead letter", || async {
            let list = dead_letters.list(10).await.unwrap();
            (!list.is_empty()).then_some(list)
        })
        .await;

        assert_eq!(dead.len(), 1, "{dead:?}");
        let letter = &dead[0];
        assert_eq!(
            (
                letter.topic.as_str(),
                letter.destination.as_str(),
                letter.key.as_deref()
            ),
            ("order.created", "payment-service", Some(order_id.as_str()))
        );
        assert_eq!(letter.attempts, 3);
        assert!(
            letter.last_error.contains("answered 500"),
            "{}",
            letter.last_error
        );
        let metrics = shop.metrics_text(ServiceName::Order).await;
        assert!(
            metrics.contains(
                r#"events_dead_lettered_total{topic="order.created",destination="payment-service"} 1"#
            ),
            "{metrics}"
        );
        let (_, still) = shop
            .get(ServiceName::Order, &format!("/orders/{order_id}"))
            .await;
        assert_eq!(still["status"], "created");

        proxy.fail(0);
        assert_eq!(dead_letters.replay(Selection::Id(&letter.id)).await.unwrap(), 1);

        assert_eq!(shop.settled(&order_id).await["status"], "confirmed");
        assert_eq!(proxy.forwarded(), 1, "the replay was delivered once");
        assert!(dead_letters.list(10).await.unwrap().is_empty());
    }
}

/// The message a service published under `topic` for `order_id`, as its relay delivered it.
async fn delivered(shop: &Shop, s: ServiceName, topic: &str, order_id: &str) -> Value {
    let (id, payload, headers, created_at): (String, String, String, String) = shop
        .row_in(
            s,
            &format!(
                "SELECT id, payload, headers, created_at FROM event_outbox \
                 WHERE topic = '{topic}' AND message_key = '{order_id}' AND published_at IS NOT NULL"
            ),
        )
        .await;
    json!({"id": id, "topic": topic, "key": order_id, "created_at": created_at,
        "payload": serde_json::from_str::<Value>(&payload).unwrap(),
        "headers": serde_json::from_str::<Value>(&headers).unwrap()})
}

on_each_engine! {
    async fn the_same_event_delivered_twice_on_purpose_has_one_effect(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let (_, order) = shop.post_order(&order_body(16, &[(9, 1)])).await;
        let order_id = order["order_id"].as_str().unwrap();
        shop.settled(order_id).await;
        let events_before = shop.event_types(order_id).await;

        for (producer, topic, consumer) in [
            (ServiceName::Order, "order.created", ServiceName::Payment),
            (
                ServiceName::Payment,
                "payment.authorized",
                ServiceName::Order,
            ),
        ] {
            let message = delivered(&shop, producer, topic, order_id).await;
            let url = format!("{}/events", shop.url(consumer));
            let batch = json!({"messages": [message]});
            // Only the producer may deliver: not anyone, not another service.
            let (status, reply) = shop.post_with(&url, None, &batch).await;
            assert_eq!(status, 401, "{reply}");
            let inventory = shop.token(Principal::Service(ServiceName::Inventory));
            let (status, reply) = shop.post_with(&url, Some(&inventory), &batch).await;
            assert_eq!(status, 403, "{reply}");
            let token = shop.token(Principal::Service(producer));
            let (status, reply) = shop.post_with(&url, Some(&token), &batch).await;
            assert_eq!(status, 200, "{reply}");
            assert_eq!(
                reply["results"][0]["outcome"], "duplicate",
                "{topic}: {reply}"
            );
        }

        let payments = payments_for(&shop, order_id).await;
        assert_eq!(payments, 1);
        assert_eq!(
            shop.event_types(order_id).await,
            events_before,
            "no second effect"
        );
        assert_eq!(shop.committed(9).await, 1);
    }
}
