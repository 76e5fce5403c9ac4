//! Reservations, on each engine inventory runs on: all or nothing, idempotent by id, a
//! release that arrives first wins, and the last units never sold twice.

use futures::future::join_all;
use serde_json::json;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine};

on_each_engine! {
    async fn a_reservation_replayed_under_its_id_holds_stock_once(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let url = format!("{}/inventory/reserve", shop.url(ServiceName::Inventory));
        let body = json!({"items": [{"product_id": 6, "quantity": 2}, {"product_id": 7, "quantity": 1}],
                          "expires_in_minutes": 15, "reservation_id": "res-replay-1"});
        let before = (shop.stock(6).await, shop.stock(7).await);

        let (s1, first) = shop.post_as_order(&url, &body).await;
        let (s2, again) = shop.post_as_order(&url, &body).await;

        assert_eq!((s1, s2), (200, 200), "{first} {again}");
        assert_eq!(again["reservation_id"], first["reservation_id"]);
        assert_eq!(again["items"], first["items"]);
        assert_eq!(again["expires_at"], first["expires_at"]);
        assert_eq!(shop.stock(6).await, (before.0.0 - 2, before.0.1 + 2));
        assert_eq!(shop.stock(7).await, (before.1.0 - 1, before.1.1 + 1));
    }
}

on_each_engine! {
    async fn a_release_that_arrives_before_its_reservation_refuses_it(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
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
}

on_each_engine! {
    async fn a_reservation_short_on_one_product_holds_none(engine: Engine) {
        let shop = Shop::start_on(engine, |c| c.demo_stock = 3).await;
        let (status, body) = shop.post_as_order(&format!("{}/inventory/reserve", shop.url(ServiceName::Inventory)),
            &json!({"items": [{"product_id": 1, "quantity": 2}, {"product_id": 2, "quantity": 4}], "expires_in_minutes": 15}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["error"], "Insufficient stock for product 2");
        assert_eq!(shop.stock(1).await, (3, 0), "product 1 is not held either");
    }
}

on_each_engine! {
    /// Thirty reservations race for the last four units: four hold, the others are refused
    /// as short, and the stock adds up.
    async fn reservations_racing_for_the_last_units_never_oversell(engine: Engine) {
        let shop = Shop::start_on(engine, |c| c.demo_stock = 4).await;
        let url = format!("{}/inventory/reserve", shop.url(ServiceName::Inventory));
        let races = (0..30).map(|i| {
            let (shop, url) = (&shop, &url);
            async move {
                let body = json!({"items": [{"product_id": 3, "quantity": 1}, {"product_id": 2, "quantity": 1}],
                                  "expires_in_minutes": 15, "reservation_id": format!("race-{i}")});
                shop.post_as_order(url, &body).await
            }
        });

        let answers = join_all(races).await;

        let held = answers.iter().filter(|(status, _)| *status == 200).count();
        let refused: Vec<_> = answers.iter().filter(|(status, _)| *status != 200).collect();
        assert_eq!(held, 4, "exactly the stock is held: {refused:?}");
        assert!(
            refused.iter().all(|(s, b)| *s == 409 && b["code"] == "insufficient_stock"),
            "{refused:?}"
        );
        assert_eq!(shop.stock(3).await, (0, 4));
        assert_eq!(shop.stock(2).await, (0, 4));
    }
}
