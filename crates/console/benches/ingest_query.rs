//! Ingest rate over OTLP/HTTP and query latency at a stated number of stored spans.
//!
//! `cargo bench -p tracemart-console -- 1000000` (default 100,000 spans). Traces have 10 spans
//! over 3 services with 8 attributes each; exports carry 100 traces (1,000 spans), pre-encoded,
//! sent by 4 concurrent clients. Ingest time runs until the writer has committed everything.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use tokio::net::TcpListener;
use tracemart_console::{Console, ConsoleConfig, ConsoleListeners};

const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_EXPORT: u64 = 100;
const CLIENTS: usize = 4;
const SERVICES: [&str; 3] = ["order", "inventory", "payment"];

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn export(first_trace: u64, base_ns: u64, spread_ns: u64) -> Vec<u8> {
    let mut per_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
    for t in first_trace..first_trace + TRACES_PER_EXPORT {
        let start = base_ns + (t * 7_919_000) % spread_ns;
        let trace_id = (u128::from(t) + 1).to_be_bytes().to_vec();
        for s in 0..SPANS_PER_TRACE {
            let service = usize::try_from(s % 3).unwrap();
            let duration = 1_000_000 + (t * 31 + s * 17) % 200 * 1_000_000;
            let failed = t % 50 == 0 && s == 2;
            per_service[service].push(Span {
                trace_id: trace_id.clone(),
                span_id: (t * 16 + s + 1).to_be_bytes().to_vec(),
                parent_span_id: if s == 0 {
                    Vec::new()
                } else {
                    (t * 16 + s / 3 * 3 + 1).to_be_bytes().to_vec()
                },
                name: format!(
                    "{} /{}/{{id}}",
                    ["GET", "POST"][usize::try_from(s % 2).unwrap()],
                    SERVICES[service]
                ),
                kind: if s % 3 == 0 { 2 } else { 3 },
                start_time_unix_nano: start + s * 100_000,
                end_time_unix_nano: start + s * 100_000 + duration,
                attributes: vec![
                    kv(
                        "http.request.method",
                        any_value::Value::StringValue("POST".into()),
                    ),
                    kv(
                        "http.route",
                        any_value::Value::StringValue("/orders/{order_id}".into()),
                    ),
                    kv(
                        "http.response.status_code",
                        any_value::Value::IntValue(if failed { 500 } else { 200 }),
                    ),
                    kv(
                        "user.id",
                        any_value::Value::IntValue(i64::try_from(t % 1000).unwrap()),
                    ),
                    kv(
                        "order.id",
                        any_value::Value::StringValue(format!("ord-{t}")),
                    ),
                    kv(
                        "net.peer.name",
                        any_value::Value::StringValue("127.0.0.1".into()),
                    ),
                    kv("order.total_amount", any_value::Value::DoubleValue(12.5)),
                    kv("cache.hit", any_value::Value::BoolValue(t % 2 == 0)),
                ],
                status: failed.then(|| Status {
                    code: 2,
                    message: "boom".into(),
                }),
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: per_service
            .into_iter()
            .enumerate()
            .map(|(i, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv(
                        "service.name",
                        any_value::Value::StringValue(SERVICES[i].into()),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
    .encode_to_vec()
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

async fn time_get(client: &reqwest::Client, url: &str, runs: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let res = client.get(url).send().await.unwrap();
        assert!(res.status().is_success(), "{url}: {}", res.status());
        res.bytes().await.unwrap();
        samples.push(t.elapsed());
    }
    (
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.95),
    )
}

#[tokio::main]
async fn main() {
    let spans: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let exports = spans.div_ceil(SPANS_PER_TRACE * TRACES_PER_EXPORT);
    let traces = exports * TRACES_PER_EXPORT;
    let dir = tempfile::tempdir().unwrap();
    let config = ConsoleConfig {
        retention_max_bytes: 64 << 30,
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    let bind = || async { TcpListener::bind("127.0.0.1:0").await.unwrap() };
    let listeners = ConsoleListeners {
        ui: bind().await,
        otlp_grpc: bind().await,
        otlp_http: bind().await,
    };
    let ui = format!("http://{}", listeners.ui.local_addr().unwrap());
    let otlp = format!(
        "http://{}/v1/traces",
        listeners.otlp_http.local_addr().unwrap()
    );
    let console = Console::open(config).await.unwrap();
    let ingest = console.ingest();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(console.serve(listeners, async move {
        let _ = stopped.await;
    }));

    let now_ns = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap();
    let spread = 3_600_000_000_000;
    let base = now_ns - spread - 60_000_000_000;
    println!(
        "encoding {exports} exports ({} spans)…",
        traces * SPANS_PER_TRACE
    );
    let bodies: Vec<Vec<u8>> = (0..exports)
        .map(|e| export(e * TRACES_PER_EXPORT, base, spread))
        .collect();

    let client = reqwest::Client::new();
    let started = Instant::now();
    let chunks: Vec<Vec<Vec<u8>>> = {
        let mut chunks = vec![Vec::new(); CLIENTS];
        for (i, b) in bodies.into_iter().enumerate() {
            chunks[i % CLIENTS].push(b);
        }
        chunks
    };
    let mut retries = 0u64;
    let senders: Vec<_> = chunks
        .into_iter()
        .map(|bodies| {
            let client = client.clone();
            let otlp = otlp.clone();
            tokio::spawn(async move {
                let mut retries = 0u64;
                for body in bodies {
                    loop {
                        let res = client
                            .post(&otlp)
                            .header("content-type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        if res.status() == 503 {
                            // Back-pressure: the bench honours it like an exporter would.
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                        assert!(res.status().is_success(), "{}", res.status());
                        break;
                    }
                }
                retries
            })
        })
        .collect();
    for s in senders {
        retries += s.await.unwrap();
    }
    let accepted = started.elapsed();
    ingest.flush().await.unwrap();
    let stored = started.elapsed();
    let total_spans = traces * SPANS_PER_TRACE;
    println!(
        "ingest: {total_spans} spans in {:.2}s = {:.0} spans/s stored (accepted in {:.2}s; {retries} 503 retries)",
        stored.as_secs_f64(),
        total_spans as f64 / stored.as_secs_f64(),
        accepted.as_secs_f64(),
    );
    let db = std::fs::metadata(dir.path().join("console.db"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("database: {:.1} MiB", db as f64 / (1 << 20) as f64);

    let runs = 50;
    let mid = format!("{:032x}", u128::from(traces / 2) + 1);
    let queries = [
        ("trace by id", format!("{ui}/api/traces/{mid}")),
        (
            "search service (limit 20)",
            format!("{ui}/api/traces?service=order&limit=20"),
        ),
        (
            "search service+operation",
            format!(
                "{ui}/api/traces?service=inventory&operation=POST%20%2Finventory%2F%7Bid%7D&limit=20"
            ),
        ),
        (
            "search tag error=true",
            format!("{ui}/api/traces?service=payment&tags=%7B%22error%22%3A%22true%22%7D&limit=20"),
        ),
        (
            "search minDuration=150ms",
            format!("{ui}/api/traces?service=order&minDuration=150ms&limit=20"),
        ),
        (
            "search rare tag user.id=7 +1h window",
            format!(
                "{ui}/api/traces?service=order&tags=%7B%22user.id%22%3A%227%22%7D&lookback=1h&limit=20"
            ),
        ),
        (
            "console summaries (UI list)",
            format!("{ui}/api/console/traces?service=order&limit=50"),
        ),
        ("services", format!("{ui}/api/services")),
        ("dependencies 24h", format!("{ui}/api/dependencies")),
    ];
    for (name, url) in queries {
        let runs = if name.starts_with("dependencies") {
            3
        } else {
            runs
        };
        let (p50, p95) = time_get(&client, &url, runs).await;
        println!(
            "{name:<40} p50 {:>8.2} ms   p95 {:>8.2} ms",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
