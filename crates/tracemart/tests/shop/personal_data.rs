//! Personal data is its owner's: a user's record (their e-mail) and their orders (shipping
//! addresses) are read with that user's token or the operator's; the order service may read
//! users to check buyers. Anyone may still place an order and browse.

use std::time::Duration;

use serde_json::json;
use tracemart_platform::ServiceName;
use tracemart_platform::identity::{Principal, issue};

use crate::helpers::{Shop, on_each_engine, order_body};

on_each_engine! {
    async fn a_user_and_their_orders_are_read_with_their_own_token_only(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let (status, order) = shop.post_order(&order_body(5, &[(1, 1)])).await;
        assert_eq!(status, 201, "anyone may place an order: {order}");
        let id = order["order_id"].as_str().unwrap();
        let (own, other, admin) = (
            shop.user_token(5),
            shop.user_token(6),
            shop.token(Principal::Admin),
        );
        // Payment's key cannot vouch for a user.
        let payment = Principal::Service(ServiceName::Payment);
        let forged = issue(
            &shop.config.keys_dir(),
            payment,
            "user:5",
            Duration::from_secs(60),
        )
        .unwrap();

        for (service, path) in [
            (ServiceName::User, "/users/5".to_owned()),
            (ServiceName::Order, format!("/orders/{id}")),
            (ServiceName::Order, format!("/orders/{id}/events")),
            (ServiceName::Order, "/orders?user_id=5".to_owned()),
        ] {
            let (status, body) = shop.get_with(service, &path, None).await;
            assert_eq!(
                (status, &body["code"]),
                (401, &json!("unauthenticated")),
                "{path}: {body}"
            );
            let (status, body) = shop.get_with(service, &path, Some(&other)).await;
            assert_eq!(
                (status, &body["code"]),
                (403, &json!("forbidden")),
                "{path}: {body}"
            );
            let (status, body) = shop.get_with(service, &path, Some(&forged)).await;
            assert_eq!(status, 401, "{path} with a forged token: {body}");
            for token in [&own, &admin] {
                let (status, body) = shop.get_with(service, &path, Some(token)).await;
                assert_eq!(status, 200, "{path}: {body}");
            }
        }
        // The order service checks its buyers with its own token.
        let order_service = shop.token(Principal::Service(ServiceName::Order));
        let (status, body) = shop
            .get_with(ServiceName::User, "/users/6", Some(&order_service))
            .await;
        assert_eq!(status, 200, "{body}");
        // Browsing needs nothing.
        let (status, _) = shop
            .get_with(ServiceName::Product, "/products/1", None)
            .await;
        assert_eq!(status, 200);
    }
}

on_each_engine! {
    async fn a_registered_user_gets_a_token_that_reads_their_own_record_and_no_other(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let url = format!("{}/users", shop.url(ServiceName::User));
        let (status, registered) = shop
            .post_with(
                &url,
                None,
                &json!({"name": "Kim Jiwoo", "email": "jiwoo@example.kr"}),
            )
            .await;
        assert_eq!(status, 201, "{registered}");
        let token = registered["token"].as_str().expect("a token").to_owned();
        let me = registered["id"].as_i64().unwrap();

        let (status, read) = shop
            .get_with(ServiceName::User, &format!("/users/{me}"), Some(&token))
            .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["email"], "jiwoo@example.kr");
        let (status, _) = shop
            .get_with(ServiceName::User, "/users/1", Some(&token))
            .await;
        assert_eq!(status, 403);
    }
}

#[tokio::test]
async fn stock_and_money_move_only_at_the_order_services_word() {
    let shop = Shop::start(|_| {}).await;
    let (status, order) = shop.post_order(&order_body(5, &[(2, 1)])).await;
    assert_eq!(status, 201, "{order}");
    let reservation = order["reservation_id"].as_str().unwrap();
    let inventory = shop.url(ServiceName::Inventory);
    let payment = shop.token(Principal::Service(ServiceName::Payment));
    let admin = shop.token(Principal::Admin);
    let calls = [
        (
            format!("{inventory}/inventory/reservations/{reservation}/release"),
            json!({}),
        ),
        (
            format!("{inventory}/inventory/reservations/{reservation}/commit"),
            json!({}),
        ),
        (
            format!("{inventory}/inventory/reserve"),
            json!({"items": [{"product_id": 2, "quantity": 1}], "expires_in_minutes": 1440}),
        ),
        (
            format!("{}/products/batch", shop.url(ServiceName::Product)),
            json!({"product_ids": [1, 2]}),
        ),
        (
            format!("{}/payments", shop.url(ServiceName::Payment)),
            json!({"order_id": order["order_id"], "user_id": 5, "amount": 0.0, "currency": "USD"}),
        ),
    ];
    for (url, body) in &calls {
        let (status, answer) = shop.post_with(url, None, body).await;
        assert_eq!(status, 401, "{url} without a token: {answer}");
        let (status, answer) = shop.post_with(url, Some(&payment), body).await;
        let admin_allowed = url.ends_with("/batch") || url.ends_with("/payments");
        assert_eq!(status, 403, "{url} as payment: {answer}");
        if !admin_allowed {
            let (status, answer) = shop.post_with(url, Some(&admin), body).await;
            assert_eq!(status, 403, "{url} as the operator: {answer}");
        }
    }
    // A browser's cross-origin form post carries no token either.
    let release = &calls[0].0;
    let answer = shop
        .http
        .post(release)
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Nothing moved: the order's stock is still held, its saga confirms it as usual.
    let settled = shop.settled(order["order_id"].as_str().unwrap()).await;
    assert_eq!(settled["status"], "confirmed", "{settled}");
}
