//! `--console`: sampled traces are fetched from a Jaeger API and the server's root-span
//! durations are reported beside the client's latency.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tracemart_loadgen::execute;
use tracemart_loadgen::trace_join::{Difference, Percentiles, ServerSide};

use crate::helpers::{Recorder, args, refused_url, serve};

/// Root span duration the fake console reports for every known trace, in µs.
const ROOT_US: u64 = 2_000;

#[derive(Clone, Default)]
struct FakeConsole {
    asked: Arc<Mutex<Vec<String>>>,
    /// Answer 404 to every second request, as a console would for spans not yet exported.
    lose_every_other: bool,
}

/// `GET /api/traces/{id}`: a server span (child of the load generator's absent span) with a
/// shorter child; 404 for ids marked unknown.
async fn trace(State(console): State<FakeConsole>, Path(id): Path<String>) -> Response {
    let asked = {
        let mut asked = console.asked.lock().unwrap();
        asked.push(id.clone());
        asked.len()
    };
    if console.lose_every_other && asked % 2 == 0 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"data": null, "errors": [{"code": 404}]})),
        )
            .into_response();
    }
    Json(json!({"data": [{"traceID": id, "spans": [
        {"traceID": id, "spanID": "00000000000000b2", "operationName": "SELECT orders",
         "references": [{"refType": "CHILD_OF", "traceID": id, "spanID": "00000000000000a1"}],
         "startTime": 1_700_000_000_000_100_u64, "duration": 500, "processID": "p1"},
        {"traceID": id, "spanID": "00000000000000a1", "operationName": "POST /orders",
         "references": [{"refType": "CHILD_OF", "traceID": id, "spanID": "ffffffffffffffff"}],
         "startTime": 1_700_000_000_000_000_u64, "duration": ROOT_US, "processID": "p1"}
    ], "processes": {"p1": {"serviceName": "order-service"}}}], "errors": null}))
    .into_response()
}

async fn fake_console(lose_every_other: bool) -> (FakeConsole, String) {
    let console = FakeConsole {
        lose_every_other,
        ..FakeConsole::default()
    };
    let router = Router::new()
        .route("/api/traces/{id}", get(trace))
        .with_state(console.clone());
    (console.clone(), serve(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_latency_comes_from_the_root_spans_of_sampled_traces() {
    let (_shop, url) = Recorder::start().await;
    let (console, console_url) = fake_console(false).await;

    let report = execute(&args(&[
        &url,
        "--requests",
        "20",
        "--console",
        &console_url,
    ]))
    .await
    .unwrap();

    let Some(ServerSide::Joined {
        requested,
        found,
        server,
        client,
        difference,
        ..
    }) = report.server_side
    else {
        panic!("not joined: {:?}", report.server_side);
    };
    assert_eq!((requested, found), (20, 20));
    assert_eq!(
        server,
        Percentiles {
            p50_us: ROOT_US,
            p99_us: ROOT_US
        }
    );
    assert_eq!(
        difference,
        Difference {
            p50_us: client.p50_us as i64 - ROOT_US as i64,
            p99_us: client.p99_us as i64 - ROOT_US as i64,
        }
    );
    let asked: HashSet<String> = console.asked.lock().unwrap().iter().cloned().collect();
    let sampled: HashSet<String> = report.samples.iter().map(|s| s.trace_id.clone()).collect();
    assert_eq!(
        asked, sampled,
        "the console is asked for exactly the sampled traces"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_console_traces_are_fetched() {
    let (_shop, url) = Recorder::start().await;
    let (console, console_url) = fake_console(false).await;

    let report = execute(&args(&[
        &url,
        "--requests",
        "30",
        "--console",
        &console_url,
        "--console-traces",
        "5",
    ]))
    .await
    .unwrap();

    assert_eq!(console.asked.lock().unwrap().len(), 5);
    assert!(
        matches!(
            report.server_side,
            Some(ServerSide::Joined {
                requested: 5,
                found: 5,
                ..
            })
        ),
        "{:?}",
        report.server_side
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_the_console_does_not_have_are_left_out_of_the_join() {
    let (_shop, url) = Recorder::start().await;
    let (_console, console_url) = fake_console(true).await;

    let report = execute(&args(&[
        &url,
        "--requests",
        "10",
        "--console",
        &console_url,
    ]))
    .await
    .unwrap();

    let Some(ServerSide::Joined {
        requested,
        found,
        server,
        ..
    }) = report.server_side
    else {
        panic!("not joined: {:?}", report.server_side);
    };
    assert_eq!((requested, found), (10, 5));
    assert_eq!(server.p99_us, ROOT_US);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_console_is_reported_and_skipped_without_failing_the_run() {
    let (_shop, url) = Recorder::start().await;
    let console_url = refused_url().await;

    let report = execute(&args(&[&url, "--requests", "5", "--console", &console_url]))
        .await
        .unwrap();

    assert_eq!(report.exit_code, 0);
    match report.server_side {
        Some(ServerSide::Skipped { console, reason }) => {
            assert_eq!(console, console_url);
            assert!(reason.contains("unreachable"), "{reason}");
        }
        other => panic!("expected a skip, got {other:?}"),
    }
}
