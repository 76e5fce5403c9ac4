//! `OTEL_SDK_DISABLED=true`: the shop works as before and exports nothing.

use tracemart_platform::ServiceName;

use crate::helpers::{Options, Shop, order_body, sample};

#[tokio::test]
async fn with_the_sdk_disabled_the_shop_works_and_nothing_is_exported() {
    let mut shop = Shop::up_with(Options {
        env: vec![("OTEL_SDK_DISABLED", "true".to_owned())],
        ..Options::default()
    })
    .await;

    let answer = shop.post_order(&order_body(7, &[(1, 1)])).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["order_id"].as_str().unwrap();
    assert_eq!(
        shop.get(ServiceName::Order, &format!("/orders/{id}"))
            .await
            .status,
        200
    );
    // Metrics and JSON logs stay.
    let scrape = shop.scrape(ServiceName::Order).await;
    assert_eq!(sample(&scrape, "orders_created_total", &[]), 1.0);
    let lines = shop
        .logs_until(ServiceName::Order, |l| {
            l["message"] == "Order created successfully"
        })
        .await;
    assert!(!lines.is_empty());

    // Stopping flushes whatever would have been queued: still nothing arrives.
    shop.stop().await;
    let r = shop.receiver();
    assert_eq!(
        (r.spans().len(), r.logs().len()),
        (0, 0),
        "exported with the SDK disabled"
    );
}
