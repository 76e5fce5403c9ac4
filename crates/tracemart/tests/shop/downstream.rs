//! A downstream that is down or slow gives 503 quickly, and no reservation stays held.

use std::time::{Duration, Instant};
use tracemart_testkit::net::black_hole;

use tokio::net::TcpListener;
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, order_body};

#[tokio::test]
async fn a_stopped_inventory_gives_503_and_nothing_is_held() {
    let mut shop = Shop::start(|_| {}).await;
    shop.stop(ServiceName::Inventory).await;

    let start = Instant::now();
    let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("inventory-service"),
        "{body}"
    );
    assert!(start.elapsed() < Duration::from_secs(2), "answered quickly");

    shop.assert_browsing_and_reading_work(5).await;

    shop.restart(ServiceName::Inventory).await;
    assert_eq!(shop.reservations_in("held").await, 0);
    assert_eq!(shop.order_count().await, 0);
}

#[tokio::test]
async fn a_user_service_that_never_answers_times_out_into_503() {
    let (url, _hole) = black_hole().await;
    let shop = Shop::start(|c| {
        c.user.url = url.clone();
        c.downstream_timeout_ms = 300;
    })
    .await;
    let start = Instant::now();
    let (status, body) = shop.post_order(&order_body(5, &[(1, 1)])).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("did not answer"),
        "{body}"
    );
    assert!(start.elapsed() < Duration::from_secs(3));
    assert_eq!(shop.reservations_in("held").await, 0);
}

#[tokio::test]
async fn an_inventory_that_times_out_after_reserving_is_compensated() {
    // Reserve through a proxy that forwards the request but swallows the answer: the
    // reservation is made, the order service times out, and must release it.
    let shop = Shop::start(|_| {}).await;
    let real = shop.url(ServiceName::Inventory);
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let http = reqwest::Client::new();
    let app = axum::Router::new()
        .route(
            "/inventory/reserve",
            axum::routing::post({
                let real = real.clone();
                let http = http.clone();
                move |body: axum::body::Bytes| async move {
                    let _ = http
                        .post(format!("{real}/inventory/reserve"))
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    std::future::pending::<()>().await;
                }
            }),
        )
        .fallback({
            let real = real.clone();
            move |req: axum::extract::Request| async move {
                let path = req.uri().path().to_owned();
                let r = http.post(format!("{real}{path}")).send().await.unwrap();
                (
                    axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap(),
                    r.text().await.unwrap(),
                )
            }
        });
    tokio::spawn(async move { axum::serve(proxy, app).await });

    let mut config = shop.config.clone();
    config.inventory.url = proxy_url;
    config.downstream_timeout_ms = 500;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let order_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        async move { tracemart_order::run(&config, listener, std::future::pending()).await },
    );
    tracemart_testkit::wait_ready(
        &shop.http,
        &format!("{order_url}/health/ready"),
        Duration::from_secs(10),
    )
    .await;

    let before = shop.stock(4).await;
    let sent = std::time::Instant::now();
    let (status, body) = tracemart_testkit::post_json(
        &shop.http,
        &format!("{order_url}/orders"),
        &order_body(5, &[(4, 2)]),
    )
    .await;
    let answered_after = sent.elapsed();
    assert_eq!(status, 503, "{body}");
    // The release waits in the outbox, not in the request: one timeout, not two.
    assert!(
        answered_after < Duration::from_millis(900),
        "answered after {answered_after:?}"
    );
    tracemart_testkit::eventually(
        crate::helpers::SAGA,
        "the release of the reservation",
        || async { (shop.stock(4).await == before).then_some(()) },
    )
    .await;
    assert_eq!(shop.reservations_in("held").await, 0);
}

#[tokio::test]
async fn the_bulkhead_lets_calls_to_a_slow_service_through_one_at_a_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A slow user service: the real one behind a proxy that takes 150 ms per request and
    // records how many requests it had at once.
    let mut shop = Shop::start(|c| c.downstream_concurrency = 1).await;
    let real = shop.url(ServiceName::User);
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = axum::Router::new().fallback({
        let (in_flight, most) = (in_flight.clone(), most.clone());
        let http = reqwest::Client::new();
        move |req: axum::extract::Request| async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            let mut forwarded = http.get(format!("{real}{}", req.uri().path()));
            if let Some(token) = req.headers().get("authorization") {
                forwarded = forwarded.header("authorization", token);
            }
            let r = forwarded.send().await.unwrap();
            let answer = (
                axum::http::StatusCode::from_u16(r.status().as_u16()).unwrap(),
                [("content-type", "application/json")],
                r.text().await.unwrap(),
            );
            in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    });
    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    shop.config.user.url = format!("http://{}", proxy.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(proxy, app).await });
    shop.restart(ServiceName::Order).await;

    let body = order_body(5, &[(1, 1)]);
    let start = Instant::now();
    let (a, b, c) = tokio::join!(
        shop.post_order(&body),
        shop.post_order(&body),
        shop.post_order(&body)
    );

    for (status, body) in [a, b, c] {
        assert_eq!(status, 201, "{body}");
    }
    assert_eq!(most.load(Ordering::SeqCst), 1, "one call at a time");
    assert!(
        start.elapsed() >= Duration::from_millis(450),
        "the three calls waited for each other"
    );
}
