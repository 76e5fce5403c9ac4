//! Closed loop: N clients, exactly `--requests` requests, every status counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use tracemart_loadgen::execute;

use crate::helpers::{args, serve};

/// Answers 201, 409, 503, 201, 409, 503, … in arrival order.
async fn rotating_statuses(State(counter): State<Arc<AtomicU64>>) -> StatusCode {
    match counter.fetch_add(1, Ordering::SeqCst) % 3 {
        0 => StatusCode::CREATED,
        1 => StatusCode::CONFLICT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_sends_exactly_the_requested_count_and_counts_each_status() {
    // Arrange
    let counter = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .fallback(rotating_statuses)
        .with_state(counter.clone());
    let url = serve(router).await;

    // Act
    let report = execute(&args(&[&url, "--requests", "30", "--connections", "4"]))
        .await
        .unwrap();

    // Assert: the pre-flight probe is the one request not in the report.
    assert_eq!(counter.load(Ordering::SeqCst), 31);
    assert_eq!(report.mode, "closed");
    assert_eq!(report.requests.sent, 30);
    assert_eq!(report.requests.completed, 30);
    assert_eq!(report.requests.ok, 10);
    assert_eq!(report.latency_us.count, 30);
    // The probe took slot 0 (201), so the run saw 10 × 409, then 10 × 503, then 10 × 201.
    let expected = BTreeMap::from([(201, 10), (409, 10), (503, 10)]);
    assert_eq!(report.status_counts, expected);
    assert_eq!(
        report.errors.by_status,
        BTreeMap::from([(409, 10), (503, 10)])
    );
    assert_eq!(report.errors.total, 20);
    assert!((report.error_rate - 20.0 / 30.0).abs() < 1e-9);
    assert_eq!(report.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_connections_than_requests_still_sends_exactly_the_requested_count() {
    let counter = Arc::new(AtomicU64::new(0));
    let router = Router::new()
        .fallback(rotating_statuses)
        .with_state(counter.clone());
    let url = serve(router).await;

    let report = execute(&args(&[&url, "--requests", "7", "--connections", "50"]))
        .await
        .unwrap();

    assert_eq!(report.requests.sent, 7);
    assert_eq!(counter.load(Ordering::SeqCst), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duration_bound_stops_the_closed_loop() {
    let url = crate::helpers::fast_server().await;

    let report = execute(&args(&[&url, "--duration", "300ms", "--connections", "2"]))
        .await
        .unwrap();

    assert!(report.requests.sent > 0);
    assert!(report.elapsed_s >= 0.3, "{}", report.elapsed_s);
    assert!(report.elapsed_s < 5.0, "{}", report.elapsed_s);
}
