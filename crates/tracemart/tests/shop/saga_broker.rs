//! The order saga with order and payment talking through RabbitMQ (`broker_url`) instead of
//! each other's `POST /events`: a paid order is confirmed and a declined one cancelled, and
//! orders placed while payment is down wait in its queue and complete when it is back.

use tracemart_events::amqp::queue;
use tracemart_platform::ServiceName;
use tracemart_testkit::amqp::TestBroker;

use crate::helpers::{Shop, on_each_engine, order_body};

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn through_rabbitmq_a_paid_order_is_confirmed_and_a_declined_one_cancelled(engine: Engine) {
        let broker = TestBroker::create("shop").await;
        // One unit is authorised, two are over the limit.
        let limit = tracemart_product::demo_price_minor(6) as f64 * 1.5 / 100.0;
        let shop = Shop::start_on(engine, |c| {
            c.broker_url = broker.url().to_owned();
            c.payment_decline_over = limit;
        })
        .await;
        let before = shop.stock(6).await;

        let (status, paid) = shop.post_order(&order_body(8, &[(6, 1)])).await;
        assert_eq!(status, 201, "{paid}");
        let paid_id = paid["order_id"].as_str().unwrap();
        let (status, declined) = shop.post_order(&order_body(9, &[(6, 2)])).await;
        assert_eq!(status, 201, "{declined}");
        let declined_id = declined["order_id"].as_str().unwrap();

        assert_eq!(shop.settled(paid_id).await["status"], "confirmed");
        let settled = shop.settled(declined_id).await;
        assert_eq!(settled["status"], "cancelled", "{settled}");
        assert_eq!(settled["cancellation_reason"], "payment_declined");
        assert_eq!(
            shop.event_types(paid_id).await,
            ["OrderCreated", "PaymentAuthorized", "ReservationCommitted", "OrderConfirmed"]
        );
        assert_eq!(shop.stock(6).await, (before.0 - 1, before.1), "only the paid unit sold");
        for (consumer, topic) in [
            ("payment-service", "order.created"),
            ("order-service", "payment.authorized"),
            ("order-service", "payment.declined"),
        ] {
            broker.until_messages(&queue(consumer, topic), 0).await;
        }
    }
}

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_placed_while_payment_is_down_wait_in_its_queue_and_complete_when_it_is_back(engine: Engine) {
        let broker = TestBroker::create("shop").await;
        let mut shop = Shop::start_on(engine, |c| c.broker_url = broker.url().to_owned()).await;
        shop.stop(ServiceName::Payment).await;
        let mut placed = Vec::new();
        for user in 1..=5 {
            let (status, order) = shop.post_order(&order_body(user, &[(12, 1)])).await;
            assert_eq!(status, 201, "{order}");
            placed.push(order["order_id"].as_str().unwrap().to_owned());
        }
        // Published and confirmed: they wait in payment's queue, not in order's outbox.
        let waiting = queue("payment-service", "order.created");
        broker.until_messages(&waiting, 5).await;

        shop.restart(ServiceName::Payment).await;

        for order_id in &placed {
            assert_eq!(shop.settled(order_id).await["status"], "confirmed");
        }
        assert_eq!(shop.committed(12).await, 5);
        broker.until_messages(&waiting, 0).await;
    }
}
