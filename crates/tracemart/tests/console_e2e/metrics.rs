//! The console's metrics from a real shop: it scrapes every service's `/metrics`, answers the
//! metrics API with the shop's counters, histograms and exemplars, and the metrics page shows
//! them in headless Chromium (`tests/browser/metrics.mjs`).

use serde_json::Value;
use tracemart_testkit::eventually;

use crate::browser::{require_browser_tools, run_browser_script, screenshots_dir};
use crate::helpers::{ORDER_PATH_SERVICES, TELEMETRY_TIMEOUT, Up, repo_root};

const ORDERS_CREATED: &str = "orders_created";
const HTTP_DURATION: &str = "http_request_duration_seconds";

/// `labels={...}` of a query, URL-encoded.
fn job(name: &str) -> String {
    format!("labels=%7B%22job%22%3A%22{name}%22%7D")
}

async fn query(up: &Up, params: &str) -> Value {
    let (status, body) = up
        .console_get(&format!("/api/console/metrics/query?{params}"))
        .await;
    assert_eq!(status, 200, "{params}: {body}");
    body["data"].clone()
}

/// The value of the order service's `orders_created` counter in its newest scrape (none
/// before a scrape has shown it).
/// The values of a query answer's first line, steps without data left out.
fn first_line_values(answer: &Value) -> Vec<f64> {
    answer["lines"][0]["values"]
        .as_array()
        .expect("a line of values")
        .iter()
        .filter_map(Value::as_f64)
        .collect()
}

async fn orders_created(up: &Up) -> Option<f64> {
    let params = format!(
        "name={ORDERS_CREATED}&agg=sum&lookback=5m&step=1s&{}",
        job("order")
    );
    let (status, body) = up
        .console_get(&format!("/api/console/metrics/query?{params}"))
        .await;
    if status == 404 {
        return None;
    }
    assert_eq!(status, 200, "{params}: {body}");
    body["data"]["lines"][0]["values"]
        .as_array()?
        .iter()
        .rev()
        .find_map(Value::as_f64)
}

#[tokio::test]
async fn the_console_scrapes_the_shops_metrics_and_charts_them_with_exemplars() {
    let browser_dir = repo_root().join("tests/browser");
    require_browser_tools(&browser_dir);
    let up = Up::start_with(&[("TRACEMART_CONSOLE_METRICS_SCRAPE_INTERVAL_SECS", "1")]);

    // One order, until a scrape shows it: the counter's first value has nothing before it.
    let first = up.order(7, 5, 1).await;
    assert_eq!(first.status, 201, "{}", first.body);
    eventually(
        TELEMETRY_TIMEOUT,
        "a scrape counting the first order",
        || async { (orders_created(&up).await == Some(1.0)).then_some(()) },
    )
    .await;
    // Two more.
    let mut placed = Vec::new();
    for _ in 0..2 {
        let p = up.order(7, 5, 1).await;
        assert_eq!(p.status, 201, "{}", p.body);
        placed.push(p);
    }
    eventually(
        TELEMETRY_TIMEOUT,
        "a scrape counting three orders",
        || async { (orders_created(&up).await == Some(3.0)).then_some(()) },
    )
    .await;
    // Scraped every second, the two orders make a rate above 0 and at most 2/s (2.5 with
    // slack for a late scrape); none before the first order was counted.
    let rates = query(
        &up,
        &format!(
            "name={ORDERS_CREATED}&agg=rate&lookback=5m&step=1s&{}",
            job("order")
        ),
    )
    .await;
    let rates = first_line_values(&rates);
    assert!(
        rates.iter().any(|r| *r > 0.0) && rates.iter().all(|r| (0.0..=2.5).contains(r)),
        "orders per second: {rates:?}"
    );

    // The order's request is an exemplar of the order service's duration histogram, and its
    // trace is in the console.
    let last = &placed[1];
    up.trace_with(&last.trace_id, &ORDER_PATH_SERVICES).await;
    let p95 = eventually(
        TELEMETRY_TIMEOUT,
        "the order's trace as an exemplar",
        || async {
            let data = query(
                &up,
                &format!("name={HTTP_DURATION}&agg=p95&lookback=5m&{}", job("order")),
            )
            .await;
            data["exemplars"]
                .as_array()?
                .iter()
                .any(|e| e["trace_id"] == last.trace_id.as_str())
                .then_some(data)
        },
    )
    .await;
    // The console's scrapes are not traced: none of them is an exemplar.
    let scraped = p95["exemplars"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["labels"]["endpoint"] == "/metrics")
        .count();
    assert_eq!(scraped, 0, "{p95}");
    let quantiles = first_line_values(&p95);
    assert!(
        !quantiles.is_empty() && quantiles.iter().all(|q| *q > 0.0 && *q <= 10.0),
        "p95 of the order service's requests: {quantiles:?}"
    );
    let (_, list) = up.console_get("/api/console/metrics").await;
    let jobs = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "up")
        .map(|m| m["labels"]["job"].clone());
    assert_eq!(
        jobs,
        Some(serde_json::json!([
            "inventory",
            "order",
            "payment",
            "product",
            "user"
        ])),
        "every service is scraped"
    );

    let out = screenshots_dir().with_file_name("browser-screenshots-metrics");
    let _ = std::fs::remove_dir_all(&out);
    let args = [
        up.console_url(),
        last.trace_id.clone(),
        out.display().to_string(),
    ];
    run_browser_script(&browser_dir.join("metrics.mjs"), &args, &out).await;
    let png = out.join("1-metrics.png");
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "{} is missing or blank ({size} bytes)",
        png.display()
    );
}
