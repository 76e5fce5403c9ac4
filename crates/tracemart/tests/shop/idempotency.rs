//! An `Idempotency-Key` whose request died with its process: on SQLite (one process per
//! database) the next process takes it over at once; on PostgreSQL, where several instances
//! share the keys, it is a lease, taken over once stale. A request still running keeps its
//! key until it ends.

use std::time::Duration;
use tracemart_testkit::net::black_hole;

use tracemart_platform::ServiceName;

use crate::helpers::{Engine, Shop, on_each_engine, order_body};

/// The status of `key`'s claim in the order service's database, if it has one.
async fn claim_status(shop: &Shop, key: &str) -> Option<String> {
    let rows: Vec<(String,)> = shop
        .rows_in(
            ServiceName::Order,
            &format!("SELECT status FROM idempotency_keys WHERE key = '{key}'"),
        )
        .await;
    rows.into_iter().next().map(|(status,)| status)
}

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_key_claimed_by_a_process_that_is_gone_is_taken_over_at_once_on_sqlite_and_once_stale_on_postgresql(engine: Engine) {
        // The user service never answers, so a request hangs after claiming its key.
        let (hole, _hole) = black_hole().await;
        let mut shop = Shop::start_on(engine, |c| {
            c.user.url = hole.clone();
            c.downstream_timeout_ms = 120_000;
        })
        .await;
        let url = format!("{}/orders", shop.url(ServiceName::Order));
        let body = order_body(3, &[(9, 2)]);
        let send = {
            let (http, url, body) = (shop.http.clone(), url.clone(), body.clone());
            move || {
                let (http, url, body) = (http.clone(), url.clone(), body.clone());
                async move {
                    http.post(url)
                        .header("Idempotency-Key", "checkout-3-crash")
                        .json(&body)
                        .send()
                        .await
                }
            }
        };
        let hung = tokio::spawn(send());
        tracemart_testkit::eventually(Duration::from_secs(10), "the key to be claimed", || async {
            (claim_status(&shop, "checkout-3-crash").await.as_deref() == Some("pending")).then_some(())
        })
        .await;

        // The process that holds the claim is still working on it: the same key waits.
        let meanwhile = send().await.unwrap();
        assert_eq!(meanwhile.status(), 409, "a request in flight keeps its key");

        // The order service stops with the request in flight (after its grace period the request
        // is dropped, its claim left pending) and starts again, now with a user service that answers.
        shop.config.user.url = String::new();
        shop.restart(ServiceName::Order).await;
        assert_eq!(
            claim_status(&shop, "checkout-3-crash").await.as_deref(),
            Some("pending"),
            "the claim outlived its process"
        );
        assert!(
            hung.await.unwrap().is_err(),
            "the first request died with its process"
        );

        if engine == Engine::Postgres {
            // Another instance may be running the request: the claim holds until it is stale...
            let refused = send().await.unwrap();
            assert_eq!(refused.status(), 409, "a claim of another instance is a lease");
            // ...as it is once its time has passed.
            shop.execute_in(
                ServiceName::Order,
                "UPDATE idempotency_keys SET created_at = '2026-01-01T00:00:00+00:00' WHERE key = 'checkout-3-crash'",
            )
            .await;
        }
        // On SQLite at once, not after the claim grows stale: the retry is processed.
        let retry = send().await.unwrap();
        assert_eq!(retry.status(), 201, "{:?}", retry.text().await);
        assert_eq!(shop.order_count().await, 1);
        let replay = send().await.unwrap();
        assert_eq!(replay.status(), 201, "the answer is kept for the key");
        assert_eq!(shop.order_count().await, 1);
    }
}
