//! Per-request cost of the `trace_http` middleware around a trivial handler, tracing on and off.
//!
//! `cargo bench -p tracemart-telemetry --bench trace_http` runs `bare` (the same router without
//! telemetry: the floor), `off` (`OTEL_SDK_DISABLED`: JSON lines and metrics only) and `on`
//! alternately (3 rounds, 20,000 requests each) in fresh child processes, since `init` installs
//! a process-wide subscriber, and prints wall and CPU (utime+stime of every thread) per request.
//! Log lines go to a temporary file, as in `tracemart up`. With tracing on, spans and log records
//! are exported over OTLP/HTTP to a discarding sink in another process (its CPU is not counted).
//!
//! `encode` (also run last by the comparison) times what one export of 512 server spans costs
//! before the HTTP request: opentelemetry-proto's transform + prost encoding + dropping (what
//! opentelemetry-otlp's exporter did) against our encoder, spans dropped in both; and the same
//! for one export of 512 log records as the tracing bridge makes them (the records are only
//! borrowed by both).
//!
//! One mode in this process, e.g. for an instruction count (run it with two request counts and
//! take the difference, so that start-up and the final flush cancel out):
//! `valgrind --tool=callgrind target/release/deps/trace_http-<hash> run on 2000 >/tmp/bench.log`
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use http::Request;
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};
use opentelemetry_sdk::trace::SpanData;
use prost::Message;
use tower::ServiceExt;
use tracemart_telemetry::bench::{
    LogEncoder, ScopeGroups, TraceEncoder, server_log_record, server_span,
};
use tracemart_telemetry::{Metrics, TelemetryConfig, trace_http};

const ROUNDS: usize = 3;
const REQUESTS: u64 = 20_000;
const WARM_UP: u64 = 500;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["sink"] => sink(),
        ["run", mode, n] => run(mode, n.parse().expect("a request count")),
        ["run", mode] => run(mode, REQUESTS),
        ["encode"] => encode(),
        _ => compare(),
    }
}

/// Alternates `off` and `on` in child processes and prints one line per run.
fn compare() {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir();
    println!("mode  requests  wall ns/req  cpu ns/req");
    for round in 0..ROUNDS {
        for mode in ["bare", "off", "on"] {
            let log = dir.join(format!(
                "trace_http_bench_{}_{round}_{mode}.log",
                std::process::id()
            ));
            let out = Command::new(&exe)
                .args(["run", mode, &REQUESTS.to_string()])
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let _ = std::fs::remove_file(&log);
            let report = String::from_utf8_lossy(&out.stderr);
            print!("{report}");
            assert!(out.status.success(), "{mode} run failed");
        }
    }
    encode();
}

const ENCODE_SPANS: usize = 512;
const ENCODE_ROUNDS: usize = 300;

/// Prints the fastest round of each way to encode a batch, per span.
fn encode() {
    let resource = Resource::builder()
        .with_service_name("bench-service")
        .build();
    let scope = InstrumentationScope::builder("bench-service").build();
    let batch: Vec<SpanData> = (0..ENCODE_SPANS as u64)
        .map(|n| server_span(&scope, n))
        .collect();

    let attributes = ResourceAttributesWithSchema::from(&resource);
    let proto = fastest(&batch, |spans| {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans, &attributes),
        };
        request.encode_to_vec().len()
    });
    let encoder = TraceEncoder::new(&resource);
    let (mut groups, mut body) = (ScopeGroups::default(), Vec::new());
    let ours = fastest(&batch, |spans| {
        encoder.encode(&spans, &mut groups, &mut body);
        body.len()
    });
    println!("encode {ENCODE_SPANS} spans  ns/span");
    println!("  opentelemetry-proto + prost  {proto:>6}");
    println!("  tracemart encoder            {ours:>6}");
    encode_logs(&resource, &attributes);
}

/// Prints the fastest round of each way to encode a batch of log records, per record.
fn encode_logs(resource: &Resource, attributes: &ResourceAttributesWithSchema) {
    let scope = InstrumentationScope::builder("").build();
    let records: Vec<SdkLogRecord> = (0..ENCODE_SPANS as u64).map(server_log_record).collect();
    let pairs: Vec<(&SdkLogRecord, &InstrumentationScope)> =
        records.iter().map(|r| (r, &scope)).collect();
    let batch = LogBatch::new(&pairs);

    let proto = fastest_logs(|| {
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, attributes),
        };
        request.encode_to_vec().len()
    });
    let encoder = LogEncoder::new(resource);
    let (mut groups, mut body) = (ScopeGroups::default(), Vec::new());
    let ours = fastest_logs(|| {
        encoder.encode(&batch, &mut groups, &mut body);
        body.len()
    });
    println!("encode {ENCODE_SPANS} log records  ns/record");
    println!("  opentelemetry-proto + prost  {proto:>6}");
    println!("  tracemart encoder            {ours:>6}");
}

/// The fastest of `ENCODE_ROUNDS` rounds of `f`, in ns per record.
fn fastest_logs(mut f: impl FnMut() -> usize) -> u128 {
    let mut best = Duration::MAX;
    for _ in 0..ENCODE_ROUNDS {
        let start = Instant::now();
        std::hint::black_box(f());
        best = best.min(start.elapsed());
    }
    best.as_nanos() / ENCODE_SPANS as u128
}

/// The fastest of `ENCODE_ROUNDS` rounds of `f` on a fresh copy of `batch`, in ns per span.
fn fastest(batch: &[SpanData], mut f: impl FnMut(Vec<SpanData>) -> usize) -> u128 {
    let mut best = Duration::MAX;
    for _ in 0..ENCODE_ROUNDS {
        let spans = batch.to_vec();
        let start = Instant::now();
        std::hint::black_box(f(std::hint::black_box(spans)));
        best = best.min(start.elapsed());
    }
    best.as_nanos() / ENCODE_SPANS as u128
}

/// Serves `REQUESTS` requests in process and reports the cost of the measured ones to stderr.
fn run(mode: &str, requests: u64) {
    let mut config = TelemetryConfig::new("bench-service", "0.0.0");
    let mut sink = None;
    match mode {
        "bare" => {}
        "off" => config.sdk_disabled = true,
        "on" => {
            let (child, endpoint) = start_sink();
            config.otlp_endpoint = Some(endpoint);
            sink = Some(child);
        }
        other => panic!("mode is bare, off or on, not {other}"),
    }
    let guard = (mode != "bare").then(|| tracemart_telemetry::init(&config).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut app = Router::new().route("/products/{id}", get(product));
    if guard.is_some() {
        app = app.layer(axum::middleware::from_fn_with_state(
            Metrics::new("bench-service"),
            trace_http,
        ));
    }

    runtime.block_on(serve(&app, WARM_UP));
    let (wall, cpu) = (Instant::now(), cpu_time());
    runtime.block_on(serve(&app, requests));
    // Export everything the measured requests produced, so that its cost is counted too.
    if let Some(guard) = &guard {
        guard.flush();
    }
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    drop(guard);
    if let Some(mut child) = sink {
        let _ = child.kill();
        let _ = child.wait();
    }
    eprintln!(
        "{mode:<5} {requests:>8}  {:>11}  {:>10}",
        wall.as_nanos() / u128::from(requests),
        cpu.as_nanos() / u128::from(requests),
    );
}

async fn product(Path(id): Path<u64>) -> String {
    format!("{{\"product_id\":{id}}}")
}

/// A downstream hop as the shop makes it: trace context, the order's baggage, a request id.
async fn serve(app: &Router, requests: u64) {
    for i in 0..requests {
        let req = Request::get(format!("/products/{}", i % 100))
            .header(
                "traceparent",
                format!("00-{:032x}-{:016x}-01", u128::from(i) + 1, i + 1),
            )
            .header(
                "baggage",
                "order.user_id=7,order.correlation_id=5fa3339a-90b1-4dd3-b595-68c368b203d5",
            )
            .header("x-request-id", "5fa3339a-90b1-4dd3-b595-68c368b203d5")
            .header("user-agent", "tracemart/0.1")
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        assert!(resp.status().is_success());
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
    }
}

/// utime + stime of the whole process (all threads), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<u64> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Clock ticks are 1/100 s on Linux.
    Duration::from_millis((f[11] + f[12]) * 10)
}

/// Starts `sink` as a child process and returns it with its OTLP/HTTP endpoint.
fn start_sink() -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("sink")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_owned())
}

/// Accepts every OTLP export and discards it; exits when the parent closes our stdin.
fn sink() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut out = std::io::stdout();
        writeln!(out, "http://{addr}").unwrap();
        out.flush().unwrap();
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
        let app = Router::new().fallback(|_body: axum::body::Bytes| async {
            (
                [("content-type", "application/x-protobuf")],
                Vec::<u8>::new(),
            )
        });
        axum::serve(listener, app).await.unwrap();
    });
}
