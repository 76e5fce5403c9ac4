//! Several instances of a service: two order and two payment services on the same PostgreSQL
//! databases and RabbitMQ vhost share the work of a few hundred orders. Each order settles
//! once, each outbox row is published once and consumed once, the stock adds up, and
//! `service.instance.id` tells the instances apart.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::Value;
use tracemart_platform::ServiceName;
use tracemart_testkit::amqp::TestBroker;
use tracemart_testkit::eventually;
use tracemart_testkit::pg::{TestDatabase, unique_name};

use crate::helpers::{DEADLINE, Options, Shop, order_body, sample};
use crate::saga_crash::CONFIRMED_TRAIL;

const ORDERS: usize = 240;
const PRODUCTS: i64 = 12;
const STOCK: i64 = 100_000;
/// Orders of a few units of one or two products: roughly a third are declined.
const DECLINE_OVER: &str = "120";

/// Connections per service: seven processes stay well within the server's limit (100 by
/// default) while other tests use it too.
const POOL: &str = "4";

/// The events of an order whose payment was declined, in order.
pub(crate) const DECLINED_TRAIL: [&str; 4] = [
    "OrderCreated",
    "PaymentDeclined",
    "ReservationReleased",
    "OrderCancelled",
];

/// Messages relayed by the instance at `url`: the sum of its `events_delivered_total`.
async fn delivered_by(shop: &Shop, url: &str) -> f64 {
    sample(&shop.scrape_at(url).await, "events_delivered_total", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_order_and_two_payment_instances_settle_every_order_once_and_share_the_work() {
    let broker = TestBroker::create("instances").await;
    let prefix = unique_name("tmtest_inst");
    // Made by `up`; dropped when the test ends, after the shop (declared later, dropped first).
    let orders = TestDatabase::adopt(format!("{prefix}_order"));
    let payments = TestDatabase::adopt(format!("{prefix}_payment"));
    let inventory = TestDatabase::adopt(format!("{prefix}_inventory"));
    let _users = TestDatabase::adopt(format!("{prefix}_user"));
    let _products = TestDatabase::adopt(format!("{prefix}_product"));
    let mut shop = Shop::up_with(Options {
        args: crate::helpers::on_postgres_and_broker(&prefix, broker.url()),
        env: vec![
            ("TRACEMART_PAYMENT_DECLINE_OVER", DECLINE_OVER.to_owned()),
            ("TRACEMART_DATABASE_POOL_SIZE", POOL.to_owned()),
        ],
        demo_stock: STOCK,
        ..Options::default()
    })
    .await;

    // The second instances share the first ones' databases and broker; the second order
    // service's payment service is the second one.
    let shared = |database_var: &'static str, db: &TestDatabase| {
        vec![
            (database_var, db.url().to_owned()),
            ("TRACEMART_BROKER_URL", broker.url().to_owned()),
            ("TRACEMART_PAYMENT_DECLINE_OVER", DECLINE_OVER.to_owned()),
            ("TRACEMART_DATABASE_POOL_SIZE", POOL.to_owned()),
        ]
    };
    let payment_b = shop
        .extra_service(
            ServiceName::Payment,
            &shared("TRACEMART_PAYMENT_DATABASE_URL", &payments),
        )
        .await;
    let mut order_env = shared("TRACEMART_ORDER_DATABASE_URL", &orders);
    order_env.push(("TRACEMART_PAYMENT_URL", payment_b.clone()));
    let order_b = shop.extra_service(ServiceName::Order, &order_env).await;
    let order_a = shop.url(ServiceName::Order);
    let payment_a = shop.url(ServiceName::Payment);

    // Spread over both order services, in turn.
    let bodies: Vec<(String, Value)> = tracemart_testkit::mixed_baskets(ORDERS, PRODUCTS)
        .iter()
        .enumerate()
        .map(|(i, items)| {
            let at = if i % 2 == 0 { &order_a } else { &order_b };
            (at.clone(), order_body(1 + i as i64, items))
        })
        .collect();
    let shop = &shop;
    let placed: Vec<String> = futures::stream::iter(bodies.iter())
        .map(|(at, body)| async move {
            let answer = shop.post_order_at(at, body).await;
            assert_eq!(answer.status, 201, "{at}: {}", answer.body);
            answer.body["order_id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(16)
        .collect()
        .await;

    eventually(Duration::from_secs(60), "every order settled", || async {
        let open: i64 = orders
            .scalar("SELECT COUNT(*) FROM orders WHERE status = 'created'")
            .await;
        (open == 0).then_some(())
    })
    .await;

    // Each order's stream: one payment decision and one end, in the saga's order.
    let settled: Vec<(Value, Vec<String>)> = futures::stream::iter(placed.iter())
        .map(|id| async move {
            let order = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
            assert_eq!(order.status, 200, "{}", order.body);
            (order.body, shop.order_event_types(id).await)
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut sold: HashMap<i64, i64> = HashMap::new();
    let (mut confirmed, mut cancelled) = (0_i64, 0_i64);
    for (order, types) in &settled {
        match order["status"].as_str().unwrap() {
            "confirmed" => {
                confirmed += 1;
                assert_eq!(types, &CONFIRMED_TRAIL, "{order}");
                for item in order["items"].as_array().unwrap() {
                    *sold
                        .entry(item["product_id"].as_i64().unwrap())
                        .or_default() += item["quantity"].as_i64().unwrap();
                }
            }
            _ => {
                cancelled += 1;
                assert_eq!(order["cancellation_reason"], "payment_declined", "{order}");
                assert_eq!(types, &DECLINED_TRAIL, "{order}");
            }
        }
    }
    assert!(
        confirmed > 0 && cancelled > 0,
        "{confirmed} confirmed, {cancelled} cancelled"
    );

    // One payment per order, decided as the order was settled.
    let made: i64 = payments.scalar("SELECT COUNT(*) FROM payments").await;
    assert_eq!(made, ORDERS as i64);
    let declined: i64 = payments
        .scalar("SELECT COUNT(*) FROM payments WHERE status = 'declined'")
        .await;
    assert_eq!(declined, cancelled);
    let authorized: i64 = payments
        .scalar("SELECT COUNT(*) FROM payments WHERE status = 'authorized'")
        .await;
    assert_eq!(authorized, confirmed);

    // No unit of stock lost, held or sold twice.
    for product in 1..=PRODUCTS {
        let level = shop
            .get(ServiceName::Inventory, &format!("/inventory/{product}"))
            .await;
        assert_eq!(level.status, 200, "{}", level.body);
        let available = level.body["available"].as_i64().unwrap();
        let reserved = level.body["reserved"].as_i64().unwrap();
        let committed: i64 = inventory
            .scalar(&format!(
                "SELECT CAST(COALESCE(SUM(i.quantity), 0) AS BIGINT) FROM reservation_items i \
                 JOIN reservations r ON r.id = i.reservation_id \
                 WHERE r.status = 'committed' AND i.product_id = {product}"
            ))
            .await;
        let want = sold.get(&product).copied().unwrap_or(0);
        assert_eq!(reserved, 0, "product {product}: nothing held");
        assert_eq!(committed, want, "product {product}: sold = confirmed");
        assert_eq!(
            available + committed,
            STOCK,
            "product {product}: no unit lost"
        );
    }

    // Every outbox row published (a cancelled order's void may still be on its way), and by
    // the instances' relays together exactly once each; both instances relayed some.
    for (db, [a, b]) in [
        (&orders, [&order_a, &order_b]),
        (&payments, [&payment_a, &payment_b]),
    ] {
        let (rows, by_a, by_b) = eventually(DEADLINE, "every outbox row relayed", || async {
            let unpublished: i64 = db
                .scalar("SELECT COUNT(*) FROM event_outbox WHERE published_at IS NULL")
                .await;
            let rows: i64 = db.scalar("SELECT COUNT(*) FROM event_outbox").await;
            let (by_a, by_b) = (delivered_by(shop, a).await, delivered_by(shop, b).await);
            (unpublished == 0 && by_a + by_b >= rows as f64).then_some((rows, by_a, by_b))
        })
        .await;
        assert!(
            by_a > 0.0 && by_b > 0.0,
            "relayed: {by_a} by {a}, {by_b} by {b}"
        );
        assert_eq!(
            by_a + by_b,
            rows as f64,
            "{a} and {b} relayed each row once"
        );
    }

    // Each message consumed once, by one of two instances that both took their share.
    let consumed = |spans: &[crate::otlp::SpanRecord], service: &str| {
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut instances = BTreeSet::new();
        for s in spans
            .iter()
            .filter(|s| s.service == service && s.kind() == SpanKind::Consumer)
        {
            *by_id
                .entry(s.attr("messaging.message.id").unwrap())
                .or_default() += 1;
            instances.insert(s.instance.clone());
        }
        (by_id, instances)
    };
    for (service, db) in [("order-service", &payments), ("payment-service", &orders)] {
        // The messages `service` consumes: the other service's outbox rows.
        let sent: i64 = db.scalar("SELECT COUNT(*) FROM event_outbox").await;
        let (by_id, instances) = eventually(
            Duration::from_secs(30),
            "every consumer span exported",
            || {
                let (by_id, instances) = consumed(&shop.receiver().spans(), service);
                async move { (by_id.len() as i64 >= sent).then_some((by_id, instances)) }
            },
        )
        .await;
        let twice: Vec<_> = by_id.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "{service} consumed twice: {twice:?}");
        assert_eq!(by_id.len() as i64, sent, "{service}");
        assert_eq!(instances.len(), 2, "{service}: {instances:?}");
    }
}
