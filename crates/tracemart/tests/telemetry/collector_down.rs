//! A collector that accepts connections and never answers must not slow or fail a request:
//! spans beyond the bounded queue are dropped, and counted.

use std::time::{Duration, Instant};

use tracemart_platform::ServiceName;

use crate::helpers::{Options, Shop, order_body, sample};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_collector_neither_slows_nor_fails_orders_and_drops_are_counted() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", hole.local_addr().unwrap());
    let _hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = hole.accept().await {
            held.push(sock);
        }
    });
    let shop = Shop::up_with(Options {
        export: false,
        env: vec![
            ("TRACEMART_OTLP_ENDPOINT", endpoint),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "32".to_owned()),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        ],
        ..Options::default()
    })
    .await;

    let start = Instant::now();
    for i in 0..20 {
        let answer = shop.post_order(&order_body(1 + i, &[(1, 1)])).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    // Twenty orders on a loaded CI machine; an export that blocked a request would take
    // the exporter's 10 s timeout for a single one.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "orders took {:?}",
        start.elapsed()
    );

    let scrape = shop.scrape(ServiceName::Order).await;
    let dropped = sample(&scrape, "otel_spans_dropped_total", &[]);
    assert!(
        dropped > 0.0,
        "about 300 spans for a queue of 32, none dropped?"
    );
}
