//! The console from the terminal: `tracemart traces`, `tracemart trace ID` and `tracemart top`
//! against a running shop show what the console's API holds for it.

use std::process::Output;

use serde_json::Value;

use crate::helpers::{ORDER_PATH_SERVICES, Up};

/// Runs `tracemart ARGS --console URL` to completion, off the async runtime.
async fn tracemart(up: &Up, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tracemart"));
    cmd.args(args).arg("--console").arg(up.console_url());
    cmd.env_remove("TRACEMART_CONSOLE_URL");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn traces_trace_and_top_show_an_order_from_the_terminal() {
    let up = Up::start();
    let placed = up.order(7, 2, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    // Every service's spans are in before the commands read them.
    let trace = up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;

    // The search lists the order's trace, as the API does.
    let out = tracemart(&up, &["traces", "--service", "order-service", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = listed
        .iter()
        .find(|t| t["trace_id"] == placed.trace_id.as_str())
        .unwrap_or_else(|| panic!("{} not in {listed:?}", placed.trace_id));
    assert_eq!(ours["root_service"], "order-service");
    let table = stdout(&tracemart(&up, &["traces", "--service", "order-service"]).await);
    let row = table
        .lines()
        .find(|l| l.contains(&placed.trace_id))
        .unwrap_or_else(|| panic!("no row for {}:\n{table}", placed.trace_id));
    assert!(row.contains("order-service: POST /orders"), "{row}");

    // Nothing matched: its own exit code, and a line that says so.
    let none = tracemart(&up, &["traces", "--service", "no-such-service"]).await;
    assert_eq!(none.status.code(), Some(3), "{none:?}");
    assert_eq!(stdout(&none), "no trace matches\n");

    // The tree: one line per span (plus the header and log lines), children indented under
    // the order's root, its log lines under the spans that wrote them.
    let out = tracemart(&up, &["trace", &placed.trace_id]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let tree = stdout(&out);
    // Spans may still arrive (the saga's publish), never leave.
    let spans = trace.0["spans"].as_array().unwrap().len();
    let header = tree.lines().next().unwrap();
    let shown: usize = header
        .strip_prefix(&format!("trace {} · ", placed.trace_id))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{tree}"));
    assert!(
        shown >= spans,
        "{shown} spans shown, {spans} stored:\n{tree}"
    );
    let root = tree.lines().nth(1).unwrap();
    assert!(
        root.ends_with("  order-service  POST /orders (server)"),
        "{tree}"
    );
    for service in ORDER_PATH_SERVICES {
        assert!(
            tree.lines()
                .skip(2)
                .any(|l| l.contains(&format!("    {service}  "))),
            "{service} not indented under the root:\n{tree}"
        );
    }
    assert!(tree.contains("· INFO "), "no log line in the tree:\n{tree}");

    // A bad trace id is the console's 400, said plainly.
    let bad = tracemart(&up, &["trace", "not-hex"]).await;
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("the console refused"),
        "{bad:?}"
    );

    // top, once: every service of the order's path, with the requests it served.
    let out = tracemart(&up, &["top", "--once", "--window", "10m"]).await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let top = stdout(&out);
    for service in ORDER_PATH_SERVICES {
        let row = top
            .lines()
            .find(|l| l.starts_with(service))
            .unwrap_or_else(|| panic!("{service} missing:\n{top}"));
        let count: u64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(count >= 1, "{row}");
    }
}

#[tokio::test]
async fn without_a_console_the_commands_say_where_they_looked() {
    // A port nothing listens on.
    let port = tracemart_testkit::free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args([
            "top",
            "--once",
            "--console",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach the console at http://127.0.0.1:{port}"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn logs_filters_every_services_records_and_follows_new_ones() {
    let up = Up::start();
    let placed = up.order(7, 2, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;
    let id = placed.trace_id.as_str();

    // One trace's records, from every service it crossed, oldest first.
    let records = tracemart_testkit::eventually(
        crate::helpers::TELEMETRY_TIMEOUT,
        "the order's log records of every service on its path",
        || async {
            let out = tracemart(&up, &["logs", "--trace", id, "--json"]).await;
            let records: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
            ORDER_PATH_SERVICES
                .iter()
                .all(|s| records.iter().any(|r| r["service"] == *s))
                .then_some(records)
        },
    )
    .await;
    assert!(records.iter().all(|r| r["trace_id"] == id), "{records:?}");
    let times: Vec<i64> = records
        .iter()
        .map(|r| r["time"].as_i64().unwrap())
        .collect();
    assert!(times.is_sorted(), "{times:?}");

    // Service, level and text, each narrowing what comes back.
    let out = tracemart(&up, &["logs", "--service", "user-service", "--json"]).await;
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!records.is_empty());
    assert!(
        records.iter().all(|r| r["service"] == "user-service"),
        "{records:?}"
    );
    let out = tracemart(
        &up,
        &[
            "logs",
            "--grep",
            "REQUEST STARTED",
            "--limit",
            "2",
            "--json",
        ],
    )
    .await;
    let records: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        records.iter().all(|r| r["body"] == "Request started"),
        "{records:?}"
    );
    let out = tracemart(&up, &["logs", "--level", "error", "--trace", id, "--json"]).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "a created order logs no error: {out:?}"
    );
    let bad = tracemart(&up, &["logs", "--level", "loud"]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("level must be"),
        "{bad:?}"
    );

    // --follow prints what is stored after it started: the next order's records.
    let mut follow = tokio::process::Command::new(env!("CARGO_BIN_EXE_tracemart"))
        .args([
            "logs",
            "--follow",
            "--json",
            "--lookback",
            "10m",
            "--service",
            "order-service",
        ])
        .arg("--console")
        .arg(up.console_url())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(follow.stdout.take().unwrap()));
    // The first order's records come first: the next order is placed after that page.
    let first: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(first["service"], "order-service");
    let next = up.order(8, 2, 1).await;
    assert_eq!(next.status, 201, "{}", next.body);
    let found = tokio::time::timeout(crate::helpers::TELEMETRY_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let record: Value = serde_json::from_str(&line).unwrap();
            if record["trace_id"] == next.trace_id.as_str() {
                return record;
            }
        }
        panic!("--follow ended");
    })
    .await
    .expect("the next order's record within the deadline");
    assert_eq!(found["service"], "order-service");
    follow.kill().await.unwrap();
}
