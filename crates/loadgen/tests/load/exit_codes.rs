//! The command's exit codes: 0 ok, 2 unusable target or arguments, 3 objective missed.

use std::time::Duration;

use tracemart_loadgen::{EXIT_OK, EXIT_SLO_MISSED, EXIT_UNUSABLE, LoadError, execute, run};

use crate::helpers::{args, fast_server, refused_url, slow_server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_latency_objective_exits_with_3() {
    let url = slow_server(Duration::from_millis(20)).await;

    let code = run(args(&[
        &url,
        "--requests",
        "5",
        "--connections",
        "1",
        "--slo",
        "p99=1ms",
    ]))
    .await
    .unwrap();

    assert_eq!(code, EXIT_SLO_MISSED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn met_objectives_exit_with_0() {
    let url = fast_server().await;

    let code = run(args(&[
        &url,
        "--requests",
        "5",
        "--slo",
        "p99=10s,error_rate=1%",
    ]))
    .await
    .unwrap();

    assert_eq!(code, EXIT_OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_error_rate_objective_exits_with_3() {
    let url = crate::helpers::serve(
        axum::Router::new().fallback(|| async { axum::http::StatusCode::SERVICE_UNAVAILABLE }),
    )
    .await;

    let report = execute(&args(&[&url, "--requests", "5", "--slo", "error_rate=50%"]))
        .await
        .unwrap();

    assert_eq!(report.exit_code, EXIT_SLO_MISSED);
    assert!(!report.slo_met);
    assert_eq!(report.slo[0].actual, 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_target_exits_with_2_and_names_the_url() {
    let url = refused_url().await;

    let error = execute(&args(&[&url, "--requests", "5"]))
        .await
        .unwrap_err();
    let code = run(args(&[&url, "--requests", "5"])).await.unwrap();

    assert_eq!(code, EXIT_UNUSABLE);
    assert!(matches!(error, LoadError::Unreachable { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_product_service_is_named_for_the_browse_scenario() {
    let shop = fast_server().await;
    let products = refused_url().await;

    let error = execute(&args(&[
        &shop,
        "--product-url",
        &products,
        "--scenario",
        "browse",
        "--requests",
        "3",
    ]))
    .await
    .unwrap_err();

    assert!(error.to_string().contains(&products), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_exit_with_2() {
    let code = run(args(&["http://127.0.0.1:1", "--rate", "0"]))
        .await
        .unwrap();

    assert_eq!(code, EXIT_UNUSABLE);
}
