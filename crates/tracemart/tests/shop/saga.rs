//! The order saga: a paid order is confirmed and its stock sold, a declined one cancelled and
//! its stock released, an unpaid one cancelled when its reservation expires, orders wait for
//! a payment service that is down, then complete, and a payment decision that cannot reach
//! inventory is recorded only once it can.

use serde_json::Value;
use tracemart_platform::ServiceName;

use crate::helpers::{SAGA, Shop, on_each_engine, order_body};

fn id(order: &Value) -> &str {
    order["order_id"].as_str().unwrap()
}

/// The order's events as (type, cause). (Their trace ids are checked where the services
/// export telemetry: tests/telemetry/saga.rs.)
async fn audit_trail(shop: &Shop, order_id: &str) -> Vec<(String, String)> {
    let (_, body) = shop
        .get(ServiceName::Order, &format!("/orders/{order_id}/events"))
        .await;
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (text("type"), text("cause"))
        })
        .collect()
}

/// Waits until `service`'s relay has failed to deliver `topic` at least once.
async fn delivery_failed(shop: &Shop, service: ServiceName, topic: &str) {
    let line = format!("events_delivery_failed_total{{topic=\"{topic}\"");
    tracemart_testkit::eventually(SAGA, &format!("a failed delivery of {topic}"), || {
        shop.metric_line(service, &line)
    })
    .await;
}

/// The events of a confirmed order, in order.
const CONFIRMED: [&str; 4] = [
    "OrderCreated",
    "PaymentAuthorized",
    "ReservationCommitted",
    "OrderConfirmed",
];

on_each_engine! {
    async fn a_paid_order_is_confirmed_its_stock_sold_and_every_step_is_in_its_audit_trail(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let before = shop.stock(6).await;

        let (status, order) = shop.post_order(&order_body(8, &[(6, 3)])).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["status"], "created");
        let settled = shop.settled(id(&order)).await;

        assert_eq!(settled["status"], "confirmed", "{settled}");
        assert!(settled["status_changed_at"].as_str().unwrap() > order["created_at"].as_str().unwrap());
        assert_eq!(
            shop.stock(6).await,
            (before.0 - 3, before.1),
            "nothing held"
        );
        assert_eq!(shop.committed(6).await, 3, "three units sold");
        let trail = audit_trail(&shop, id(&order)).await;
        let types: Vec<&str> = trail.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, CONFIRMED);
        assert!(trail[0].1.starts_with("POST /orders "), "{trail:?}");
        assert!(trail[1].1.starts_with("payment.authorized "), "{trail:?}");
        assert_eq!(
            trail[2].1, trail[1].1,
            "committed by the same step: {trail:?}"
        );
        assert_eq!(
            trail[3].1, trail[1].1,
            "confirmed by the same step: {trail:?}"
        );
        let finished = shop
            .metric_line(ServiceName::Order, "orders_completed_total{")
            .await;
        assert_eq!(
            finished.as_deref(),
            Some(r#"orders_completed_total{status="confirmed",reason=""} 1"#)
        );
    }
}

on_each_engine! {
    async fn a_declined_order_is_cancelled_with_its_reason_and_its_stock_released(engine: Engine) {
        let shop = Shop::start_on(engine, |c| c.payment_decline_over = 1.0).await;
        let before = shop.stock(7).await;

        let (status, order) = shop.post_order(&order_body(9, &[(7, 2)])).await;
        assert_eq!(status, 201, "{order}");
        let settled = shop.settled(id(&order)).await;

        assert_eq!(settled["status"], "cancelled", "{settled}");
        assert_eq!(settled["cancellation_reason"], "payment_declined");
        assert_eq!(shop.stock(7).await, before, "the stock is back on sale");
        assert_eq!(shop.committed(7).await, 0);
        let types: Vec<String> = shop.event_types(id(&order)).await;
        assert_eq!(
            types,
            [
                "OrderCreated",
                "PaymentDeclined",
                "ReservationReleased",
                "OrderCancelled"
            ]
        );
        let (_, events) = shop
            .get(
                ServiceName::Order,
                &format!("/orders/{}/events", id(&order)),
            )
            .await;
        let declined = &events["events"][1]["payload"]["reason"];
        assert!(
            declined
                .as_str()
                .unwrap()
                .contains("over the authorisation limit"),
            "{events}"
        );
    }
}

on_each_engine! {
    async fn an_unpaid_order_is_cancelled_when_its_reservation_expires_and_a_late_payment_is_voided(engine: Engine) {
        let mut shop = Shop::start_on(engine, |c| c.reservation_ttl_secs = 1).await;
        shop.stop(ServiceName::Payment).await;
        let before = shop.stock(11).await;

        let (status, order) = shop.post_order(&order_body(10, &[(11, 4)])).await;
        assert_eq!(status, 201, "{order}");
        let settled = shop.settled(id(&order)).await;

        assert_eq!(settled["status"], "cancelled", "{settled}");
        assert_eq!(settled["cancellation_reason"], "payment_timeout");
        assert_eq!(shop.stock(11).await, before, "the stock is back on sale");
        assert_eq!(
            shop.event_types(id(&order)).await,
            ["OrderCreated", "ReservationReleased", "OrderCancelled"]
        );

        // Payment comes back: it sees order.created, then order.cancelled (in that order), so the
        // authorisation it makes is voided.
        shop.restart(ServiceName::Payment).await;
        let pay = serde_json::json!({"order_id": id(&order), "user_id": 10,
            "amount": order["total_amount"], "currency": "USD"});
        let url = format!("{}/payments", shop.url(ServiceName::Payment));
        let payment = tracemart_testkit::eventually(SAGA, "the payment to be voided", || async {
            let (status, p) = shop.post_as_order(&url, &pay).await;
            (status == 200 && p["status"] == "voided").then_some(p)
        })
        .await;
        assert_eq!(payment["reason"], "payment_timeout");
        assert_eq!(
            shop.settled(id(&order)).await["status"],
            "cancelled",
            "it stays cancelled"
        );
        assert_eq!(shop.committed(11).await, 0);
    }
}

on_each_engine! {
    async fn orders_wait_while_payment_is_down_and_all_complete_when_it_is_back(engine: Engine) {
        let mut shop = Shop::start_on(engine, |_| {}).await;
        shop.stop(ServiceName::Payment).await;
        let mut placed = Vec::new();
        for user in 1..=5 {
            let (status, order) = shop.post_order(&order_body(user, &[(12, 1)])).await;
            assert_eq!(status, 201, "{order}");
            placed.push(id(&order).to_owned());
        }
        // The relay has tried and failed to deliver while the orders stayed `created`.
        delivery_failed(&shop, ServiceName::Order, "order.created").await;
        for order_id in &placed {
            let (_, order) = shop
                .get(ServiceName::Order, &format!("/orders/{order_id}"))
                .await;
            assert_eq!(order["status"], "created", "{order}");
        }

        shop.restart(ServiceName::Payment).await;

        for order_id in &placed {
            assert_eq!(shop.settled(order_id).await["status"], "confirmed");
        }
        assert_eq!(shop.committed(12).await, 5);
        let dead = shop
            .metric_line(ServiceName::Order, "event_dead_letters ")
            .await;
        assert_eq!(
            dead.as_deref(),
            Some("event_dead_letters 0"),
            "a consumer that is down is waited for"
        );
    }
}

on_each_engine! {
    async fn a_payment_decision_made_while_inventory_is_down_is_recorded_once_when_it_is_back(engine: Engine) {
        // Many failures allowed: the test's retries come every few ms, and an outage of a few
        // hundred ms must not dead-letter the decision.
        let mut shop = Shop::start_on(engine, |c| c.event_max_failures = 10_000).await;
        shop.stop(ServiceName::Payment).await;
        let (status, order) = shop.post_order(&order_body(4, &[(13, 2)])).await;
        assert_eq!(status, 201, "{order}");
        let order_id = id(&order).to_owned();
        shop.stop(ServiceName::Inventory).await;
        shop.restart(ServiceName::Payment).await;

        // Payment decided and its relay delivers the decision, which the order service refuses
        // to record while it cannot commit the reservation.
        delivery_failed(&shop, ServiceName::Payment, "payment.authorized").await;
        assert_eq!(shop.event_types(&order_id).await, ["OrderCreated"]);

        shop.restart(ServiceName::Inventory).await;
        assert_eq!(shop.settled(&order_id).await["status"], "confirmed");
        let trail = audit_trail(&shop, &order_id).await;
        let types: Vec<&str> = trail.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(types, CONFIRMED);
        assert_eq!(shop.committed(13).await, 2, "sold once");
        let dead = shop
            .metric_line(ServiceName::Payment, "event_dead_letters ")
            .await;
        assert_eq!(dead.as_deref(), Some("event_dead_letters 0"));
    }
}
