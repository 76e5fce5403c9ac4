//! Metrics: the console scrapes a `/metrics` target on loopback and answers the metrics list
//! and queries from what it stored (counter rates, histogram quantiles, exemplars, label
//! filters), and retention deletes old scrapes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use serde_json::Value;
use tokio::net::TcpListener;
use tracemart_console::{ConsoleConfig, ScrapeTarget};

use crate::helpers::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A service's `/metrics`: each scrape, 10 more ok orders and 1 more failed one, and 10 more
/// requests of which 4 took up to 0.1 s and 6 between 0.1 and 0.25 s (the exemplar's trace
/// took 0.2 s), unless frozen.
#[derive(Default)]
struct Target {
    scrapes: AtomicU64,
    frozen: AtomicBool,
}

impl Target {
    fn render(&self, openmetrics: bool) -> String {
        let n = if self.frozen.load(Ordering::SeqCst) {
            self.scrapes.load(Ordering::SeqCst)
        } else {
            self.scrapes.fetch_add(1, Ordering::SeqCst) + 1
        };
        let exemplar = if openmetrics {
            format!(" # {{trace_id=\"{TRACE}\"}} 0.2")
        } else {
            String::new()
        };
        let (fast, all) = (4 * n, 10 * n);
        let mut text = format!(
            "# HELP orders Orders placed.\n# TYPE orders counter\n\
             orders_total{{status=\"ok\"}} {ok}\norders_total{{status=\"failed\"}} {n}\n\
             # HELP http_request_duration_seconds Request duration.\n\
             # TYPE http_request_duration_seconds histogram\n\
             # UNIT http_request_duration_seconds seconds\n\
             http_request_duration_seconds_sum{{endpoint=\"/orders\"}} {sum}\n\
             http_request_duration_seconds_count{{endpoint=\"/orders\"}} {all}\n\
             http_request_duration_seconds_bucket{{endpoint=\"/orders\",le=\"0.1\"}} {fast}\n\
             http_request_duration_seconds_bucket{{endpoint=\"/orders\",le=\"0.25\"}} {all}{exemplar}\n\
             http_request_duration_seconds_bucket{{endpoint=\"/orders\",le=\"+Inf\"}} {all}\n",
            ok = 10 * n,
            sum = 1.4 * n as f64,
        );
        if openmetrics {
            text.push_str("# EOF\n");
        }
        text
    }
}

/// Serves `target` on a loopback port; returns its `/metrics` URL.
async fn serve(target: Arc<Target>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/metrics",
        get(move |headers: HeaderMap| async move {
            let openmetrics = headers
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("application/openmetrics-text"));
            target.render(openmetrics)
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/metrics")
}

/// A port nothing listens on.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/metrics")
}

async fn scraping_console(
    dir: &tempfile::TempDir,
    target: &Arc<Target>,
    interval_ms: u64,
    max_age: Duration,
) -> TestApp {
    let config = ConsoleConfig {
        scrape_targets: vec![
            ScrapeTarget {
                job: "shop".into(),
                url: serve(target.clone()).await,
            },
            ScrapeTarget {
                job: "down".into(),
                url: closed_port_url().await,
            },
        ],
        scrape_interval: Duration::from_millis(interval_ms),
        retention_max_age: max_age,
        retention_interval: Duration::from_secs(3_600),
        ..ConsoleConfig::with_data_dir(dir.path())
    };
    spawn_app_with(config).await
}

/// Waits until the console has stored the target's `n`th scrape: each scrape's total of failed
/// orders is its number.
async fn wait_for_scrapes(app: &TestApp, n: u64) {
    let params = format!(
        "name=orders&agg=sum&lookback=1m&{}",
        labels(r#"{"job":"shop","status":"failed"}"#)
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        app.flush().await;
        // Before the first scrape is stored the metric is unknown (404).
        let (status, body) = app
            .get(&format!("/api/console/metrics/query?{params}"))
            .await;
        let newest = (status == 200)
            .then(|| body["data"]["lines"][0]["values"].as_array())
            .flatten()
            .and_then(|values| values.iter().rev().find_map(Value::as_f64));
        if newest.is_some_and(|stored| stored >= n as f64) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the console did not store {n} scrapes (newest: {newest:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn query(app: &TestApp, params: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/console/metrics/query?{params}"))
        .await;
    assert_eq!(status, 200, "{params}: {body}");
    body["data"].clone()
}

/// The values of the query's only line (nulls left out).
fn values(data: &Value) -> Vec<f64> {
    let lines = data["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{data}");
    lines[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

fn labels(filter: &str) -> String {
    format!("labels={}", urlencode(filter))
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn scraped_metrics_are_listed_and_charted_with_rates_quantiles_and_exemplars() {
    let dir = tempfile::tempdir().unwrap();
    let target = Arc::new(Target::default());
    let app = scraping_console(&dir, &target, 100, Duration::from_secs(86_400)).await;
    wait_for_scrapes(&app, 6).await;
    // No more increases: every query below sees the same totals.
    target.frozen.store(true, Ordering::SeqCst);
    let scrapes = target.scrapes.load(Ordering::SeqCst);
    wait_for_scrapes(&app, scrapes).await;

    let (status, list) = app.get("/api/console/metrics").await;
    assert_eq!(status, 200);
    let metric = |name: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
            .clone()
    };
    let orders = metric("orders");
    assert_eq!(orders["type"], "counter");
    assert_eq!(orders["help"], "Orders placed.");
    assert_eq!(
        orders["labels"]["status"],
        serde_json::json!(["failed", "ok"])
    );
    assert_eq!(orders["labels"]["job"], serde_json::json!(["shop"]));
    let http = metric("http_request_duration_seconds");
    assert_eq!(
        (http["type"].as_str(), http["unit"].as_str()),
        (Some("histogram"), Some("seconds"))
    );
    assert!(http["labels"].get("le").is_none(), "{http}");
    assert_eq!(http["aggregations"][0], "p50");
    assert_eq!(
        metric("up")["labels"]["job"],
        serde_json::json!(["down", "shop"])
    );

    // A counter's rate, over 1 s steps: ok orders grow 10 a scrape and failed ones 1, at least
    // 100 ms apart, so ok's rate is 10 times failed's and at most 100/s (200 with slack).
    let step = "lookback=1m&step=1s";
    let ok = format!(
        "name=orders&agg=rate&{step}&{}",
        labels(r#"{"status":"ok"}"#)
    );
    let ok_rates = values(&query(&app, &ok).await);
    let failed = format!(
        "name=orders&agg=rate&{step}&{}",
        labels(r#"{"status":"failed"}"#)
    );
    let failed_rates = values(&query(&app, &failed).await);
    assert!(ok_rates.iter().any(|r| *r > 0.0), "{ok_rates:?}");
    assert!(ok_rates.iter().all(|r| *r <= 200.0), "{ok_rates:?}");
    assert_eq!(ok_rates.len(), failed_rates.len());
    for (ok, failed) in ok_rates.iter().zip(&failed_rates) {
        assert!(
            (ok - 10.0 * failed).abs() < 1e-6,
            "{ok_rates:?} {failed_rates:?}"
        );
    }
    let sums = values(&query(&app, &format!("name=orders&agg=sum&{step}")).await);
    assert_eq!(sums.last().copied(), Some(11.0 * scrapes as f64));
    let by_status = query(&app, &format!("name=orders&agg=rate&by=status&{step}")).await;
    let groups: Vec<_> = by_status["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["group"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(groups, ["failed", "ok"]);

    // Every step with requests: 4 of 10 up to 0.1 s, the rest up to 0.25 s.
    let p50 = query(
        &app,
        &format!("name=http_request_duration_seconds&agg=p50&{step}"),
    )
    .await;
    let quantiles = values(&p50);
    assert!(!quantiles.is_empty(), "{p50}");
    for q in &quantiles {
        assert!((q - 0.125).abs() < 1e-9, "p50 {q}: {p50}");
    }
    let p99 = query(
        &app,
        &format!("name=http_request_duration_seconds&agg=p99&{step}"),
    )
    .await;
    for q in values(&p99) {
        assert!((q - (0.1 + 0.15 * 5.9 / 6.0)).abs() < 1e-9, "p99 {q}");
    }
    let exemplar = &p50["exemplars"][0];
    assert_eq!(exemplar["trace_id"], TRACE, "{p50}");
    assert_eq!(exemplar["value"], 0.2);
    assert_eq!(exemplar["labels"]["job"], "shop");
    assert_eq!(exemplar["labels"]["endpoint"], "/orders");
    // A filter the exemplar's series does not match leaves it out.
    let other = query(
        &app,
        &format!(
            "name=http_request_duration_seconds&agg=p50&{step}&{}",
            labels(r#"{"endpoint":"/other"}"#)
        ),
    )
    .await;
    assert_eq!(other["exemplars"], serde_json::json!([]));

    // The target that does not answer is down, the other up.
    let up = |job: &str| {
        format!(
            "name=up&agg=sum&{step}&{}",
            labels(&format!(r#"{{"job":"{job}"}}"#))
        )
    };
    assert!(
        values(&query(&app, &up("shop")).await)
            .iter()
            .all(|v| *v == 1.0)
    );
    let down = values(&query(&app, &up("down")).await);
    assert!(
        !down.is_empty() && down.iter().all(|v| *v == 0.0),
        "{down:?}"
    );
}

#[tokio::test]
async fn metric_queries_refuse_what_they_cannot_compute() {
    let dir = tempfile::tempdir().unwrap();
    let target = Arc::new(Target::default());
    let app = scraping_console(&dir, &target, 100, Duration::from_secs(86_400)).await;
    wait_for_scrapes(&app, 2).await;
    for (params, status) in [
        ("name=orders&agg=p95", 400),
        ("name=orders&agg=median", 400),
        ("name=orders&labels=status%3Dok", 400),
        ("name=orders&step=1ms&lookback=1h", 400),
        ("name=nope", 404),
        ("agg=rate", 400),
    ] {
        let (got, body) = app
            .get(&format!("/api/console/metrics/query?{params}"))
            .await;
        assert_eq!(got, status, "{params}: {body}");
    }
}

#[tokio::test]
async fn retention_deletes_scrapes_older_than_the_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let target = Arc::new(Target::default());
    let app = scraping_console(&dir, &target, 100, Duration::from_secs(1)).await;
    // At least 4 s of scrapes (at least 100 ms apart).
    wait_for_scrapes(&app, 41).await;
    let steps_with_data = |data: Value| values(&data).len();
    let params = "name=orders&agg=sum&lookback=1m&step=1s";
    let before = steps_with_data(query(&app, params).await);
    assert!(before >= 4, "{before}");

    app.ingest.enforce_retention().await.unwrap();

    // Left: the last second's scrapes, and those since, in at most 3 steps of 1 s.
    let after = steps_with_data(query(&app, params).await);
    assert!(after <= 3 && after < before, "{after} of {before}");
}
