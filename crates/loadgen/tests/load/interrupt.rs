//! Ending a run early (what Ctrl-C does): no new request starts, those in flight finish and
//! are counted, and the report says it covers only part of the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Notify;
use tracemart_loadgen::{EXIT_INTERRUPTED, Report, execute_until};

use crate::helpers::{args, serve};

/// How many requests the server sees before the test asks the run to stop.
const STOP_AFTER: u64 = 20;
/// Far longer than either run may take once it is told to stop.
const RUN_BOUND: Duration = Duration::from_secs(20);

/// A server that answers after 20 ms (so requests are in flight when the stop comes), counts
/// what it receives, and wakes the test after [`STOP_AFTER`] requests.
#[derive(Clone, Default)]
struct CountingServer {
    received: Arc<AtomicU64>,
    enough: Arc<Notify>,
}

impl CountingServer {
    async fn start() -> (Self, String) {
        async fn answer(State(server): State<CountingServer>) -> StatusCode {
            if server.received.fetch_add(1, Ordering::SeqCst) + 1 == STOP_AFTER {
                server.enough.notify_one();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            StatusCode::OK
        }
        let server = Self::default();
        let url = serve(Router::new().fallback(answer).with_state(server.clone())).await;
        (server, url)
    }

    /// Runs `tracemart load` with `flags`, asking it to stop once the server has seen
    /// [`STOP_AFTER`] requests.
    async fn run_until_enough(&self, flags: &[&str]) -> Report {
        let enough = self.enough.clone();
        let stop = async move { enough.notified().await };
        tokio::time::timeout(RUN_BOUND, execute_until(&args(flags), stop))
            .await
            .expect("the run did not end after it was told to stop")
            .unwrap()
    }
}

fn assert_ended_early_with_every_sent_request_answered(report: &Report, server: &CountingServer) {
    assert!(report.interrupted);
    assert_eq!(report.exit_code, EXIT_INTERRUPTED);
    let q = &report.requests;
    // The server's count includes the pre-flight probe.
    assert!(q.sent >= STOP_AFTER - 1, "{q:?}");
    // In-flight requests were waited for, not abandoned.
    assert_eq!(q.completed, q.sent, "{q:?}");
    assert_eq!(report.latency_us.count, q.sent);
    // The pre-flight probe is the one request the server saw that the report does not count.
    assert_eq!(server.received.load(Ordering::SeqCst), q.sent + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_closed_loop_run_reports_what_it_sent_with_nothing_left_in_flight() {
    let (server, url) = CountingServer::start().await;

    let report = server
        .run_until_enough(&[&url, "--duration", "10m", "--connections", "4"])
        .await;

    assert_ended_early_with_every_sent_request_answered(&report, &server);
    // Four clients stop after the request each has in flight.
    assert!(
        report.requests.sent < STOP_AFTER + 8,
        "{:?}",
        report.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_open_loop_run_schedules_nothing_more() {
    let (server, url) = CountingServer::start().await;

    // 100,000 requests at 200/s would take more than eight minutes.
    let report = server
        .run_until_enough(&[&url, "--rate", "200", "--requests", "100000"])
        .await;

    assert_ended_early_with_every_sent_request_answered(&report, &server);
    assert!(report.requests.scheduled < 1000, "{:?}", report.requests);
    assert_eq!(report.requests.dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_on_its_own_is_not_marked_interrupted() {
    let (server, url) = CountingServer::start().await;

    // The stop would come after 20 requests; the run is over after 10.
    let report = server
        .run_until_enough(&[&url, "--requests", "10", "--connections", "2"])
        .await;

    assert!(!report.interrupted);
    assert_eq!(report.exit_code, 0);
    assert_eq!(report.requests.sent, 10);
}
