//! The console's view across traces: `/api/services` and the `/api/dependencies` graph that
//! Grafana's Jaeger data source draws, built from the orders' parent/child spans.

use std::collections::HashMap;

use crate::helpers::{ORDER_PATH_SERVICES, TELEMETRY_TIMEOUT, Up};

#[tokio::test]
async fn dependencies_show_order_calling_user_product_and_inventory_with_call_counts() {
    let up = Up::start();
    // Two created orders and one for an unknown user: user is called 3 times, product twice,
    // inventory four times (each created order's reservation, then its commit by the saga).
    for (user, status) in [(7, 201), (8, 201), (999_999, 400)] {
        let placed = up.order(user, 2, 1).await;
        assert_eq!(placed.status, status, "{}", placed.body);
    }
    let want = [
        ("user-service", 3),
        ("product-service", 2),
        ("inventory-service", 4),
    ];

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

    for (child, n) in want {
        let calls = edges[&("order-service".to_owned(), child.to_owned())];
        assert_eq!(calls, n, "order-service -> {child}: {edges:?}");
    }
    assert!(
        edges.keys().all(|(parent, child)| parent != child),
        "no service depends on itself: {edges:?}"
    );
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
