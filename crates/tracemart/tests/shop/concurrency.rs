//! Stock never goes negative, also when many orders race for the last units, and exactly
//! what was reserved is sold once the orders are paid.

use futures::future::join_all;

use crate::helpers::{Shop, on_each_engine, order_body};

on_each_engine! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thirty_two_orders_for_ten_units_leave_exactly_ten_sales_and_zero_stock(engine: Engine) {
        let shop = Shop::start_on(engine, |c| c.demo_stock = 10).await;
        let attempts = (0..32).map(|i| {
            let shop = &shop;
            async move { shop.post_order(&order_body(1 + i, &[(8, 1)])).await }
        });
        let results = join_all(attempts).await;

        let created = results.iter().filter(|(s, _)| *s == 201).count();
        let refused: Vec<_> = results.iter().filter(|(s, _)| *s != 201).collect();
        assert_eq!(created, 10, "exactly the stock is sold");
        assert!(
            refused
                .iter()
                .all(|(s, b)| *s == 409 && b["code"] == "insufficient_stock"),
            "{refused:?}"
        );
        assert_eq!(shop.order_count().await, 10);
        for (_, order) in results.iter().filter(|(s, _)| *s == 201) {
            let order = shop.settled(order["order_id"].as_str().unwrap()).await;
            assert_eq!(order["status"], "confirmed", "{order}");
        }
        assert_eq!(
            shop.stock(8).await,
            (0, 0),
            "nothing held once every order is paid"
        );
        assert_eq!(shop.committed(8).await, 10);
    }
}
