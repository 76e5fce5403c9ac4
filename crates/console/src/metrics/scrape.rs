//! The scraper: every `scrape_interval`, a GET of each target's `/metrics` asking for
//! OpenMetrics (the format that carries exemplars), parsed and queued for the writer with the
//! target's name as the `job` label. A target that does not answer gets `up` 0 and no samples,
//! as in Prometheus. Each request carries an unsampled `traceparent`, so that the services do
//! not trace (and the console does not store) a request per target and interval.

use std::time::Duration;

use tokio::sync::watch;

use super::parse::{self, Family, Sample};
use crate::config::ScrapeTarget;
use crate::store::ingest::Ingest;
use crate::store::model::{Batch, MetricBatch};
use crate::store::retention::now_us;

const ACCEPT: &str = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
/// A scrape waits at most this long, or the interval if shorter.
const MAX_SCRAPE_TIME: Duration = Duration::from_secs(5);

/// Scrapes `targets` every `interval` until `stop` turns true.
pub(crate) async fn run(
    targets: Vec<ScrapeTarget>,
    interval: Duration,
    ingest: Ingest,
    mut stop: watch::Receiver<bool>,
) {
    if targets.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(interval.min(MAX_SCRAPE_TIME))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "console cannot scrape metrics");
            return;
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let scrapes = targets.iter().map(|t| scrape(&client, t));
        for batch in futures::future::join_all(scrapes).await {
            if let Err(e) = ingest.submit(Batch::Metrics(batch)).await {
                tracing::warn!(error = %e, "console dropped a metrics scrape");
            }
        }
    }
}

/// One scrape of one target, with its `up` sample.
async fn scrape(client: &reqwest::Client, target: &ScrapeTarget) -> MetricBatch {
    let time_ms = now_us() / 1000;
    let mut families = match fetch(client, &target.url).await {
        Ok(families) => families,
        Err(e) => {
            tracing::debug!(job = %target.job, url = %target.url, error = %e, "metrics scrape failed");
            Vec::new()
        }
    };
    let up = if families.is_empty() { 0.0 } else { 1.0 };
    families.push(Family {
        name: "up".into(),
        kind: "gauge".into(),
        help: "1 if the console's last scrape of the service's /metrics succeeded, else 0.".into(),
        unit: String::new(),
        samples: vec![Sample {
            suffix: String::new(),
            labels: Default::default(),
            value: up,
            exemplar: None,
        }],
    });
    MetricBatch {
        job: target.job.clone(),
        time_ms,
        families,
    }
}

/// A W3C `traceparent` whose sampled flag is off (ids only need to be valid: nothing of the
/// trace is recorded).
fn unsampled_traceparent() -> String {
    let now = u128::try_from(now_us()).unwrap_or(1);
    format!("00-{:032x}-{:016x}-00", now.max(1), 1)
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<Family>, String> {
    let response = client
        .get(url)
        .header(reqwest::header::ACCEPT, ACCEPT)
        .header("traceparent", unsampled_traceparent())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    let text = response.text().await.map_err(|e| e.to_string())?;
    parse::parse(&text).map_err(|e| e.to_string())
}
