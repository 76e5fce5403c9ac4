//! Faults on the saga: payments declined on purpose, and events delivered twice, late or
//! lost before acknowledgement, through the embedded transport and through RabbitMQ on
//! PostgreSQL. Whatever the faults, every order settles exactly once (one payment decision
//! and one end in its stream), the stock adds up, and each fault shows on its span, in
//! `faults_injected_total` and in a log line.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::{Value, json};
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::attr::fault;
use tracemart_testkit::amqp::TestBroker;
use tracemart_testkit::eventually;
use tracemart_testkit::pg::{TestDatabase, unique_name};

use crate::faults::ran;
use crate::helpers::{Options, Shop, order_body, sample};
use crate::instances::DECLINED_TRAIL;
use crate::otlp::SpanRecord;
use crate::saga_crash::CONFIRMED_TRAIL;

const STOCK: i64 = 1_000;
const PRODUCTS: i64 = 4;
/// Every wait for the saga: lost messages come back after retries.
const SETTLE: Duration = Duration::from_secs(90);

/// Retries within a second, so that lost messages come back quickly.
fn quick_retries() -> Vec<(&'static str, String)> {
    vec![
        ("TRACEMART_EVENT_RETRY_BASE_MS", "100".to_owned()),
        ("TRACEMART_EVENT_RETRY_MAX_MS", "1000".to_owned()),
    ]
}

/// Places `n` small orders (one or two units of one product each, well under the decline
/// limit) and returns their bodies as answered.
async fn place(shop: &Shop, n: i64) -> Vec<Value> {
    futures::stream::iter(1..=n)
        .map(|i| async move {
            let answer = shop
                .post_order(&order_body(i, &[(1 + i % PRODUCTS, 1 + i % 2)]))
                .await;
            assert_eq!(answer.status, 201, "{}", answer.body);
            answer.body
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Waits for every order to settle, checks that each did so once and that the stock adds up;
/// returns the settled orders.
async fn settled_once(shop: &Shop, placed: &[Value]) -> Vec<Value> {
    let settled: Vec<(Value, Vec<String>)> = futures::stream::iter(placed)
        .map(|order| async move {
            let id = order["order_id"].as_str().unwrap();
            let settled = eventually(SETTLE, &format!("order {id} settled"), || async {
                let now = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
                (now.status == 200 && now.body["status"] != "created").then_some(now.body)
            })
            .await;
            (settled, shop.order_event_types(id).await)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut sold: HashMap<i64, i64> = HashMap::new();
    for (order, types) in &settled {
        match order["status"].as_str().unwrap() {
            "confirmed" => {
                assert_eq!(types, &CONFIRMED_TRAIL, "{order}");
                for item in order["items"].as_array().unwrap() {
                    *sold
                        .entry(item["product_id"].as_i64().unwrap())
                        .or_default() += item["quantity"].as_i64().unwrap();
                }
            }
            "cancelled" => {
                assert_eq!(types, &DECLINED_TRAIL, "{order}");
                assert_eq!(order["cancellation_reason"], "payment_declined", "{order}");
            }
            other => panic!("order ended {other}: {order}"),
        }
    }
    // No unit held, lost or sold twice: what is not sold is available again.
    for product in 1..=PRODUCTS {
        let level = eventually(SETTLE, "stock settled", || async {
            let level = shop
                .get(ServiceName::Inventory, &format!("/inventory/{product}"))
                .await;
            (level.body["reserved"] == 0).then_some(level.body)
        })
        .await;
        let want = STOCK - sold.get(&product).copied().unwrap_or(0);
        assert_eq!(level["available"], want, "product {product}: {level}");
    }
    settled.into_iter().map(|(order, _)| order).collect()
}

/// `faults_injected_total` of `kind` on service `s`.
async fn injected(shop: &Shop, s: ServiceName, kind: &str) -> f64 {
    let scrape = shop.scrape(s).await;
    sample(&scrape, "faults_injected_total", &[("type", kind)])
}

/// The spans of `service` marked with fault `kind`, once there are at least `at_least`.
async fn marked_spans(shop: &Shop, service: &str, kind: &str, at_least: usize) -> Vec<SpanRecord> {
    eventually(
        crate::helpers::DEADLINE,
        &format!("{at_least} {kind} span(s) of {service}"),
        || {
            let marked: Vec<SpanRecord> = shop
                .receiver()
                .spans()
                .into_iter()
                .filter(|s| {
                    s.service == service
                        && s.attr(fault::INJECTED).as_deref() == Some("true")
                        && s.attr(fault::TYPE).as_deref() == Some(kind)
                })
                .collect();
            async move { (marked.len() >= at_least).then_some(marked) }
        },
    )
    .await
}

/// Whether `s` logged the injection of a fault of `kind`.
async fn logged(shop: &Shop, s: ServiceName, kind: &str) {
    shop.logs_until(s, |l| {
        l["fault.type"] == kind && l["message"].as_str().unwrap_or("").contains("on purpose")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_declined_on_purpose_cancel_their_orders_and_release_their_stock() {
    let shop = Shop::up_with(Options {
        demo_stock: STOCK,
        ..Options::default()
    })
    .await;
    // Only payment decides payments: elsewhere the fault is refused before it is sent.
    let refused = shop.chaos(&["inject", "inventory", "decline"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("payment service only"));
    let set = ran(shop.chaos(&["inject", "payment", "decline", "rate=30%"]));
    assert!(set.contains("decline rate=30%"), "{set}");

    let placed = place(&shop, 30).await;
    let settled = settled_once(&shop, &placed).await;
    let declined: Vec<&Value> = settled
        .iter()
        .filter(|o| o["status"] == "cancelled")
        .collect();
    // Binomial(30, 0.3): none or all declined is a chance of 1 in 40,000 or less.
    assert!(
        !declined.is_empty() && declined.len() < settled.len(),
        "{} of {} declined",
        declined.len(),
        settled.len()
    );

    // The payment says why; the operator may ask for it.
    for order in &declined {
        let payment = shop
            .http
            .post(format!("{}/payments", shop.url(ServiceName::Payment)))
            .bearer_auth(shop.admin_token())
            .json(&json!({
                "order_id": order["order_id"],
                "user_id": order["user_id"],
                "amount": order["total_amount"],
                "currency": order["currency"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(payment.status(), 200);
        let payment: Value = payment.json().await.unwrap();
        assert_eq!(payment["status"], "declined", "{payment}");
        assert!(
            payment["reason"]
                .as_str()
                .unwrap()
                .contains("fault injected"),
            "{payment}"
        );
    }

    // Each declined payment is marked on its span, counted and logged; no other is.
    let n = declined.len();
    assert_eq!(
        injected(&shop, ServiceName::Payment, "decline").await,
        n as f64
    );
    let spans = marked_spans(&shop, "payment-service", "decline", n).await;
    assert_eq!(spans.len(), n);
    assert!(spans.iter().all(|s| s.name() == "authorize_payment"));
    logged(&shop, ServiceName::Payment, "decline").await;
}

/// Sets event faults on both consumers, places orders, and checks that they all settle once
/// and that each fault left its marks.
async fn event_faults_leave_every_order_settled_once(shop: &Shop) {
    for (service, fault) in [
        ("payment", "event-loss rate=30%"),
        ("payment", "event-duplicate rate=30%"),
        ("order", "event-delay=300ms rate=50%"),
        ("order", "event-duplicate rate=30%"),
        ("order", "event-loss rate=20%"),
    ] {
        let mut args = vec!["inject", service];
        args.extend(fault.split_whitespace());
        ran(shop.chaos(&args));
    }

    let placed = place(shop, 16).await;
    let settled = settled_once(shop, &placed).await;
    assert!(settled.iter().all(|o| o["status"] == "confirmed"));

    for (s, service, kinds) in [
        (
            ServiceName::Payment,
            "payment-service",
            &["event_loss", "event_duplicate"][..],
        ),
        (
            ServiceName::Order,
            "order-service",
            &["event_delay", "event_duplicate", "event_loss"][..],
        ),
    ] {
        for &kind in kinds {
            let count = injected(shop, s, kind).await;
            assert!(count >= 1.0, "{s}: no {kind} injected in 16 orders");
            let spans = marked_spans(shop, service, kind, 1).await;
            assert!(
                spans.iter().all(|s| s.kind() == SpanKind::Consumer),
                "{kind} marks the delivery's CONSUMER span"
            );
            logged(shop, s, kind).await;
        }
        // A delivery made twice on purpose found its effect done: it was a duplicate.
        let scrape = shop.scrape(s).await;
        let duplicates = sample(&scrape, "events_consumed_total", &[("result", "duplicate")]);
        let doubled = sample(
            &scrape,
            "faults_injected_total",
            &[("type", "event_duplicate")],
        );
        assert!(duplicates >= doubled, "{s}: {duplicates} < {doubled}");
    }
    // A delayed delivery lasts the delay.
    let delayed = marked_spans(shop, "order-service", "event_delay", 1).await;
    let lasted = |s: &SpanRecord| s.span.end_time_unix_nano - s.span.start_time_unix_nano;
    assert!(delayed.iter().all(|s| lasted(s) >= 300_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_duplicated_delayed_or_lost_through_the_embedded_transport_settle_each_order_once() {
    let shop = Shop::up_with(Options {
        demo_stock: STOCK,
        env: quick_retries(),
        ..Options::default()
    })
    .await;
    event_faults_leave_every_order_settled_once(&shop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_duplicated_delayed_or_lost_through_rabbitmq_settle_each_order_once() {
    let broker = TestBroker::create("faults").await;
    let prefix = unique_name("tmtest_faults");
    // Made by `up`; dropped when the test ends, after the shop (declared later, dropped first).
    let _databases: Vec<TestDatabase> = ServiceName::ALL
        .iter()
        .map(|s| TestDatabase::adopt(format!("{prefix}_{}", s.as_str())))
        .collect();
    let mut env = quick_retries();
    env.push(("TRACEMART_DATABASE_POOL_SIZE", "4".to_owned()));
    let shop = Shop::up_with(Options {
        args: crate::helpers::on_postgres_and_broker(&prefix, broker.url()),
        env,
        demo_stock: STOCK,
        ..Options::default()
    })
    .await;
    event_faults_leave_every_order_settled_once(&shop).await;
}
