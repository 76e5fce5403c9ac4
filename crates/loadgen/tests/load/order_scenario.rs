//! The order path: realistic `POST /orders` bodies, and reads of the orders they created.

use std::collections::HashSet;

use axum::http::Method;
use serde_json::Value;
use tracemart_loadgen::{RequestKind, execute};

use crate::helpers::{Recorder, args, refused_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_bodies_are_valid_orders_over_many_users_and_products() {
    let (shop, url) = Recorder::start().await;

    execute(&args(&[&url, "--requests", "200", "--connections", "4"]))
        .await
        .unwrap();

    let posts: Vec<_> = shop
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::POST)
        .collect();
    assert_eq!(posts.len(), 200);
    let mut users = HashSet::new();
    let mut products = HashSet::new();
    for post in &posts {
        assert_eq!(post.path, "/orders");
        assert_eq!(post.headers["content-type"], "application/json");
        let body: Value = serde_json::from_slice(&post.body).unwrap();
        let user = body["user_id"].as_u64().unwrap();
        assert!((1..=1000).contains(&user), "{body}");
        users.insert(user);
        let items = body["items"].as_array().unwrap();
        assert!((1..=3).contains(&items.len()), "{body}");
        let ids: HashSet<u64> = items
            .iter()
            .map(|i| i["product_id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.len(), items.len(), "distinct products: {body}");
        for item in items {
            assert!(
                (1..=100).contains(&item["product_id"].as_u64().unwrap()),
                "{body}"
            );
            assert!(
                (1..=3).contains(&item["quantity"].as_u64().unwrap()),
                "{body}"
            );
        }
        products.extend(ids);
        let address = &body["shipping_address"];
        assert_eq!(address["country"], "KR");
        assert!(
            address["city"].is_string() && address["street"].is_string(),
            "{body}"
        );
    }
    assert!(users.len() > 100, "only {} users", users.len());
    assert!(products.len() > 50, "only {} products", products.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_order_reads_orders_it_created_first() {
    let (shop, url) = Recorder::start().await;

    let report = execute(&args(&[
        &url,
        "--scenario",
        "get-order",
        "--requests",
        "30",
    ]))
    .await
    .unwrap();

    let requests = shop.requests();
    let created = requests.iter().filter(|r| r.method == Method::POST).count();
    assert!(created >= 1, "no order created before reading");
    let reads: Vec<_> = requests
        .iter()
        .filter(|r| r.method == Method::GET && r.path.starts_with("/orders/"))
        .collect();
    assert_eq!(reads.len(), 30);
    for read in reads {
        let id: u64 = read.path["/orders/ord-".len()..].parse().unwrap();
        assert!(
            (id as usize) < created,
            "read {} that was never created",
            read.path
        );
    }
    assert_eq!(report.by_request[&RequestKind::GetOrder].count, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browse_reads_the_catalog_on_the_product_service() {
    let (products, product_url) = Recorder::start().await;
    let orders = refused_url().await;

    let report = execute(&args(&[
        &orders,
        "--product-url",
        &product_url,
        "--scenario",
        "browse",
        "--requests",
        "50",
    ]))
    .await
    .unwrap();

    assert_eq!(report.requests.ok, 50);
    for request in products.requests().iter().filter(|r| r.path != "/health") {
        assert_eq!(request.method, Method::GET);
        let id = request.path.strip_prefix("/products").unwrap();
        if let Some(id) = id.strip_prefix('/') {
            assert!(
                (1..=100).contains(&id.parse::<u64>().unwrap()),
                "{}",
                request.path
            );
        } else {
            assert!(id.is_empty(), "{}", request.path);
        }
    }
}
