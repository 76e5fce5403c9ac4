//! Ingest rate and CPU cost over OTLP/HTTP, and query latency at a stated number of stored spans.
//!
//! `cargo bench -p tracemart-console -- 100000 [bulk|shop|shop-paced]… [ingest-only] [keep-db]`
//! (default 100,000 spans per scenario, all scenarios; `ingest-only` skips the queries, for
//! profiling; `keep-db` leaves the databases on disk). Two scenarios, each on a fresh
//! console (payloads in `payloads.rs`):
//!
//! - bulk: 1,000-span exports of synthetic traces, sent by 4 concurrent clients; then queries.
//! - shop: what the shop sends: per-service exports of 512 spans or 512 log records, orders of
//!   20 spans and 10 log records, one client per service; as fast as accepted, then (a fifth of
//!   the size) paced at 300 orders/s, where exports do not queue up and each is a transaction.
//!
//! Ingest time runs until the writer has committed everything. CPU is the whole process's
//! (user + system) over that time: the console plus the bench's own HTTP clients, whose share
//! the `transport floor` line shows (the same bodies posted to a route that only reads them).
#![allow(clippy::unwrap_used)]

mod payloads;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use tokio::net::TcpListener;
use tracemart_console::{Console, ConsoleConfig, ConsoleListeners, Ingest};

use payloads::{
    BULK_SPANS_PER_TRACE, BULK_TRACES_PER_EXPORT, SHOP_LOGS_PER_ORDER, SHOP_SPANS_PER_ORDER,
};

const SCENARIOS: [&str; 3] = ["bulk", "shop", "shop-paced"];
const BULK_CLIENTS: usize = 4;
/// About what the shop sustains on two cores with every span and log exported.
const SHOP_PACED_ORDERS_PER_SEC: f64 = 300.0;
/// Spans start within the last hour (plus a minute), so a 1 h lookback sees most of them.
const SPREAD_NS: u64 = 3_600_000_000_000;

/// Process CPU time (user + system, all threads) from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is the first, utime the 12th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on every mainstream Linux target.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Bytes this process caused to be written to storage (`write_bytes` of `/proc/self/io`).
fn disk_written() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes of the pages the database uses, read through its WAL: the file alone misses what has
/// not been checkpointed yet.
fn database_bytes(path: &std::path::Path) -> u64 {
    let Ok(conn) = rusqlite::Connection::open(path) else {
        return 0;
    };
    let pragma = |name: &str| {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get::<_, i64>(0))
            .unwrap_or(0)
    };
    let pages = pragma("page_count") - pragma("freelist_count");
    u64::try_from(pages * pragma("page_size")).unwrap_or(0)
}

fn now_ns() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// A console on loopback with its database in a fresh tempdir.
struct Running {
    ui: String,
    otlp: String,
    ingest: Ingest,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), tracemart_console::ConsoleError>>,
    dir: tempfile::TempDir,
}

async fn start_console() -> Running {
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
    let otlp = format!("http://{}", listeners.otlp_http.local_addr().unwrap());
    let console = Console::open(config).await.unwrap();
    let ingest = console.ingest();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(console.serve(listeners, async move {
        let _ = stopped.await;
    }));
    Running {
        ui,
        otlp,
        ingest,
        stop,
        server,
        dir,
    }
}

impl Running {
    /// Stops the console; `keep` leaves its database on disk (for inspection) and says where.
    async fn stop(self, keep: bool) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        if keep {
            println!("kept {}", self.dir.keep().join("console.db").display());
        }
    }
}

/// A route that reads bodies and answers 200: the HTTP cost every export pays.
async fn start_sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/{*path}", post(|_body: Bytes| async {}));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// One pre-encoded export request.
#[derive(Clone)]
struct Export {
    path: &'static str,
    body: Bytes,
    /// Spans or log records in it.
    items: u64,
}

/// Posts every list of exports on its own client task, as fast as accepted or, with `rate`,
/// paced to that many items per second in all; returns the 503 retries.
async fn post_all(
    client: &reqwest::Client,
    base: &str,
    lists: Vec<Vec<Export>>,
    rate: Option<f64>,
) -> u64 {
    let total: u64 = lists.iter().flatten().map(|e| e.items).sum();
    let start = tokio::time::Instant::now();
    let senders: Vec<_> = lists
        .into_iter()
        .map(|exports| {
            let client = client.clone();
            let base = base.to_owned();
            let share: u64 = exports.iter().map(|e| e.items).sum();
            // This list's part of the rate, so that every list ends at the same time.
            let list_rate = rate.map(|r| r * share as f64 / total.max(1) as f64);
            tokio::spawn(async move {
                let mut retries = 0u64;
                let mut sent = 0u64;
                for Export { path, body, items } in exports {
                    if let Some(r) = list_rate {
                        let due = start + Duration::from_secs_f64(sent as f64 / r);
                        tokio::time::sleep_until(due).await;
                    }
                    sent += items;
                    loop {
                        let res = client
                            .post(format!("{base}{path}"))
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
    let mut retries = 0;
    for s in senders {
        retries += s.await.unwrap();
    }
    retries
}

/// Ingests `lists` into a fresh console (paced to `rate` items per second if given) and prints
/// the rate and CPU per item; returns the still-running console.
async fn ingest_scenario(
    name: &str,
    client: &reqwest::Client,
    lists: Vec<Vec<Export>>,
    rate: Option<f64>,
) -> Running {
    let count = |path: &str| -> u64 {
        lists
            .iter()
            .flatten()
            .filter(|e| e.path == path)
            .map(|e| e.items)
            .sum()
    };
    let (spans, logs) = (count("/v1/traces"), count("/v1/logs"));
    let items = spans + logs;
    let sink = start_sink().await;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    post_all(client, &sink, lists.clone(), rate).await;
    let (floor_cpu, floor_wall) = (cpu_time() - cpu0, t0.elapsed());

    let console = start_console().await;
    let (cpu0, disk0, started) = (cpu_time(), disk_written(), Instant::now());
    let retries = post_all(client, &console.otlp, lists, rate).await;
    let accepted = started.elapsed();
    console.ingest.flush().await.unwrap();
    let stored = started.elapsed();
    let cpu = cpu_time() - cpu0;
    let disk = disk_written() - disk0;
    let per_item = |d: Duration| d.as_secs_f64() * 1e6 / items as f64;
    println!(
        "{name} ingest: {spans} spans + {logs} logs in {:.2}s = {:.0} spans/s, {:.0} items/s stored \
         (accepted in {:.2}s; {retries} 503 retries)",
        stored.as_secs_f64(),
        spans as f64 / stored.as_secs_f64(),
        items as f64 / stored.as_secs_f64(),
        accepted.as_secs_f64(),
    );
    println!(
        "{name} cpu: {:.2}s = {:.1} µs per item; transport floor {:.2}s = {:.1} µs per item \
         ({:.2}s wall); console beyond it {:.1} µs per item",
        cpu.as_secs_f64(),
        per_item(cpu),
        floor_cpu.as_secs_f64(),
        per_item(floor_cpu),
        floor_wall.as_secs_f64(),
        per_item(cpu.saturating_sub(floor_cpu)),
    );
    let db = database_bytes(&console.dir.path().join("console.db"));
    println!(
        "{name} database: {:.1} MiB; {:.0} bytes written to disk per item",
        db as f64 / (1 << 20) as f64,
        disk as f64 / items as f64
    );
    console
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

async fn run_queries(client: &reqwest::Client, ui: &str, traces: u64) {
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
            50
        };
        let (p50, p95) = time_get(client, &url, runs).await;
        println!(
            "{name:<40} p50 {:>8.2} ms   p95 {:>8.2} ms",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spans: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let queries = !args.iter().any(|a| a == "ingest-only");
    let keep = args.iter().any(|a| a == "keep-db");
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| SCENARIOS.contains(a))
        .collect();
    let run = |scenario: &str| named.is_empty() || named.contains(&scenario);
    let client = reqwest::Client::new();
    let base = now_ns() - SPREAD_NS - 60_000_000_000;

    if run("bulk") {
        let exports = spans.div_ceil(BULK_SPANS_PER_TRACE * BULK_TRACES_PER_EXPORT);
        let traces = exports * BULK_TRACES_PER_EXPORT;
        println!(
            "encoding {exports} bulk exports ({} spans)…",
            traces * BULK_SPANS_PER_TRACE
        );
        let mut lists = vec![Vec::new(); BULK_CLIENTS];
        for e in 0..exports {
            lists[e as usize % BULK_CLIENTS].push(Export {
                path: "/v1/traces",
                body: payloads::bulk_export(e * BULK_TRACES_PER_EXPORT, base, SPREAD_NS).into(),
                items: BULK_SPANS_PER_TRACE * BULK_TRACES_PER_EXPORT,
            });
        }
        let console = ingest_scenario("bulk", &client, lists, None).await;
        if queries {
            run_queries(&client, &console.ui, traces).await;
        }
        console.stop(keep).await;
    }
    let orders = spans.div_ceil(SHOP_SPANS_PER_ORDER);
    if run("shop") {
        println!(
            "encoding shop exports ({orders} orders: {} spans, {} logs)…",
            orders * SHOP_SPANS_PER_ORDER,
            orders * SHOP_LOGS_PER_ORDER
        );
        let console = ingest_scenario("shop", &client, shop_lists(orders, base), None).await;
        console.stop(keep).await;
    }
    if run("shop-paced") {
        let orders = orders.div_ceil(5);
        let rate = SHOP_PACED_ORDERS_PER_SEC * (SHOP_SPANS_PER_ORDER + SHOP_LOGS_PER_ORDER) as f64;
        println!("shop-paced: {orders} orders at {SHOP_PACED_ORDERS_PER_SEC} orders/s");
        let lists = shop_lists(orders, base);
        let console = ingest_scenario("shop-paced", &client, lists, Some(rate)).await;
        console.stop(keep).await;
    }
}

/// The shop's exports, one list per service: its span and log processors export
/// independently, so their requests interleave.
fn shop_lists(orders: u64, base: u64) -> Vec<Vec<Export>> {
    let export = |path| {
        move |(body, items): (Vec<u8>, u64)| Export {
            path,
            body: body.into(),
            items,
        }
    };
    payloads::shop_exports(orders, base, SPREAD_NS)
        .into_iter()
        .map(|service| {
            let mut traces = service.traces.into_iter().map(export("/v1/traces"));
            let mut logs = service.logs.into_iter().map(export("/v1/logs"));
            let mut list = Vec::new();
            loop {
                match (traces.next(), logs.next()) {
                    (None, None) => break list,
                    (t, l) => list.extend(t.into_iter().chain(l)),
                }
            }
        })
        .collect()
}
