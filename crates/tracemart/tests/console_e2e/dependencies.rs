//! The console's view across traces: `/api/services`, the `/api/dependencies` graph that
//! Grafana's Jaeger data source draws, built from the orders' parent/child spans, and the
//! service map's message edges, built from the saga's span links.

use std::collections::HashMap;

use serde_json::Value;
use tracemart_testkit::amqp::TestBroker;

use crate::helpers::{ORDER_PATH_SERVICES, TELEMETRY_TIMEOUT, Up};

/// The service map's edges: (parent, child, kind) -> (calls or messages, errors).
type MapEdges = HashMap<(String, String, String), (u64, u64)>;

#[tokio::test]
async fn dependencies_show_order_calls_and_the_sagas_messages_with_their_counts() {
    calls_and_messages_with_their_counts(Up::start()).await;
}

/// The saga's edges come from span links, whatever carries the messages.
#[tokio::test]
async fn through_rabbitmq_the_map_shows_the_same_calls_and_messages() {
    let broker = TestBroker::create("map").await;
    calls_and_messages_with_their_counts(Up::start_with(&[("TRACEMART_BROKER_URL", broker.url())]))
        .await;
}

async fn calls_and_messages_with_their_counts(up: Up) {
    // Two created orders and one for an unknown user: user is called 3 times, product twice,
    // inventory four times (each created order's reservation, then its commit by the saga).
    // Each created order is one `order.created` message to payment and one
    // `payment.authorized` back; the commands order sends itself are no edge.
    let mut created = Vec::new();
    for (user, status) in [(7, 201), (8, 201), (999_999, 400)] {
        let placed = up.order(user, 2, 1).await;
        assert_eq!(placed.status, status, "{}", placed.body);
        if status == 201 {
            created.push(placed.body["order_id"].as_str().unwrap().to_owned());
        }
    }
    let want = [
        ("user-service", 3),
        ("product-service", 2),
        ("inventory-service", 4),
    ];
    let messages = [
        ("order-service", "payment-service"),
        ("payment-service", "order-service"),
    ];
    let orders = created.len() as u64;
    for id in &created {
        let url = format!("{}/orders/{id}", up.order_url());
        tracemart_testkit::eventually(
            TELEMETRY_TIMEOUT,
            &format!("order {id} to be confirmed"),
            || async {
                let order: Value = up.get_as_admin(&url).send().await.ok()?.json().await.ok()?;
                (order["status"] == "confirmed").then_some(())
            },
        )
        .await;
    }

    let edges = tracemart_testkit::eventually(
        TELEMETRY_TIMEOUT,
        "order-service's edges to reach their call counts",
        || async {
            let (status, body) = up.console_get("/api/dependencies?lookback=3600000").await;
            if status != 200 {
                return None;
            }
            let edges: HashMap<(String, String), u64> = body["data"]
                .as_array()?
                .iter()
                .map(|e| {
                    let key = (
                        e["parent"].as_str().unwrap_or_default().to_owned(),
                        e["child"].as_str().unwrap_or_default().to_owned(),
                    );
                    (key, e["callCount"].as_u64().unwrap_or_default())
                })
                .collect();
            let done = want.iter().all(|(child, n)| {
                edges
                    .get(&("order-service".to_owned(), (*child).to_owned()))
                    .is_some_and(|c| c >= n)
            });
            done.then_some(edges)
        },
    )
    .await;
    let map = tracemart_testkit::eventually(
        TELEMETRY_TIMEOUT,
        "the saga's message edges to reach one message per order each way",
        || async {
            let map = map_edges(&up).await?;
            let done = messages.iter().all(|(from, to)| {
                map.get(&key(from, to, "message"))
                    .is_some_and(|(n, _)| *n >= orders)
            });
            done.then_some(map)
        },
    )
    .await;

    for (child, n) in want {
        let calls = edges[&("order-service".to_owned(), child.to_owned())];
        assert_eq!(calls, n, "order-service -> {child}: {edges:?}");
        let call = map.get(&key("order-service", child, "call"));
        assert_eq!(call.map(|(n, _)| *n), Some(n), "{map:?}");
    }
    for (from, to) in messages {
        let sent = map.get(&key(from, to, "message"));
        assert_eq!(sent, Some(&(orders, 0)), "{from} -> {to}: {map:?}");
        assert!(
            !map.contains_key(&key(from, to, "call")),
            "{from} calls {to} only through messages: {map:?}"
        );
        // Jaeger's links have no kind: the messages are the pair's whole count.
        let total = edges.get(&(from.to_owned(), to.to_owned()));
        assert_eq!(total, Some(&orders), "{edges:?}");
    }
    assert!(
        edges.keys().all(|(parent, child)| parent != child),
        "no service depends on itself: {edges:?}"
    );
    assert!(
        map.keys().all(|(parent, child, _)| parent != child),
        "no service messages itself on the map: {map:?}"
    );
}

fn key(parent: &str, child: &str, kind: &str) -> (String, String, String) {
    (parent.to_owned(), child.to_owned(), kind.to_owned())
}

/// The edges of `/api/console/map`, if it answers.
async fn map_edges(up: &Up) -> Option<MapEdges> {
    let (status, body) = up.console_get("/api/console/map?lookback=1h").await;
    if status != 200 {
        return None;
    }
    body["edges"]
        .as_array()?
        .iter()
        .map(|e| {
            let (parent, child, kind) = (
                e["parent"].as_str()?,
                e["child"].as_str()?,
                e["kind"].as_str()?,
            );
            let counts = (e["calls"].as_u64()?, e["errors"].as_u64()?);
            Some((key(parent, child, kind), counts))
        })
        .collect()
}

#[tokio::test]
async fn services_lists_every_service_an_order_reaches() {
    let up = Up::start();
    let placed = up.order(7, 3, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);

    let services: Vec<String> = tracemart_testkit::eventually(
        TELEMETRY_TIMEOUT,
        "the four services in /api/services",
        || async {
            let (status, body) = up.console_get("/api/services").await;
            let names: Vec<String> = serde_json::from_value(body["data"].clone()).ok()?;
            (status == 200
                && ORDER_PATH_SERVICES
                    .iter()
                    .all(|s| names.iter().any(|n| n == s)))
            .then_some(names)
        },
    )
    .await;

    let mut sorted = services.clone();
    sorted.sort();
    assert_eq!(services, sorted, "services are listed in order");
    for s in ORDER_PATH_SERVICES {
        let (status, ops) = up
            .console_get(&format!("/api/services/{s}/operations"))
            .await;
        assert_eq!(status, 200, "{ops}");
        assert!(
            !ops["data"].as_array().unwrap().is_empty(),
            "{s} has no operations: {ops}"
        );
    }
}
