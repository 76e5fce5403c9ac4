//! One very large trace must not take the console to gigabytes: `tracemart console` as its own
//! process is sent a trace of tens of thousands of spans, then read eight times at once; the
//! process's peak resident memory (VmHWM in /proc) stays within a bound that reading whole
//! traces broke by far.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use serde_json::Value;
use tracemart_testkit::{eventually, free_port};

/// Spans in the large trace: three times what the console stores of one trace.
const TRACE_SPANS: u64 = 30_000;
/// Spans per export request (the console accepts at most 10,000 per request).
const SPANS_PER_REQUEST: u64 = 10_000;
/// Reads of the trace at once.
const CONCURRENT_READS: usize = 8;
/// Peak resident memory the console may reach. Reading the whole trace took it past 1 GB
/// (each answer built every span as a JSON tree in memory, eight at once).
const MAX_PEAK_BYTES: u64 = 300 << 20;

/// `tracemart console` on free ports with a fresh data directory; killed when dropped.
struct ConsoleProcess {
    child: Child,
    ui: String,
    otlp_http: String,
    _dir: tempfile::TempDir,
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ConsoleProcess {
    async fn start() -> ConsoleProcess {
        let dir = tempfile::tempdir().unwrap();
        let (ui, grpc, http) = (free_port(), free_port(), free_port());
        let log = std::fs::File::create(dir.path().join("console.out")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tracemart"));
        cmd.arg("console")
            .args(["--ui-port", &ui.to_string()])
            .args(["--otlp-grpc-port", &grpc.to_string()])
            .args(["--otlp-http-port", &http.to_string()])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        clean_env(&mut cmd);
        let console = ConsoleProcess {
            child: cmd.spawn().unwrap(),
            ui: format!("http://127.0.0.1:{ui}"),
            otlp_http: format!("http://127.0.0.1:{http}"),
            _dir: dir,
        };
        let http = reqwest::Client::new();
        tracemart_testkit::wait_ready(
            &http,
            &format!("{}/health", console.ui),
            Duration::from_secs(30),
        )
        .await;
        console
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status:\n{status}"))
    }
}

/// No TRACEMART_* or OTEL_* setting of the developer's reaches the child.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TRACEMART_") || k.starts_with("OTEL_") {
            cmd.env_remove(k.as_ref());
        }
    }
    cmd.env("RUST_LOG", "info");
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// Spans `first..first + n` of trace `trace`: a root (span 1) and its children, each with the
/// attributes of a small database call.
fn spans_request(trace: [u8; 16], first: u64, n: u64, start_ns: u64) -> ExportTraceServiceRequest {
    let spans = (first..first + n)
        .map(|i| Span {
            trace_id: trace.to_vec(),
            span_id: i.to_be_bytes().to_vec(),
            parent_span_id: if i == 1 {
                Vec::new()
            } else {
                1u64.to_be_bytes().to_vec()
            },
            name: "SELECT inventory".into(),
            kind: 3,
            start_time_unix_nano: start_ns + i * 1_000,
            end_time_unix_nano: start_ns + i * 1_000 + 500,
            attributes: vec![
                kv("db.system.name", "sqlite"),
                kv("db.operation.name", "SELECT"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "inventory-service")],
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

fn now_ns() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

#[tokio::test]
async fn concurrent_reads_of_a_huge_trace_keep_the_console_memory_bounded() {
    let console = ConsoleProcess::start().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let trace = *b"\x0b\x16\x0b\x16large-trace!";
    let trace_hex: String = trace.iter().map(|b| format!("{b:02x}")).collect();
    let start = now_ns() - 60_000_000_000;
    for first in (1..=TRACE_SPANS).step_by(SPANS_PER_REQUEST as usize) {
        let body = spans_request(trace, first, SPANS_PER_REQUEST, start).encode_to_vec();
        let answer = http
            .post(format!("{}/v1/traces", console.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    }
    let url = format!("{}/api/traces/{trace_hex}", console.ui);
    eventually(
        Duration::from_secs(60),
        "the large trace stored",
        || async {
            let answer = http.get(&url).send().await.ok()?;
            (answer.status() == 200).then_some(())
        },
    )
    .await;
    let before = console.status_kib("VmHWM");

    let reads = (0..CONCURRENT_READS).map(|_| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let answer = http.get(&url).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            let body: Value = answer.json().await.unwrap();
            body["data"][0]["spans"].as_array().map_or(0, Vec::len)
        })
    });
    let returned = futures::future::join_all(reads).await;

    let peak = console.status_kib("VmHWM") * 1024;
    let rss = console.status_kib("VmRSS") * 1024;
    println!(
        "console peak before the reads {} MiB, after {} MiB, resident now {} MiB; spans per answer {:?}",
        before / 1024,
        peak >> 20,
        rss >> 20,
        returned
            .iter()
            .map(|r| *r.as_ref().unwrap())
            .collect::<Vec<_>>()
    );
    for spans in returned {
        assert!(spans.unwrap() > 0, "every read returned spans");
    }
    assert!(
        peak < MAX_PEAK_BYTES,
        "the console peaked at {} MiB reading one trace {CONCURRENT_READS} times at once \
         (bound {} MiB)",
        peak >> 20,
        MAX_PEAK_BYTES >> 20
    );
}
