//! Bad input gets a 4xx JSON error with `error`, `code`, `request_id`, and changes nothing.

use serde_json::{Value, json};
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine, order_body};

fn addr() -> Value {
    json!({"city": "Seoul", "country": "KR"})
}

fn items(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(|i| json!({"product_id": (i % 100) + 1, "quantity": 1}))
            .collect(),
    )
}

#[tokio::test]
async fn bad_order_bodies_get_a_clear_400_and_hold_nothing() {
    let shop = Shop::start(|_| {}).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "missing user_id",
            json!({"items": items(1), "shipping_address": addr()}),
            "missing_field",
        ),
        (
            "missing items",
            json!({"user_id": 1, "shipping_address": addr()}),
            "missing_field",
        ),
        (
            "missing address",
            json!({"user_id": 1, "items": items(1)}),
            "missing_field",
        ),
        (
            "user_id as string",
            json!({"user_id": "1", "items": items(1), "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "negative user_id",
            json!({"user_id": -4, "items": items(1), "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "empty items",
            json!({"user_id": 1, "items": [], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "items not an array",
            json!({"user_id": 1, "items": "many", "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "101 items",
            json!({"user_id": 1, "items": items(101), "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "zero quantity",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 0}], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "negative quantity",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": -1}], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "huge quantity",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 9_007_199_254_740_993_i64}], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "fractional quantity",
            json!({"user_id": 1, "items": [{"product_id": 1, "quantity": 1.5}], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "product_id as string",
            json!({"user_id": 1, "items": [{"product_id": "1", "quantity": 1}], "shipping_address": addr()}),
            "invalid_field",
        ),
        (
            "address as string",
            json!({"user_id": 1, "items": items(1), "shipping_address": "Seoul"}),
            "invalid_field",
        ),
        (
            "address without country",
            json!({"user_id": 1, "items": items(1), "shipping_address": {"city": "Seoul"}}),
            "invalid_field",
        ),
        ("body is an array", json!([1, 2]), "invalid_body"),
        (
            "unknown user",
            order_body(999_999, &[(1, 1)]),
            "user_not_found",
        ),
        (
            "unknown product",
            order_body(1, &[(1, 1), (4242, 1)]),
            "products_not_found",
        ),
    ];
    let before = shop.stock(1).await;
    for (name, body, code) in cases {
        let (status, err) = shop.post_order(&body).await;
        assert_eq!(status, 400, "{name}: {err}");
        assert_eq!(err["code"], code, "{name}: {err}");
        assert!(
            err["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {err}"
        );
        assert!(
            err["request_id"].as_str().is_some_and(|r| !r.is_empty()),
            "{name}: {err}"
        );
    }
    let (_, unknown_user) = shop.post_order(&order_body(999_999, &[(1, 1)])).await;
    assert_eq!(unknown_user["error"], "User not found: 999999");
    let (_, unknown_product) = shop.post_order(&order_body(1, &[(4242, 1)])).await;
    assert_eq!(unknown_product["error"], "Products not found: [4242]");

    assert_eq!(shop.order_count().await, 0, "no order was created");
    assert_eq!(shop.stock(1).await, before, "no stock is held");
    assert_eq!(shop.reservations_in("held").await, 0);
}

#[tokio::test]
async fn malformed_json_wrong_content_type_and_huge_bodies_are_refused() {
    let shop = Shop::start(|_| {}).await;
    let url = format!("{}/orders", shop.url(ServiceName::Order));
    let raw = |ct: &'static str, body: Vec<u8>| {
        shop.http
            .post(&url)
            .header("content-type", ct)
            .body(body)
            .send()
    };

    let r = raw(
        "application/json",
        b"{\"user_id\": 1, \"items\": [".to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json");

    let r = raw(
        "text/plain",
        order_body(1, &[(1, 1)]).to_string().into_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 415);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unsupported_media_type");
    assert!(body["request_id"].is_string());

    let mut big = order_body(1, &[(1, 1)]);
    big["shipping_address"]["note"] = Value::String("x".repeat(70 * 1024));
    let r = raw("application/json", big.to_string().into_bytes())
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");

    assert_eq!(shop.order_count().await, 0);
}

#[tokio::test]
async fn duplicate_products_are_merged_into_one_line() {
    let shop = Shop::start(|_| {}).await;
    let before = shop.stock(2).await;
    let (status, order) = shop.post_order(&order_body(4, &[(2, 1), (2, 2)])).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["items"], json!([{"product_id": 2, "quantity": 3}]));
    assert_eq!(shop.stock(2).await.0, before.0 - 3);
}

on_each_engine! {
    async fn unknown_routes_and_bad_path_ids_answer_json_errors(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let cases = [
            (ServiceName::Order, "/nope", 404),
            (ServiceName::User, "/users/abc", 400),
            (ServiceName::User, "/users/0", 400),
            (ServiceName::User, "/users/424242", 404),
            (ServiceName::Product, "/products/x1", 400),
            (ServiceName::Product, "/products/101", 404),
            (ServiceName::Inventory, "/inventory/-1", 400),
        ];
        for (s, path, want) in cases {
            let (status, body) = shop.get(s, path).await;
            assert_eq!(status, want, "{s} {path}: {body}");
            assert!(
                body["code"].is_string() && body["request_id"].is_string(),
                "{s} {path}: {body}"
            );
        }
    }
}
