//! The product service's own behaviour, on each engine it runs on: pages of the catalogue
//! with their totals, a category, a batch of ids, and prices from the catalogue.

use serde_json::{Value, json};
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine};

/// The ids of a list of products.
fn ids(products: &Value) -> Vec<i64> {
    products
        .as_array()
        .expect("an array of products")
        .iter()
        .map(|p| p["id"].as_i64().expect("an id"))
        .collect()
}

on_each_engine! {
    /// Pages come in id order with the total of what matches; a category narrows both; a page
    /// past the end is empty but still counts.
    async fn the_catalogue_pages_in_id_order_with_the_total_of_its_filter(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        for (query, expected_ids, total) in [
            ("limit=3", vec![1, 2, 3], 100),
            ("limit=3&offset=98", vec![99, 100], 100),
            ("offset=100", vec![], 100),
            ("category=books&limit=4", vec![5, 10, 15, 20], 20),
            ("category=toys&limit=2&offset=19", vec![99], 20),
            ("category=nothing", vec![], 0),
            ("limit=0", vec![], 100),
        ] {
            let (status, page) = shop.get(ServiceName::Product, &format!("/products?{query}")).await;
            assert_eq!(status, 200, "{query}: {page}");
            assert_eq!(ids(&page["products"]), expected_ids, "{query}");
            assert_eq!(page["total"], total, "{query}");
        }
        let (_, page) = shop.get(ServiceName::Product, "/products?category=books&limit=1").await;
        assert_eq!(
            page["products"][0],
            json!({"id": 5, "name": "Demo books item 5", "category": "books",
                   "price": 20.94, "currency": "USD"}),
            "the demo price of product 5: 499 + (5 * 7919) % 9500 cents"
        );
    }
}

on_each_engine! {
    /// A batch answers the products that exist, each once, in id order, with the prices a
    /// single read shows.
    async fn a_batch_answers_the_products_that_exist_in_id_order(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        let url = format!("{}/products/batch", shop.url(ServiceName::Product));
        let (status, found) = shop
            .post_as_order(&url, &json!({"product_ids": [42, 3, 999, 7, 3, 100, 101]}))
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(ids(&found), [3, 7, 42, 100]);
        for product in found.as_array().unwrap() {
            let (status, one) = shop
                .get(ServiceName::Product, &format!("/products/{}", product["id"]))
                .await;
            assert_eq!(status, 200, "{one}");
            assert_eq!(&one, product);
        }
        let (status, none) = shop
            .post_as_order(&url, &json!({"product_ids": [500, 501]}))
            .await;
        assert_eq!((status, none), (200, json!([])));
    }
}
