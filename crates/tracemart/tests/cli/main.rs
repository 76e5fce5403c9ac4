//! The `tracemart` command line: help, exit codes, and clear errors before anything runs.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn tracemart(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env_remove("TRACEMART_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    cmd.output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn every_command_has_help_that_names_its_flags() {
    let cases: [(&[&str], &[&str]); 6] = [
        (&["--help"], &["up", "serve", "console", "load", "assess"]),
        (
            &["up", "--help"],
            &[
                "--data-dir",
                "--otlp-endpoint",
                "--no-console",
                "--demo-stock",
            ],
        ),
        (&["serve", "--help"], &["order", "inventory", "--port"]),
        (
            &["console", "--help"],
            &["--ui-port", "--otlp-grpc-port", "--otlp-http-port"],
        ),
        (&["load", "--help"], &["--rate", "--connections", "--slo"]),
        (
            &["assess", "--help"],
            &["--answers", "--format", "--fail-under"],
        ),
    ];
    for (args, wanted) in cases {
        let out = tracemart(args, &[]);
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for w in wanted {
            assert!(text.contains(w), "{args:?} help lacks {w}:\n{text}");
        }
    }
}

#[test]
fn a_bad_configuration_value_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = tracemart(
        &["up", "--data-dir", &data],
        &[("TRACEMART_DEMO_STOCK", "lots".into())],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("TRACEMART_DEMO_STOCK"),
        "{}",
        stderr(&out)
    );

    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "no_such_key = 1\n").unwrap();
    let out = tracemart(
        &["serve", "user", "--config", &config.display().to_string()],
        &[],
    );
    assert_eq!(out.status.code(), Some(64));
    assert!(stderr(&out).contains("no_such_key"), "{}", stderr(&out));

    let out = tracemart(&["up", "--data-dir", &data, "--demo-stock=-5"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
}

#[test]
fn up_fails_at_once_when_a_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<(&str, String)> = vec![
        ("TRACEMART_ORDER_PORT", port.to_string()),
        (
            "TRACEMART_USER_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_PRODUCT_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_INVENTORY_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
        (
            "TRACEMART_PAYMENT_PORT",
            tracemart_testkit::free_port().to_string(),
        ),
    ];
    let start = Instant::now();
    let out = tracemart(
        &[
            "up",
            "--no-console",
            "--data-dir",
            &dir.path().display().to_string(),
        ],
        &ports,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("order exited during start-up") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "not after the 30 s readiness timeout"
    );
    drop(taken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_ends_a_load_run_early_and_still_prints_its_report() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let router = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let load = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args(["load", &url, "--duration", "10m", "--connections", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tracemart_testkit::eventually(Duration::from_secs(20), "load requests", || async {
        (received.load(Ordering::SeqCst) > 50).then_some(())
    })
    .await;

    let pid = i32::try_from(load.id().unwrap()).unwrap();
    kill(Pid::from_raw(pid), Signal::SIGINT).unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), load.wait_with_output())
        .await
        .expect("load still running 20 s after Ctrl-C")
        .unwrap();

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("interrupted: ended early by Ctrl-C"),
        "{stdout}"
    );
    assert!(stdout.contains("latency"), "no report table in:\n{stdout}");
    assert!(stderr(&out).contains("stopping"), "{}", stderr(&out));
}
