//! The saga survives kill -9 of the processes `tracemart up` runs: an event still in the order
//! service's outbox goes out after its restart, and a payment service killed in the middle of a
//! batch of events makes one payment and one decision per order once it is back. `up` restarts
//! what was killed, as it does in production use.

use std::time::{Duration, Instant};

use futures::StreamExt;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use sqlx::Connection;
use tracemart_platform::ServiceName;
use tracemart_testkit::processes::is_alive;
use tracemart_testkit::proxy::{ALWAYS, FaultyProxy};

use crate::helpers::{DEADLINE, Options, Shop, order_body};

/// The events of a confirmed order, in order.
pub(crate) const CONFIRMED_TRAIL: [&str; 4] = [
    "OrderCreated",
    "PaymentAuthorized",
    "ReservationCommitted",
    "OrderConfirmed",
];

/// The shop with the order service's deliveries to payment going through `proxy`, which
/// answers 503 (payment unreachable) until told otherwise; retries every few tens of ms.
async fn shop_with_payment_behind(proxy: &FaultyProxy) -> Shop {
    proxy.fail_with(503, ALWAYS);
    let shop = Shop::up_with(Options {
        export: false,
        env: vec![
            ("TRACEMART_PAYMENT_URL", proxy.url.clone()),
            ("TRACEMART_EVENT_RETRY_BASE_MS", "20".into()),
            ("TRACEMART_EVENT_RETRY_MAX_MS", "200".into()),
            ("TRACEMART_EVENT_POLL_MS", "50".into()),
        ],
        ..Options::default()
    })
    .await;
    proxy.forward_to(shop.url(ServiceName::Payment));
    shop
}

/// Places `count` orders of `quantity` units of product `product`, eight at a time; all must
/// be accepted. Returns their ids.
async fn place(shop: &Shop, count: i64, product: i64, quantity: i64) -> Vec<String> {
    futures::stream::iter(1..=count)
        .map(|user| async move {
            let placed = shop
                .post_order(&order_body(user, &[(product, quantity)]))
                .await;
            assert_eq!(placed.status, 201, "{}", placed.body);
            assert_eq!(placed.body["status"], "created");
            placed.body["order_id"].as_str().unwrap().to_owned()
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// SIGKILL to the process `up` runs for `s`; returns once it is gone.
async fn kill_9(shop: &Shop, s: ServiceName) -> i32 {
    let pid = shop.service_pid(s).expect("the service's process");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill -9");
    tracemart_testkit::eventually(DEADLINE, "the killed process to be gone", || async {
        (!is_alive(pid)).then_some(())
    })
    .await;
    pid
}

/// Waits until `up` has started `s` again (a process other than `killed`) and it is ready.
async fn restarted(shop: &Shop, s: ServiceName, killed: i32) {
    tracemart_testkit::eventually(DEADLINE, "up to restart the killed service", || async {
        shop.service_pid(s).filter(|p| *p != killed)
    })
    .await;
    tracemart_testkit::wait_ready(
        &shop.http,
        &format!("{}/health/ready", shop.url(s)),
        DEADLINE,
    )
    .await;
}

/// Waits until order `id` has left `created`, and returns its audit trail's event types.
async fn settled_trail(shop: &Shop, id: &str) -> Vec<String> {
    let order =
        tracemart_testkit::eventually(DEADLINE, &format!("order {id} to settle"), || async {
            let got = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
            (got.status == 200 && got.body["status"] != "created").then_some(got.body)
        })
        .await;
    assert_eq!(order["status"], "confirmed", "{order}");
    let events = shop
        .get(ServiceName::Order, &format!("/orders/{id}/events"))
        .await;
    assert_eq!(events.status, 200, "{}", events.body);
    events.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e: &Value| e["type"].as_str().expect("type").to_owned())
        .collect()
}

async fn scalar(pool: &sqlx::SqlitePool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Units of `product` held by committed reservations.
async fn committed_units(shop: &Shop, product: i64) -> i64 {
    let pool = shop.read_only(ServiceName::Inventory).await;
    let n = sqlx::query_scalar(
        "SELECT COALESCE(SUM(i.quantity), 0) FROM reservation_items i JOIN reservations r \
         ON r.id = i.reservation_id WHERE r.status = 'committed' AND i.product_id = ?",
    )
    .bind(product)
    .fetch_one(&pool)
    .await
    .expect("sum committed");
    pool.close().await;
    n
}

#[tokio::test]
async fn an_order_service_killed_after_answering_201_sends_the_event_after_its_restart() {
    let proxy = FaultyProxy::bind(0).await;
    let shop = shop_with_payment_behind(&proxy).await;
    let ids = place(&shop, 5, 3, 2).await;
    // The relay has tried to deliver and was refused: every order.created is still in the
    // outbox when the process dies.
    tracemart_testkit::eventually(DEADLINE, "a refused delivery", || async {
        (proxy.refused() > 0).then_some(())
    })
    .await;
    assert_eq!(proxy.forwarded(), 0);

    let killed = kill_9(&shop, ServiceName::Order).await;
    proxy.fail(0);
    restarted(&shop, ServiceName::Order, killed).await;

    for id in &ids {
        assert_eq!(
            settled_trail(&shop, id).await,
            CONFIRMED_TRAIL,
            "order {id}"
        );
    }
    let payments = shop.read_only(ServiceName::Payment).await;
    assert_eq!(scalar(&payments, "SELECT COUNT(*) FROM payments").await, 5);
    payments.close().await;
    assert_eq!(committed_units(&shop, 3).await, 5 * 2, "nothing doubled");
}

#[tokio::test]
async fn a_payment_service_killed_while_it_handles_events_makes_one_payment_and_one_decision_per_order()
 {
    const ORDERS: i64 = 120;
    let proxy = FaultyProxy::bind(0).await;
    let shop = shop_with_payment_behind(&proxy).await;
    let ids = place(&shop, ORDERS, 4, 1).await;

    // The events wait in the outbox; then payment receives them in one batch and works
    // through it. As soon as the first payment is written, a lock on its database stops it
    // mid-batch (its next write waits for the lock), and it is killed there.
    let path = shop.data.join("payment.db");
    let mut lock = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open payment db");
    let payments = shop.read_only(ServiceName::Payment).await;
    proxy.fail(0);
    let deadline = Instant::now() + DEADLINE;
    while scalar(&payments, "SELECT COUNT(*) FROM payments").await == 0 {
        assert!(Instant::now() < deadline, "payment never handled an event");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .expect("lock payment db");
    let before_kill: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payments")
        .fetch_one(&mut lock)
        .await
        .unwrap();
    let killed = kill_9(&shop, ServiceName::Payment).await;
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    eprintln!("payments written before kill -9: {before_kill} of {ORDERS}");
    restarted(&shop, ServiceName::Payment, killed).await;

    for id in &ids {
        assert_eq!(
            settled_trail(&shop, id).await,
            CONFIRMED_TRAIL,
            "order {id}"
        );
    }
    assert_eq!(
        scalar(&payments, "SELECT COUNT(*) FROM payments").await,
        ORDERS
    );
    // One decision published per order: a second would mean an event handled twice.
    assert_eq!(
        scalar(
            &payments,
            "SELECT COUNT(*) FROM event_outbox WHERE topic LIKE 'payment.%'"
        )
        .await,
        ORDERS
    );
    assert_eq!(
        scalar(
            &payments,
            "SELECT COUNT(DISTINCT message_key) FROM event_outbox WHERE topic LIKE 'payment.%'"
        )
        .await,
        ORDERS
    );
    payments.close().await;
    assert_eq!(committed_units(&shop, 4).await, ORDERS);
}
