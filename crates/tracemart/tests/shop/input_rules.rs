//! What each service accepts, beyond the order body (`validation.rs`): currencies, amounts,
//! e-mail addresses, the shape of a body, integers written as whole floats, and the JSON error
//! body for whatever an extractor rejects (a query, a path, a body).

use serde_json::{Value, json};
use tracemart_platform::ServiceName;
use tracemart_platform::identity::Principal;

use crate::helpers::{Shop, on_each_engine, order_body};

/// `POST` `body` to `path` of `s` as the order service (which may call every endpoint here):
/// the status and the JSON answer.
async fn post(shop: &Shop, s: ServiceName, path: &str, body: &Value) -> (u16, Value) {
    let token = shop.token(Principal::Service(ServiceName::Order));
    shop.post_with(&format!("{}{path}", shop.url(s)), Some(&token), body)
        .await
}

/// A refusal with the shop's error body: `status`, `code`, a message and the request id.
#[track_caller]
fn assert_refused(answer: &(u16, Value), status: u16, code: &str, case: &str) {
    let (got, body) = answer;
    assert_eq!(
        (*got, body["code"].as_str()),
        (status, Some(code)),
        "{case}: {body}"
    );
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()) && body["request_id"].is_string(),
        "{case}: {body}"
    );
}

#[tokio::test]
async fn payments_take_only_usd_and_amounts_of_whole_positive_cents() {
    let shop = Shop::start(|_| {}).await;
    let (status, order) = shop.post_order(&order_body(4, &[(2, 1)])).await;
    assert_eq!(status, 201, "{order}");
    let id = order["order_id"].as_str().unwrap();
    shop.settled(id).await;
    let total = order["total_amount"].as_f64().unwrap();
    let pay = |order_id: &str, amount: Value, currency: &str| json!({"order_id": order_id, "user_id": 4, "amount": amount, "currency": currency});

    // The shop's one currency is USD: neither a symbol, nor lower case, nor another code.
    for currency in ["€", "usd", "XXX", "EUR", "US", ""] {
        let answer = post(
            &shop,
            ServiceName::Payment,
            "/payments",
            &pay(id, json!(total), currency),
        )
        .await;
        assert_refused(&answer, 400, "invalid_field", currency);
    }
    // An amount is a positive whole number of cents.
    for amount in [
        json!(0),
        json!(0.0),
        json!(1e-300),
        json!(-1.0),
        json!(0.015),
        json!(1e13),
    ] {
        let answer = post(
            &shop,
            ServiceName::Payment,
            "/payments",
            &pay(id, amount.clone(), "USD"),
        )
        .await;
        assert_refused(&answer, 400, "invalid_field", &amount.to_string());
    }
    // Checked before the order is looked up: an unknown order with a bad currency is a 400.
    let unknown = uuid::Uuid::new_v4().to_string();
    let answer = post(
        &shop,
        ServiceName::Payment,
        "/payments",
        &pay(&unknown, json!(1), "€"),
    )
    .await;
    assert_refused(&answer, 400, "invalid_field", "unknown order, bad currency");
    let answer = post(
        &shop,
        ServiceName::Payment,
        "/payments",
        &pay("order-7", json!(1), "USD"),
    )
    .await;
    assert_refused(&answer, 400, "invalid_field", "an order id that is no UUID");

    // A replay of the payment with another amount is refused, not answered with the first.
    let cent_more = ((total * 100.0).round() + 1.0) / 100.0;
    let other = post(
        &shop,
        ServiceName::Payment,
        "/payments",
        &pay(id, json!(cent_more), "USD"),
    )
    .await;
    assert_refused(&other, 422, "payment_mismatch", "another amount");
    let (status, payment) = post(
        &shop,
        ServiceName::Payment,
        "/payments",
        &pay(id, json!(total), "USD"),
    )
    .await;
    assert_eq!(
        (status, payment["status"].as_str()),
        (200, Some("authorized")),
        "{payment}"
    );
}

on_each_engine! {
    async fn users_register_only_with_an_e_mail_address_of_the_usual_form(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let user = |name: &str, email: &str| json!({"name": name, "email": email});

        for email in [
            "not-an-email@@example.com",
            "two@at@example.com",
            "no-at-sign.example.com",
            "@example.com",
            "kim@localhost",
            "kim@example..com",
            "kim@.example.com",
            "ki m@example.com",
            " kim@example.com",
            "kim@example.com\n",
            "\"kim\"@example.com",
            "kim@[127.0.0.1]",
        ] {
            let answer = post(&shop, ServiceName::User, "/users", &user("Kim", email)).await;
            assert_refused(&answer, 400, "invalid_field", email);
        }
        for name in ["", "   ", "Kim\u{0}", "a\tb", &"x".repeat(101)] {
            let answer = post(
                &shop,
                ServiceName::User,
                "/users",
                &user(name, "kim@example.com"),
            )
            .await;
            assert_refused(&answer, 400, "invalid_field", &format!("name {name:?}"));
        }

        // Lengths are characters, not bytes: 100 of `é` is a name.
        let (status, created) = post(
            &shop,
            ServiceName::User,
            "/users",
            &json!({"name": "é".repeat(100), "email": "kim.lee+shop@mail.example.co.kr", "membership_level": "premium"}),
        )
        .await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(created["email"], "kim.lee+shop@mail.example.co.kr");
        let level = json!({"name": "Lee", "email": "lee@example.com", "membership_level": "gold"});
        let answer = post(&shop, ServiceName::User, "/users", &level).await;
        assert_refused(&answer, 400, "invalid_body", "an unknown membership level");
    }
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_by_every_service() {
    let shop = Shop::start(|_| {}).await;
    for (s, path) in [
        (ServiceName::Product, "/products/batch"),
        (ServiceName::User, "/users"),
        (ServiceName::Inventory, "/inventory/reserve"),
        (ServiceName::Payment, "/payments"),
        (ServiceName::Order, "/orders"),
    ] {
        for body in [
            json!([[]]),
            json!([[1, 2]]),
            json!([]),
            json!(7),
            json!("x"),
            Value::Null,
        ] {
            let answer = post(&shop, s, path, &body).await;
            assert_refused(&answer, 400, "invalid_body", &format!("{s} {path} {body}"));
        }
    }
}

on_each_engine! {
    async fn integers_written_as_whole_floats_are_the_integers_they_spell(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;

        let (status, found) = post(
            &shop,
            ServiceName::Product,
            "/products/batch",
            &json!({"product_ids": [2.0, 1, 1.5e1]}),
        )
        .await;
        assert_eq!(status, 200, "{found}");
        let ids: Vec<i64> = found
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 15]);

        let mut body = order_body(3, &[(1, 1)]);
        body["user_id"] = json!(3.0);
        body["items"] = json!([{"product_id": 1.0, "quantity": 2.0}]);
        let (status, order) = shop.post_order(&body).await;
        assert_eq!(status, 201, "{order}");
        assert_eq!(order["items"], json!([{"product_id": 1, "quantity": 2}]));

        for ids in [json!([1.5]), json!([0]), json!([-3]), json!(["1"])] {
            let answer = post(
                &shop,
                ServiceName::Product,
                "/products/batch",
                &json!({"product_ids": ids}),
            )
            .await;
            assert_refused(&answer, 400, "invalid_body", &ids.to_string());
        }
    }
}

#[tokio::test]
async fn what_an_extractor_rejects_is_answered_with_the_json_error_body() {
    let shop = Shop::start(|_| {}).await;
    for (s, path, code) in [
        (
            ServiceName::Order,
            "/orders?user_id=1&user_id=2",
            "invalid_query",
        ),
        (
            ServiceName::Order,
            "/orders?user_id=1&limit=x",
            "invalid_query",
        ),
        (
            ServiceName::Product,
            "/products?limit=1&limit=2",
            "invalid_query",
        ),
        (ServiceName::Product, "/products?offset=-1", "invalid_query"),
        (ServiceName::User, "/users/%FF", "invalid_id"),
        (ServiceName::Order, "/orders/%FF%FE", "invalid_id"),
        (
            ServiceName::Order,
            "/orders/6ad81ef36c4c4b0fa0b2f0d2a1b6c3d4",
            "invalid_id",
        ),
        (ServiceName::Inventory, "/inventory/1.0", "invalid_id"),
    ] {
        let resp = shop
            .http
            .get(format!("{}{path}", shop.url(s)))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(content_type, "application/json", "{s} {path}: {body}");
        assert_refused(&(status, body), 400, code, &format!("{s} {path}"));
    }
    let path = "/inventory/reservations/not%20an%20id/release";
    let answer = post(&shop, ServiceName::Inventory, path, &json!({})).await;
    assert_refused(&answer, 400, "invalid_id", "a reservation id with spaces");
}
