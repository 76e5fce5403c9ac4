//! The shop's processes under `up`: `tracemart ps|stop|start|restart` and the console's
//! `/api/processes` against a running `up`, the operator's token they need, what they say
//! when nothing runs; and the console's token for clients beyond loopback.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{ORDER_PATH_SERVICES, Up};

fn tracemart(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TRACEMART_") || k.starts_with("OTEL_") {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.args(args).output().expect("run tracemart")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `tracemart <action> <process>` against `up`'s data directory; its standard output.
fn cli(up: &Up, args: &[&str]) -> String {
    let data = up.data_dir.path().join("data");
    let data = data.to_str().expect("a UTF-8 path");
    let out = tracemart(&[args, &["--data-dir", data]].concat());
    assert!(
        out.status.success(),
        "tracemart {args:?}: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

async fn process(up: &Up, name: &str) -> Value {
    let (status, body) = up.console_get("/api/processes?lines=5").await;
    assert_eq!(status, 200, "{body}");
    body["processes"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

async fn port_open(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

#[tokio::test]
async fn a_service_is_stopped_started_and_restarted_and_stays_stopped_until_started() {
    let up = Up::start();
    let ps = cli(&up, &["ps"]);
    // In the order `up` starts them: the console first, order (which calls the others) last.
    let children = [
        "console",
        "user",
        "product",
        "inventory",
        "payment",
        "order",
    ];
    let names: Vec<&str> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, children, "{ps}");
    for name in children {
        let line = ps
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in `tracemart ps`:\n{ps}"));
        assert!(line.contains("ready"), "{line}");
    }
    let before = process(&up, "order").await;
    assert_eq!(before["state"], "ready", "{before}");
    assert!(
        before["log"].as_array().is_some_and(|l| !l.is_empty()),
        "{before}"
    );

    let stopped = cli(&up, &["stop", "order"]);
    assert_eq!(stopped.trim(), "order: stopped");
    let row = process(&up, "order").await;
    assert_eq!(
        (row["state"].as_str(), row["pid"].as_u64()),
        (Some("stopped"), None)
    );
    assert!(
        !port_open(up.ports.order).await,
        "order's port still answers"
    );
    // The crash loop does not bring it back: still stopped for another command.
    let ps = cli(&up, &["ps"]);
    let line = ps
        .lines()
        .find(|l| l.starts_with("order"))
        .unwrap_or_default();
    assert!(line.contains("stopped"), "{ps}");
    assert!(
        !port_open(up.ports.order).await,
        "order's port answers again"
    );

    let started = cli(&up, &["start", "order"]);
    assert!(started.starts_with("order: ready, pid "), "{started}");
    assert!(port_open(up.ports.order).await);
    let placed = up.order(7, 5, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let row = process(&up, "order").await;
    assert_ne!(row["pid"], before["pid"]);
    assert_eq!(row["restarts"], 0, "a start after a stop is not a restart");

    // A restart through the console, as the page does it, with the operator's token.
    let product = process(&up, "product").await;
    let url = format!("{}/api/processes/product/restart", up.console_url());
    let restarted: Value = up
        .http
        .post(&url)
        .bearer_auth(up.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(restarted["state"], "ready", "{restarted}");
    assert_eq!(restarted["restarts"], 1, "{restarted}");
    assert_ne!(restarted["pid"], product["pid"]);
}

#[tokio::test]
async fn actions_without_the_operators_token_are_refused() {
    let up = Up::start();
    let url = format!("{}/api/processes/payment/stop", up.console_url());
    let anonymous = up.http.post(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let user = {
        use tracemart_platform::ServiceName;
        use tracemart_platform::identity::{Principal, issue};
        let keys = up.data_dir.path().join("data/keys");
        issue(
            &keys,
            Principal::Service(ServiceName::User),
            "user:7",
            Duration::from_secs(60),
        )
        .unwrap()
    };
    let as_user = up.http.post(&url).bearer_auth(user).send().await.unwrap();
    assert_eq!(as_user.status(), 403);
    let body: Value = as_user.json().await.unwrap();
    assert!(
        body["errors"][0]["msg"]
            .as_str()
            .is_some_and(|m| m.contains("not allowed")),
        "{body}"
    );
    let unknown = up
        .http
        .post(format!("{}/api/processes/nope/stop", up.console_url()))
        .bearer_auth(up.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(process(&up, "payment").await["state"], "ready");
    assert!(port_open(up.ports.payment).await);
}

#[tokio::test]
async fn the_console_restarts_itself_when_asked_without_waiting() {
    let up = Up::start();
    let before = process(&up, "console").await;
    let url = format!(
        "{}/api/processes/console/restart?wait=false",
        up.console_url()
    );
    let asked = up
        .http
        .post(&url)
        .bearer_auth(up.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    // Back, as a new process, once `up` has restarted it.
    let data = up.data_dir.path().join("data");
    let data = data.to_str().expect("a UTF-8 path");
    tracemart_testkit::eventually(Duration::from_secs(30), "the console back", || async {
        let out = tracemart(&["ps", "--json", "--data-dir", data]);
        let body: Value = serde_json::from_slice(&out.stdout).ok()?;
        let console = body["processes"]
            .as_array()?
            .iter()
            .find(|p| p["name"] == "console")?
            .clone();
        (console["state"] == "ready" && console["restarts"] == 1 && console["pid"] != before["pid"])
            .then_some(())
    })
    .await;
    let (status, _) = up.console_get("/api/services").await;
    assert_eq!(status, 200);
}

#[test]
fn process_commands_refuse_bad_arguments_and_say_when_no_shop_runs() {
    let bad = tracemart(&["stop", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    let why = text(&bad.stderr);
    assert!(
        why.contains("invalid value 'nope'") && why.contains("console"),
        "{why}"
    );
    assert_eq!(tracemart(&["restart"]).status.code(), Some(2));

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let none = tracemart(&["ps", "--data-dir", data]);
    assert_eq!(none.status.code(), Some(1));
    assert!(
        text(&none.stderr).contains("no shop is running"),
        "{}",
        text(&none.stderr)
    );

    // An `up` that is gone without removing its file: a port nothing listens on.
    let port = tracemart_testkit::free_port();
    std::fs::write(
        dir.path().join("up.json"),
        format!(r#"{{"control_url":"http://127.0.0.1:{port}","pid":1}}"#),
    )
    .unwrap();
    let gone = tracemart(&["stop", "order", "--data-dir", data]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        text(&gone.stderr).contains("cannot reach `tracemart up`"),
        "{}",
        text(&gone.stderr)
    );
}

#[tokio::test]
async fn beyond_loopback_the_console_wants_the_operators_token() {
    let Some(ip) = tracemart_testkit::net::outward_address() else {
        eprintln!("skipped: this machine has no address but loopback to call from");
        return;
    };
    let up = Up::start_with(&[("TRACEMART_HOST", "0.0.0.0")]);
    let link = up
        .banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("access"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no access link in the banner:\n{}", up.banner.join("\n")));
    let token = link.split("?token=").nth(1).expect("a token in the link");
    let remote = format!("http://{ip}:{}", up.ports.ui);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    for path in ["/api/services", "/api/processes", "/search"] {
        let refused = no_redirects
            .get(format!("{remote}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{path}");
    }
    let forged = no_redirects
        .get(format!("{remote}/api/services"))
        .bearer_auth("tm1.forged.token")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let with_token = no_redirects
        .get(format!("{remote}/api/services"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);

    // The link sets a cookie and leads to the page without the token in its address.
    let opened = no_redirects
        .get(format!("{remote}/processes?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["location"], "/processes");
    let cookie = opened.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let listed = no_redirects
        .get(format!("{remote}/api/processes"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    // On loopback the console stays open, as before.
    let (status, _) = up.console_get("/api/services").await;
    assert_eq!(status, 200);
    // And the shop keeps reporting to it.
    let placed = up.order(7, 5, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;

    // The terminal's commands: without the token they say what to pass; with it they answer.
    let refused = tracemart(&["traces", "--console", &remote]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let why = text(&refused.stderr);
    assert!(
        why.contains("--token") && why.contains("TRACEMART_CONSOLE_TOKEN"),
        "{why}"
    );
    let forged = tracemart(&[
        "top",
        "--once",
        "--console",
        &remote,
        "--token",
        "tm1.forged",
    ]);
    assert_ne!(forged.status.code(), Some(0), "{forged:?}");
    assert!(
        text(&forged.stderr).contains("refused the token"),
        "{forged:?}"
    );
    let listed = tracemart(&["traces", "--json", "--console", &remote, "--token", token]);
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    let traces: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("--json is JSON");
    assert!(traces.as_array().is_some_and(|t| !t.is_empty()), "{traces}");
}

#[tokio::test]
async fn otlp_ingest_wants_the_configured_header_and_the_shops_services_send_it() {
    let up = Up::start_with(&[("TRACEMART_CONSOLE_OTLP_HEADER", "X-Otlp-Key=s3cret")]);
    let url = format!("http://127.0.0.1:{}/v1/traces", up.ports.otlp_http);
    let export = |key: Option<&str>, content_type: &str| {
        let mut request = up
            .http
            .post(&url)
            .header("content-type", content_type.to_owned())
            .body(Vec::new());
        if let Some(key) = key {
            request = request.header("x-otlp-key", key.to_owned());
        }
        request.send()
    };
    let without = export(None, "application/x-protobuf").await.unwrap();
    assert_eq!(without.status(), 401);
    let wrong = export(Some("guess"), "application/x-protobuf")
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let grpc = export(None, "application/grpc").await.unwrap();
    assert_eq!(grpc.headers()["grpc-status"], "16");
    let with = export(Some("s3cret"), "application/x-protobuf")
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    // `up` gave the header to the services: their spans still arrive.
    let placed = up.order(7, 5, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;

    // A value that is not NAME=VALUE is refused before anything starts.
    let mut bad = Command::new(env!("CARGO_BIN_EXE_tracemart"));
    bad.args(["token", "admin", "--data-dir"])
        .arg(up.data_dir.path().join("data"))
        .env("TRACEMART_CONSOLE_OTLP_HEADER", "no-value");
    let out = bad.output().unwrap();
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("console.otlp_header"));
}

// ---------------------------------------------------------------- the page, in a browser

/// The browser session: launch, the page, four actions, screenshots.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_processes_page_shows_the_children_and_stops_starts_and_restarts_them() {
    let browser_dir = crate::helpers::repo_root().join("tests/browser");
    crate::browser::require_browser_tools(&browser_dir);
    let up = Up::start();
    let out = crate::browser::screenshots_dir();
    let mut node = tokio::process::Command::new("node");
    node.arg(browser_dir.join("processes.mjs"))
        .arg(up.console_url())
        .arg(up.admin_token())
        .arg(&out)
        .stdin(std::process::Stdio::null())
        // A group of its own, so that Chromium's processes go with node on a timeout.
        .process_group(0)
        .kill_on_drop(true);
    let child = node.spawn().expect("spawn node");
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let output = match tokio::time::timeout(BROWSER_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.expect("node's output"),
        Err(_) => {
            if let Some(pid) = group {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            panic!("the browser session took over {BROWSER_TIMEOUT:?}");
        }
    };
    println!("{}", text(&output.stdout));
    assert!(
        output.status.success(),
        "the browser session failed ({}):\n{}\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
    // What the browser did, seen from outside it.
    let payment = process(&up, "payment").await;
    assert_eq!(payment["state"], "ready", "{payment}");
    assert_eq!(process(&up, "inventory").await["restarts"], 1);
    for name in [
        "processes-1-ready",
        "processes-2-stopped",
        "processes-3-restarted",
    ] {
        let png = out.join(format!("{name}.png"));
        let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{} is missing or blank ({size} bytes)",
            png.display()
        );
    }
}
