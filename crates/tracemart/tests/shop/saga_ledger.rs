//! The books balance after a few hundred mixed orders (some declined by amount), once every
//! saga settled: no unit of stock is lost, held or sold twice, and the `orders` table rebuilt
//! from the event streams equals the live one.

use std::collections::HashMap;

use futures::StreamExt;
use serde_json::Value;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine, order_body};

const ORDERS: usize = 240;
const PRODUCTS: i64 = 12;
const STOCK: i64 = 100_000;

/// The `orders` table, row by row, as text (in SQL both engines read alike).
async fn orders_table(shop: &Shop) -> Vec<String> {
    let rows: Vec<(String,)> = shop
        .rows_in(
            ServiceName::Order,
            "SELECT id || '|' || CAST(user_id AS TEXT) || '|' || status || '|' || CAST(total_minor AS TEXT) \
             || '|' || currency || '|' || items || '|' || shipping_address || '|' || reservation_id \
             || '|' || created_at || '|' || updated_at || '|' || COALESCE(status_changed_at, '-') \
             || '|' || COALESCE(cancellation_reason, '-') || '|' || COALESCE(payment_id, '-') \
             || '|' || COALESCE(reservation_expires_at, '-') FROM orders ORDER BY id",
        )
        .await;
    rows.into_iter().map(|(r,)| r).collect()
}

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn stock_adds_up_after_hundreds_of_mixed_orders_and_the_read_model_rebuilds_identically(engine: Engine) {
        let shop = Shop::start_on(engine, |c| {
            c.demo_stock = STOCK;
            // Orders of a few units of one or two products: roughly a third are declined.
            c.payment_decline_over = 120.0;
        })
        .await;
        let bodies: Vec<Value> = tracemart_testkit::mixed_baskets(ORDERS, PRODUCTS)
            .iter()
            .enumerate()
            .map(|(i, items)| order_body(1 + i as i64, items))
            .collect();

        let placed: Vec<(u16, Value)> = futures::stream::iter(bodies.iter())
            .map(|b| shop.post_order(b))
            .buffer_unordered(16)
            .collect()
            .await;
        assert!(
            placed.iter().all(|(s, _)| *s == 201),
            "every order accepted"
        );
        let mut sold: HashMap<i64, i64> = HashMap::new();
        let (mut confirmed, mut cancelled) = (0, 0);
        for (_, order) in &placed {
            let settled = shop.settled(order["order_id"].as_str().unwrap()).await;
            match settled["status"].as_str().unwrap() {
                "confirmed" => {
                    confirmed += 1;
                    for item in settled["items"].as_array().unwrap() {
                        *sold
                            .entry(item["product_id"].as_i64().unwrap())
                            .or_default() += item["quantity"].as_i64().unwrap();
                    }
                }
                _ => {
                    cancelled += 1;
                    assert_eq!(
                        settled["cancellation_reason"], "payment_declined",
                        "{settled}"
                    );
                }
            }
        }
        assert!(
            confirmed > 0 && cancelled > 0,
            "{confirmed} confirmed, {cancelled} cancelled"
        );

        for product in 1..=PRODUCTS {
            let (available, reserved) = shop.stock(product).await;
            let committed = shop.committed(product).await;
            let want = sold.get(&product).copied().unwrap_or(0);
            assert_eq!(
                reserved, 0,
                "product {product}: nothing held once every saga settled"
            );
            assert_eq!(
                committed, want,
                "product {product}: sold = confirmed quantities"
            );
            assert_eq!(
                available + reserved + committed,
                STOCK,
                "product {product}: no unit lost"
            );
        }
        assert_eq!(shop.reservations_in("held").await, 0);
        assert_eq!(shop.reservations_in("released").await, cancelled);

        let live = orders_table(&shop).await;
        let rebuilt = tracemart_order::rebuild_orders(&shop.config).await.unwrap();
        assert_eq!((rebuilt.orders, rebuilt.corrected), (ORDERS, 0));
        assert_eq!(
            orders_table(&shop).await,
            live,
            "rebuilt from the streams: the same table"
        );

        // A row that drifted from its stream is put right.
        shop.execute_in(
            ServiceName::Order,
            "UPDATE orders SET status = 'created', cancellation_reason = NULL WHERE id = (SELECT MIN(id) FROM orders)",
        )
        .await;
        let rebuilt = tracemart_order::rebuild_orders(&shop.config).await.unwrap();
        assert_eq!(rebuilt.corrected, 1);
        assert_eq!(orders_table(&shop).await, live);
    }
}
