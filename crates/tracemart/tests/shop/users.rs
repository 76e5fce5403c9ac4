//! The user service's own behaviour, on each engine it runs on: demo users, registrations
//! after them, an e-mail address taken once, and data that outlives a restart.

use serde_json::json;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine};

on_each_engine! {
    /// A registration gets the next id after the 1,000 demo users (never one of theirs), and
    /// an e-mail address already taken is refused with 409 whoever asks.
    async fn registrations_follow_the_demo_users_and_an_e_mail_address_is_taken_once(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        for (id, level) in [(1, "premium"), (3, "standard"), (7, "basic")] {
            let (status, user) = shop.get(ServiceName::User, &format!("/users/{id}")).await;
            assert_eq!(status, 200, "{user}");
            assert_eq!(user["membership_level"], level, "the seed's segment rule: {user}");
            assert_eq!(user["email"], format!("user{id}@example.com"));
        }
        let url = format!("{}/users", shop.url(ServiceName::User));

        let (status, first) = shop
            .post_with(&url, None, &json!({"name": "Park Minji", "email": "minji@example.kr"}))
            .await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(first["id"], 1001, "the next id after the demo users: {first}");
        assert_eq!(first["membership_level"], "standard", "the default level");

        let (status, again) = shop
            .post_with(&url, None, &json!({"name": "Someone Else", "email": "minji@example.kr"}))
            .await;
        assert_eq!((status, &again["code"]), (409, &json!("duplicate_email")), "{again}");
        let (status, taken) = shop
            .post_with(&url, None, &json!({"name": "Demo", "email": "user5@example.com"}))
            .await;
        assert_eq!((status, &taken["code"]), (409, &json!("duplicate_email")), "{taken}");

        let (status, second) = shop
            .post_with(&url, None, &json!({"name": "Choi Yuna", "email": "yuna@example.kr", "membership_level": "premium"}))
            .await;
        assert_eq!(status, 201, "{second}");
        assert!(second["id"].as_i64() > first["id"].as_i64(), "{second}");
        let (status, read) = shop
            .get(ServiceName::User, &format!("/users/{}", second["id"]))
            .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            (&read["name"], &read["email"], &read["membership_level"]),
            (&json!("Choi Yuna"), &json!("yuna@example.kr"), &json!("premium"))
        );
    }
}

on_each_engine! {
    /// Restarting the service on its database keeps registered users, migrates nothing twice
    /// and seeds no demo user again.
    async fn registered_users_outlive_a_restart_of_the_service(engine: Engine) {
        let mut shop = Shop::start_on(engine, |_| {}).await;
        let url = format!("{}/users", shop.url(ServiceName::User));
        let (status, registered) = shop
            .post_with(&url, None, &json!({"name": "Han Seo", "email": "seo@example.kr"}))
            .await;
        assert_eq!(status, 201, "{registered}");

        shop.restart(ServiceName::User).await;

        let path = format!("/users/{}", registered["id"]);
        let (status, read) = shop.get(ServiceName::User, &path).await;
        assert_eq!((status, &read["email"]), (200, &json!("seo@example.kr")), "{read}");
        let (status, next) = shop
            .post_with(&url, None, &json!({"name": "Yoon Ha", "email": "ha@example.kr"}))
            .await;
        assert_eq!(status, 201, "{next}");
        assert!(next["id"].as_i64() > registered["id"].as_i64(), "{next}");
        let (status, _) = shop.get(ServiceName::User, "/users/1001").await;
        assert_eq!(status, 200, "the registration, not a second demo seed");
    }
}
