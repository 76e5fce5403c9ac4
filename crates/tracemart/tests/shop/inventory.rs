//! Reservations: all or nothing, idempotent by id, and a release that arrives first wins.

use serde_json::json;
use tracemart_platform::ServiceName;

use crate::helpers::Shop;

#[tokio::test]
async fn a_reservation_replayed_under_its_id_holds_stock_once() {
    let shop = Shop::start(|_| {}).await;
    let url = format!("{}/inventory/reserve", shop.url(ServiceName::Inventory));
    let body = json!({"items": [{"product_id": 6, "quantity": 2}, {"product_id": 7, "quantity": 1}],
                      "expires_in_minutes": 15, "reservation_id": "res-replay-1"});
    let before = (shop.stock(6).await, shop.stock(7).await);

    let (s1, first) = shop.post_as_order(&url, &body).await;
    let (s2, again) = shop.post_as_order(&url, &body).await;

    assert_eq!((s1, s2), (200, 200), "{first} {again}");
    assert_eq!(again["reservation_id"], first["reservation_id"]);
    assert_eq!(again["items"], first["items"]);
    assert_eq!(shop.stock(6).await, (before.0.0 - 2, before.0.1 + 2));
    assert_eq!(shop.stock(7).await, (before.1.0 - 1, before.1.1 + 1));
}

#[tokio::test]
async fn a_release_that_arrives_before_its_reservation_refuses_it() {
    let shop = Shop::start(|_| {}).await;
    let base = shop.url(ServiceName::Inventory);
    let before = shop.stock(5).await;

    let (status, _) = shop
        .post_as_order(
            &format!("{base}/inventory/reservations/late-1/release"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = shop.post_as_order(&format!("{base}/inventory/reserve"),
        &json!({"items": [{"product_id": 5, "quantity": 1}], "expires_in_minutes": 15, "reservation_id": "late-1"}),
    )
    .await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "reservation_released");
    assert_eq!(shop.stock(5).await, before);
}

#[tokio::test]
async fn a_reservation_short_on_one_product_holds_none() {
    let shop = Shop::start(|c| c.demo_stock = 3).await;
    let (status, body) = shop.post_as_order(&format!("{}/inventory/reserve", shop.url(ServiceName::Inventory)),
        &json!({"items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 4}], "expires_in_minutes": 15}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "Insufficient stock for product 2");
    assert_eq!(shop.stock(1).await, (3, 0), "product 1 is not held either");
}
