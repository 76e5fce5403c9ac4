//! `POST /orders`, `GET /orders/{id}`, `GET /orders?user_id=`, events, idempotency.

use serde_json::json;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine, order_body};

on_each_engine! {
    async fn create_order_answers_201_with_the_seeds_body_and_server_prices(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let (p1, p3) = (shop.price_minor(1).await, shop.price_minor(3).await);
        let before = shop.stock(1).await;

        // The client's price is ignored: prices come from the product service.
        let mut body = order_body(7, &[(1, 2), (3, 1)]);
        body["items"][0]["price"] = json!(0.01);
        let (status, order) = shop.post_order(&body).await;

        assert_eq!(status, 201, "{order}");
        let keys: Vec<&str> = order
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want = vec![
            "order_id",
            "user_id",
            "items",
            "total_amount",
            "currency",
            "shipping_address",
            "reservation_id",
            "status",
            "created_at",
        ];
        want.sort_unstable();
        let mut got = keys.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert_eq!(order["user_id"], 7);
        assert_eq!(
            order["items"],
            json!([{"product_id": 1, "quantity": 2}, {"product_id": 3, "quantity": 1}])
        );
        let expected_total = (2 * p1 + p3) as f64 / 100.0;
        assert_eq!(order["total_amount"].as_f64().unwrap(), expected_total);
        assert_eq!(order["currency"], "USD");
        assert_eq!(order["shipping_address"], body["shipping_address"]);
        assert_eq!(order["status"], "created");
        assert!(uuid::Uuid::parse_str(order["order_id"].as_str().unwrap()).is_ok());
        assert!(
            chrono::DateTime::parse_from_rfc3339(order["created_at"].as_str().unwrap()).is_ok(),
            "created_at has a time zone"
        );

        let after = shop.stock(1).await;
        assert_eq!(
            after,
            (before.0 - 2, before.1 + 2),
            "two units of product 1 are held"
        );
    }
}

#[tokio::test]
async fn a_placed_order_is_read_back_listed_and_has_an_event_stream() {
    let shop = Shop::start(|_| {}).await;
    let (_, first) = shop.post_order(&order_body(12, &[(5, 1)])).await;
    let (_, second) = shop.post_order(&order_body(12, &[(6, 3)])).await;
    let id = first["order_id"].as_str().unwrap();

    let (status, read) = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
    assert_eq!(status, 200);
    assert_same_order(&read, &first);

    let (status, list) = shop
        .get(ServiceName::Order, "/orders?user_id=12&limit=10")
        .await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![second["order_id"].as_str().unwrap(), id],
        "newest first"
    );
    let (_, limited) = shop
        .get(ServiceName::Order, "/orders?user_id=12&limit=1")
        .await;
    assert_eq!(limited["orders"].as_array().unwrap().len(), 1);

    let (status, events) = shop
        .get(ServiceName::Order, &format!("/orders/{id}/events"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(events["events"][0]["type"], "OrderCreated");
    assert_eq!(events["events"][0]["seq"], 1);
}

/// `read` (from GET) is the order `posted` answered: the same fields, with its status as it
/// is now and when that changed.
pub fn assert_same_order(read: &serde_json::Value, posted: &serde_json::Value) {
    for (key, value) in posted.as_object().unwrap() {
        if key != "status" {
            assert_eq!(
                &read[key], value,
                "{key}: GET returns the stored order, not sample data"
            );
        }
    }
    assert!(read["status_changed_at"].is_string(), "{read}");
    assert!(
        ["created", "confirmed"].contains(&read["status"].as_str().unwrap()),
        "{read}"
    );
}

#[tokio::test]
async fn unknown_orders_are_404_and_malformed_ids_400() {
    let shop = Shop::start(|_| {}).await;
    let (status, body) = shop
        .get(
            ServiceName::Order,
            &format!("/orders/{}", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "order_not_found");
    let (status, body) = shop.get(ServiceName::Order, "/orders/not-a-uuid").await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_id");
    for bad in [
        "/orders",
        "/orders?user_id=abc",
        "/orders?user_id=1&limit=0",
        "/orders?user_id=1&limit=1000",
    ] {
        let (status, body) = shop.get(ServiceName::Order, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_order_and_holds_stock_once() {
    let shop = Shop::start(|_| {}).await;
    let url = format!("{}/orders", shop.url(ServiceName::Order));
    let body = order_body(3, &[(9, 2)]);
    let before = shop.stock(9).await;
    let send = |b: serde_json::Value| {
        shop.http
            .post(&url)
            .header("Idempotency-Key", "checkout-3-abc")
            .json(&b)
            .send()
    };

    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: serde_json::Value = first.json().await.unwrap();
    let retry = send(body.clone()).await.unwrap();
    assert_eq!(retry.status(), 201);
    let retry: serde_json::Value = retry.json().await.unwrap();

    assert_eq!(retry, first);
    assert_eq!(shop.order_count().await, 1);
    shop.settled(first["order_id"].as_str().unwrap()).await;
    assert_eq!(shop.stock(9).await, (before.0 - 2, before.1));
    assert_eq!(shop.committed(9).await, 2, "sold once");

    let other = send(order_body(3, &[(9, 5)])).await.unwrap();
    assert_eq!(other.status(), 422, "same key, different body");
    let bad = shop
        .http
        .post(&url)
        .header("Idempotency-Key", "has spaces in it")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(shop.order_count().await, 1);
}

#[tokio::test]
async fn every_service_answers_health_and_readiness() {
    let shop = Shop::start(|_| {}).await;
    for s in ServiceName::ALL {
        let (status, body) = shop.get(s, "/health").await;
        assert_eq!(status, 200);
        assert_eq!(body["status"], "healthy");
        assert_eq!(body["service"], s.service_name());
        assert!(body["version"].is_string() && body["timestamp"].is_string());
        let (status, body) = shop.get(s, "/health/ready").await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    }
}

#[tokio::test]
async fn payments_answer_for_real_orders_only_and_with_the_orders_amount() {
    let shop = Shop::start(|_| {}).await;
    let url = format!("{}/payments", shop.url(ServiceName::Payment));
    let (_, order) = shop.post_order(&order_body(4, &[(2, 1)])).await;
    let id = order["order_id"].as_str().unwrap();
    shop.settled(id).await;
    let pay =
        |amount: f64| json!({"order_id": id, "user_id": 4, "amount": amount, "currency": "USD"});
    let total = order["total_amount"].as_f64().unwrap();

    let (s1, p1) = shop.post_as_order(&url, &pay(total)).await;
    let (s2, p2) = shop.post_as_order(&url, &pay(total)).await;
    let (s3, other_amount) = shop.post_as_order(&url, &pay(total + 1.0)).await;
    let (s4, unknown) = shop.post_as_order(&url,
        &json!({"order_id": uuid::Uuid::new_v4().to_string(), "user_id": 4, "amount": 1.0, "currency": "USD"}),
    )
    .await;

    assert_eq!((s1, s2), (200, 200), "{p1}");
    assert_eq!(p1["status"], "authorized");
    assert_eq!(p2, p1, "idempotent by order_id");
    assert_eq!(
        (s3, other_amount["code"].as_str()),
        (422, Some("payment_mismatch"))
    );
    assert_eq!(
        (s4, unknown["code"].as_str()),
        (404, Some("order_not_found"))
    );
}
