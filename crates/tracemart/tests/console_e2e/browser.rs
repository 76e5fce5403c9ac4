//! The console's web UI in headless Chromium (Debian's `chromium`, driven by `playwright-core`
//! from `tests/browser/`): search, a trace's waterfall, the services table, the service map, a
//! trace's linked traces and a trace larger than one answer, with a screenshot of each page
//! under `target/browser-screenshots/`.
//!
//! `scripts/test` installs Chromium and the node modules; when they are missing this test
//! fails (it does not skip) and says how to install them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, status};
use prost::Message;

use crate::helpers::{ORDER_PATH_SERVICES, Up, repo_root};
use tracemart_testkit::processes::descendants_of;

/// The whole browser session: launch, every page, screenshots.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
/// Spans one answer of the console returns in this test, and the spans of its large trace.
const SPANS_PER_ANSWER: u64 = 100;
const LARGE_TRACE_SPANS: u64 = 150;

/// Runs a browser script of `tests/browser` with node and these arguments, with a deadline
/// (killing Chromium's processes too if it passes); prints its output and fails the test, with
/// that output, unless it succeeded.
pub(crate) async fn run_browser_script(script: &Path, args: &[String], out: &Path) {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            // Chromium's processes too, not just node.
            let pid = i32::try_from(child.id()).expect("pid fits i32");
            for p in descendants_of(pid) {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let output = child.wait_with_output().expect("node's output");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    println!("{stdout}");
    println!(
        "browser session: {} ms; screenshots in {}",
        started.elapsed().as_millis(),
        out.display()
    );
    let status = status.unwrap_or_else(|| {
        panic!("the browser session took over {BROWSER_TIMEOUT:?}\n{stdout}\n{stderr}")
    });
    assert!(
        status.success(),
        "the browser session failed ({status}):\n{stdout}\n{stderr}"
    );
}

fn chromium() -> PathBuf {
    PathBuf::from("/usr/bin/chromium")
}

/// Where the screenshots go: `target/browser-screenshots/`.
pub(crate) fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is target/tmp")
        .join("browser-screenshots")
}

/// Sends the console a trace of one consumer span that links to span `span_id` of trace
/// `trace_id`, as an asynchronous hop of the order would (payment processing the order's
/// `order.created` message in a trace of its own); returns its trace id. Sent by the test
/// itself, so that the linked-traces view is checked whatever the shop sends.
async fn send_linked_trace(up: &Up, trace_id: &str, span_id: &str) -> String {
    let linked = uuid::Uuid::new_v4();
    let start = now_nanos();
    let span = Span {
        trace_id: linked.as_bytes().to_vec(),
        span_id: linked.as_bytes()[..8].to_vec(),
        name: "process order.created".into(),
        kind: SpanKind::Consumer as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 3_000_000,
        attributes: vec![string_kv("messaging.operation.type", "process")],
        links: vec![Link {
            trace_id: hex_bytes(trace_id),
            span_id: hex_bytes(span_id),
            ..Default::default()
        }],
        ..Default::default()
    };
    export(up, &one_service("payment-service", vec![span])).await;
    linked.simple().to_string()
}

/// Sends the console a trace of one request the payment service failed (a SERVER span that
/// answered 503 with ERROR status); returns its trace id. The shop fails no request by itself,
/// and the error rule's figures must count one.
pub(crate) async fn send_failed_request(up: &Up) -> String {
    let id = uuid::Uuid::new_v4();
    let start = now_nanos();
    let span = Span {
        trace_id: id.as_bytes().to_vec(),
        span_id: id.as_bytes()[..8].to_vec(),
        name: "POST /payments".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 2_000_000,
        attributes: vec![
            string_kv("http.request.method", "POST"),
            string_kv("http.route", "/payments"),
            KeyValue {
                key: "http.response.status_code".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(503)),
                }),
                ..Default::default()
            },
        ],
        status: Some(Status {
            code: status::StatusCode::Error as i32,
            message: "payment provider unavailable".into(),
        }),
        ..Default::default()
    };
    export(up, &one_service("payment-service", vec![span])).await;
    id.simple().to_string()
}

/// Now, in Unix nanoseconds.
fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An export of `spans`, all of `service`.
fn one_service(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends the console one trace of `spans` spans in the order service (a root and its
/// children); returns its trace id.
async fn send_large_trace(up: &Up, spans: u64) -> String {
    let id = uuid::Uuid::new_v4();
    let start = now_nanos();
    let spans = (1..=spans)
        .map(|n| Span {
            trace_id: id.as_bytes().to_vec(),
            span_id: n.to_be_bytes().to_vec(),
            parent_span_id: if n == 1 {
                Vec::new()
            } else {
                1u64.to_be_bytes().to_vec()
            },
            name: if n == 1 {
                "import catalogue"
            } else {
                "SELECT products"
            }
            .into(),
            kind: SpanKind::Internal as i32,
            start_time_unix_nano: start + n * 1_000_000,
            end_time_unix_nano: start + n * 1_000_000 + 500_000,
            ..Default::default()
        })
        .collect();
    export(up, &one_service("product-service", spans)).await;
    id.simple().to_string()
}

/// Sends `req` to the console's OTLP/HTTP port; it must be accepted.
async fn export(up: &Up, req: &ExportTraceServiceRequest) {
    let url = format!("http://127.0.0.1:{}/v1/traces", up.ports.otlp_http);
    let res = up
        .http
        .post(&url)
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert!(res.status().is_success(), "POST {url}: {}", res.status());
}

/// The bytes of a hex id.
fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("a hex id"))
        .collect()
}

/// Fails with how to install what the browser test needs, if anything is missing.
pub(crate) fn require_browser_tools(browser_dir: &Path) {
    let install = "run scripts/test (it installs them), or: apt-get install -y chromium && npm ci --prefix tests/browser";
    assert!(
        chromium().exists(),
        "{} is missing: the browser test needs Debian's chromium package; {install}",
        chromium().display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "`node` is not available ({node:?}): the browser test runs tests/browser/console.mjs with it; {install}"
    );
    assert!(
        browser_dir
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "{}/node_modules/playwright-core is missing; {install}",
        browser_dir.display()
    );
}

#[tokio::test]
async fn the_console_ui_shows_search_results_a_traces_waterfall_services_the_map_and_linked_traces()
{
    let browser_dir = repo_root().join("tests/browser");
    require_browser_tools(&browser_dir);
    let up = Up::start_with(&[(
        "TRACEMART_CONSOLE_MAX_SPANS_PER_ANSWER",
        &SPANS_PER_ANSWER.to_string(),
    )]);
    // A created order to look at, and a failing one so that errors show.
    let placed = up.order(7, 5, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let failed = up.order(7, 5, 6).await;
    assert_eq!(failed.status, 409, "{}", failed.body);
    let trace = up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;
    up.trace_with(&failed.trace_id, &ORDER_PATH_SERVICES).await;
    // A trace that follows the placed order's through a span link.
    let root = trace
        .spans()
        .into_iter()
        .find(|s| s.parent().is_none())
        .and_then(|s| s.json["spanID"].as_str().map(str::to_owned))
        .expect("the placed order's trace has a root span");
    let linked = send_linked_trace(&up, &placed.trace_id, &root).await;
    up.trace_with(&linked, &["payment-service"]).await;
    // A trace with more spans than one answer holds.
    let large = send_large_trace(&up, LARGE_TRACE_SPANS).await;
    up.trace_with(&large, &["product-service"]).await;
    let out = screenshots_dir();
    let _ = std::fs::remove_dir_all(&out);

    let args = [
        up.console_url(),
        placed.trace_id.clone(),
        out.display().to_string(),
        failed.trace_id.clone(),
        linked,
        large,
        format!("{SPANS_PER_ANSWER}/{LARGE_TRACE_SPANS}"),
    ];
    run_browser_script(&browser_dir.join("console.mjs"), &args, &out).await;
    for page in [
        "1-search",
        "2-trace",
        "3-services",
        "4-map",
        "5-failed-trace",
        "6-linked-traces",
        "7-truncated-trace",
    ] {
        assert_screenshot(&out, page);
    }
}

/// The session left a screenshot of `page` that is not blank.
pub(crate) fn assert_screenshot(out: &Path, page: &str) {
    let png = out.join(format!("{page}.png"));
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "{} is missing or blank ({size} bytes)",
        png.display()
    );
}
