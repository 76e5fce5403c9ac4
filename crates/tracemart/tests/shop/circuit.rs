//! The circuit breaker in front of inventory: a failing inventory makes orders fail fast
//! without calls, reading orders and browsing products keep working, and the circuit closes
//! again once inventory is back.

use std::time::Duration;

use tracemart_platform::ServiceName;

use crate::helpers::{Shop, order_body};

const INVENTORY_CIRCUIT: &str = "circuit_breaker_state{target_service=\"inventory-service\"} ";

/// The order service's `circuit_breaker_state` sample for inventory.
async fn inventory_circuit(shop: &Shop) -> String {
    let line = shop
        .metric_line(ServiceName::Order, INVENTORY_CIRCUIT)
        .await;
    let line = line.unwrap_or_else(|| panic!("no {INVENTORY_CIRCUIT} in /metrics"));
    line[INVENTORY_CIRCUIT.len()..].to_owned()
}

#[tokio::test]
async fn a_stopped_inventory_opens_its_circuit_and_orders_then_fail_without_calling_it() {
    let mut shop = Shop::start(|c| {
        c.circuit_failure_threshold = 3;
        c.circuit_open_ms = 60_000;
        // One attempt per call, so that the count below is the breaker's alone.
        c.downstream_retries = 0;
    })
    .await;
    let (status, placed) = shop.post_order(&order_body(5, &[(1, 1)])).await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().unwrap();
    // Settled before inventory stops: its saga commits the reservation at inventory, and a
    // commit that failed there would count towards the breaker too.
    assert_eq!(shop.settled(id).await["status"], "confirmed");
    assert_eq!(inventory_circuit(&shop).await, "0");
    shop.stop(ServiceName::Inventory).await;

    // The first two orders fail: their reservations (and the release the relay attempts for
    // each reservation that might have been made) find no inventory.
    for _ in 0..2 {
        let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;
        assert_eq!(status, 503, "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("unreachable"),
            "{body}"
        );
    }
    let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;

    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("inventory-service is failing: its circuit breaker is open"),
        "{body}"
    );
    assert_eq!(inventory_circuit(&shop).await, "1");
    // Reading orders and browsing products do not need inventory.
    shop.assert_browsing_and_reading_work(5).await;
    let (status, body) = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "confirmed", "{body}");
    // Only the first order was kept: once inventory is back, it alone sold stock.
    shop.restart(ServiceName::Inventory).await;
    assert_eq!(shop.reservations_in("committed").await, 1);
    assert_eq!(shop.reservations_in("held").await, 0);
    assert_eq!(shop.order_count().await, 1);
}

#[tokio::test]
async fn once_inventory_is_back_the_circuit_closes_and_orders_succeed_again() {
    let mut shop = Shop::start(|c| {
        c.circuit_failure_threshold = 2;
        c.circuit_open_ms = 200;
    })
    .await;
    shop.stop(ServiceName::Inventory).await;
    let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(inventory_circuit(&shop).await, "1");

    shop.restart(ServiceName::Inventory).await;
    let placed = tracemart_testkit::eventually(
        Duration::from_secs(10),
        "an order once inventory is back",
        || async {
            let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;
            (status == 201).then_some(body)
        },
    )
    .await;

    assert_eq!(placed["status"], "created", "{placed}");
    assert_eq!(inventory_circuit(&shop).await, "0");
}

#[tokio::test]
async fn an_inventory_that_restarts_quickly_costs_orders_about_a_second_not_the_whole_open_time() {
    let mut shop = Shop::start(|c| {
        c.circuit_failure_threshold = 2;
        c.circuit_open_ms = 30_000;
    })
    .await;
    shop.stop(ServiceName::Inventory).await;
    tracemart_testkit::eventually(Duration::from_secs(10), "the circuit to open", || async {
        let (status, _) = shop.post_order(&order_body(5, &[(1, 1)])).await;
        assert_eq!(status, 503);
        (inventory_circuit(&shop).await == "1").then_some(())
    })
    .await;

    shop.restart(ServiceName::Inventory).await;

    // The first trial call comes 250 ms after the opening, the next 500 ms after that: far
    // within the 30 s configured as the longest opening.
    tracemart_testkit::eventually(
        Duration::from_secs(5),
        "an order accepted soon after inventory is back",
        || async {
            let (status, _) = shop.post_order(&order_body(5, &[(1, 1)])).await;
            (status == 201).then_some(())
        },
    )
    .await;
    assert_eq!(inventory_circuit(&shop).await, "0");
}
