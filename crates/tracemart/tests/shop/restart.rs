//! Nothing is lost when a service restarts.

use tracemart_platform::ServiceName;

use crate::helpers::{Shop, order_body};

#[tokio::test]
async fn an_order_written_before_a_restart_is_readable_after_it() {
    let mut shop = Shop::start(|_| {}).await;
    let (status, order) = shop.post_order(&order_body(21, &[(10, 1)])).await;
    assert_eq!(status, 201);
    shop.settled(order["order_id"].as_str().unwrap()).await;
    let stock = shop.stock(10).await;

    shop.restart(ServiceName::Order).await;
    shop.restart(ServiceName::Inventory).await;

    let (status, read) = shop
        .get(
            ServiceName::Order,
            &format!("/orders/{}", order["order_id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(status, 200);
    crate::orders::assert_same_order(&read, &order);
    assert_eq!(
        shop.stock(10).await,
        stock,
        "demo data is seeded only once; holds survive"
    );
}
