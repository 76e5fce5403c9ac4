//! Open loop: requests leave on a timetable, and latency counts from the timetable, so a
//! server that queues cannot hide it (no coordinated omission).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Mutex;
use tracemart_loadgen::execute;

use crate::helpers::{args, fast_server, serve};

/// One request at a time, 50 ms each: at 50 req/s a queue must build up.
async fn stalled_server() -> String {
    async fn one_at_a_time(State(lock): State<Arc<Mutex<()>>>) -> StatusCode {
        let _only_me = lock.lock().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        StatusCode::OK
    }
    serve(
        Router::new()
            .fallback(one_at_a_time)
            .with_state(Arc::new(Mutex::new(()))),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_sends_rate_times_duration_requests_spread_over_the_duration() {
    let url = fast_server().await;

    let report = execute(&args(&[&url, "--rate", "200", "--duration", "1s"]))
        .await
        .unwrap();

    assert_eq!(report.mode, "open");
    assert_eq!(report.requests.scheduled, 200);
    assert_eq!(report.requests.sent + report.requests.dropped, 200);
    assert!(
        (190..=200).contains(&report.requests.completed),
        "{:?}",
        report.requests
    );
    assert!(
        (0.9..5.0).contains(&report.elapsed_s),
        "elapsed {}",
        report.elapsed_s
    );
    // Spread over the second, not sent in one burst.
    let first = report.samples.iter().map(|s| s.scheduled_at).min().unwrap();
    let last = report.samples.iter().map(|s| s.scheduled_at).max().unwrap();
    assert!(last - first >= 900_000, "due times span {}µs", last - first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_latency_counts_the_queue_of_a_stalled_server() {
    let url = stalled_server().await;

    // 25 requests due over 0.5 s; the server needs 1.25 s to serve them one by one.
    let report = execute(&args(&[&url, "--rate", "50", "--requests", "25"]))
        .await
        .unwrap();

    assert_eq!(report.requests.completed, 25);
    // Service time is 50 ms; the waiting in line must show on top of it.
    assert!(
        report.latency_us.p99 >= 200_000,
        "p99 {}µs hides the queue",
        report.latency_us.p99
    );
    assert!(
        report.latency_us.p50 >= 100_000,
        "p50 {}µs",
        report.latency_us.p50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_against_the_same_stall_sees_far_less_than_open_loop() {
    let url = stalled_server().await;

    let closed = execute(&args(&[&url, "--connections", "1", "--requests", "8"]))
        .await
        .unwrap();
    let open = execute(&args(&[&url, "--rate", "50", "--requests", "25"]))
        .await
        .unwrap();

    // The one closed-loop client waits for each answer, so it never sees a queue: this is
    // the coordinated omission the open loop exists to avoid.
    assert!(closed.latency_us.p99 >= 50_000);
    assert!(
        closed.latency_us.p99 < open.latency_us.p99,
        "closed {}µs vs open {}µs",
        closed.latency_us.p99,
        open.latency_us.p99
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_due_at_the_in_flight_cap_are_dropped_not_delayed() {
    let url = stalled_server().await;

    // At most 2 outstanding, 10 due within 0.1 s: most cannot be sent on time.
    let report = execute(&args(&[
        &url,
        "--rate",
        "100",
        "--requests",
        "10",
        "--max-in-flight",
        "2",
    ]))
    .await
    .unwrap();

    assert_eq!(report.requests.scheduled, 10);
    assert!(report.requests.dropped >= 5, "{:?}", report.requests);
    assert_eq!(report.requests.sent + report.requests.dropped, 10);
    assert_eq!(report.errors.dropped, report.requests.dropped);
}
