//! The console's own JSON endpoints under `/api/console/...`: trace summaries for the search
//! list, a trace's logs, the service map, and rate / error / latency statistics (a trace's
//! linked traces are in `related.rs`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::jaeger::Envelope;
use super::jaeger_trace::parse_object;
use super::params::{self, Pairs};
use crate::error::ApiError;
use crate::percentile::nearest_rank;
use crate::store::failure::failed;
use crate::store::query::{Sample, StoredLog, TraceSummary};

const HOUR_US: i64 = 3_600_000_000;
/// Most time buckets a series may have.
const MAX_BUCKETS: i64 = 500;

/// Rate, error ratio and latency percentiles of a set of spans. `rate_per_s` is the average
/// over the window (or the step, for a point of a series); for a service, `current_rate_per_s`
/// is the rate over the window's last step, `step_s` long (the step a chart of the window
/// has), so a burst shows at the rate it ran rather than spread over the whole window.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stats {
    count: usize,
    errors: usize,
    rate_per_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_rate_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step_s: Option<f64>,
    error_ratio: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
}

impl Stats {
    fn of(samples: impl Iterator<Item = (i64, bool)>, window_us: i64) -> Self {
        let mut durations = Vec::new();
        let mut errors = 0;
        for (d, err) in samples {
            durations.push(d);
            errors += usize::from(err);
        }
        durations.sort_unstable();
        let count = durations.len();
        let pct = |p: f64| -> f64 {
            if durations.is_empty() {
                return 0.0;
            }
            nearest_rank(&durations, p) as f64 / 1000.0
        };
        Self {
            count,
            errors,
            rate_per_s: per_second(count, window_us),
            current_rate_per_s: None,
            step_s: None,
            error_ratio: if count == 0 {
                0.0
            } else {
                errors as f64 / count as f64
            },
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
        }
    }
}

fn per_second(count: usize, window_us: i64) -> f64 {
    count as f64 / (window_us.max(1) as f64 / 1e6)
}

fn error_samples(samples: &[Sample]) -> impl Iterator<Item = (i64, bool)> + '_ {
    samples
        .iter()
        .map(|s| (s.duration_us, failed(s.status_code)))
}

/// A service's statistics over `[start, end]`, with its rate over the last step.
fn entry_stats(samples: &[Sample], start: i64, end: i64) -> Stats {
    let step = default_step(end - start);
    let mut stats = Stats::of(error_samples(samples), end - start);
    let recent = samples.iter().filter(|s| s.start_us >= end - step).count();
    stats.current_rate_per_s = Some(per_second(recent, step));
    stats.step_s = Some(step as f64 / 1e6);
    stats
}

/// The step of a chart of a window: a sixtieth of it, at least a second.
fn default_step(span_us: i64) -> i64 {
    (span_us / 60).max(1_000_000)
}

/// `GET /api/console/traces`: like `/api/traces`, but summaries (for the results list), and
/// `status=error|ok`.
pub(crate) async fn trace_summaries(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<TraceSummary>>>, ApiError> {
    let q = params::trace_query(&pairs)?;
    let ids = st.store.find_trace_ids(&q).await?;
    let mut summaries = st.store.summaries(&ids).await?;
    if params::get(&pairs, "status") == Some("ok") {
        summaries.retain(|s| s.error_count == 0);
    }
    let n = summaries.len();
    Ok(Envelope::new(summaries, n))
}

/// `GET /api/console/traces/{traceID}/logs`: the trace's log records, oldest first.
pub(crate) async fn trace_logs(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let id = params::trace_id(&raw)?;
    let logs: Vec<Value> = st
        .store
        .logs_of(&id)
        .await?
        .into_iter()
        .map(log_json)
        .collect();
    let n = logs.len();
    Ok(Envelope::new(logs, n))
}

/// `GET /api/console/logs?service=&level=&q=&attr=&traceID=&lookback=&after=&limit=`: log
/// records of every service, newest first, and `cursor`: pass it as `after` to get only the
/// records stored since (a live tail).
pub(crate) async fn logs(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Value>, ApiError> {
    let q = params::log_query(&pairs)?;
    let found = st.store.search_logs(&q).await?;
    let logs: Vec<Value> = found.logs.into_iter().map(log_json).collect();
    Ok(Json(json!({
        "total": logs.len(),
        "data": logs,
        "cursor": found.cursor,
        "errors": null,
    })))
}

fn log_json(l: StoredLog) -> Value {
    let severity = if l.severity_text.is_empty() {
        severity_name(l.severity_number).to_owned()
    } else {
        l.severity_text
    };
    json!({
        "time": l.time_us,
        "severity": severity,
        "severity_number": l.severity_number,
        "body": l.body,
        "attributes": parse_object(&l.attributes),
        "service": l.service,
        "trace_id": l.trace_id,
        "span_id": l.span_id,
    })
}

/// OTLP severity number ranges to their short names.
fn severity_name(n: i32) -> &'static str {
    match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

/// `GET /api/console/services?lookback=1h`: each service's entry spans (server, consumer or
/// root): rate (window average and current), failed requests, p50/p95/p99.
pub(crate) async fn services(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let (start, end) = params::window_ms(&pairs, HOUR_US)?;
    let mut out = Vec::new();
    for service in st.store.services().await? {
        let samples = st.store.entry_samples(&service, start, end).await?;
        let stats = entry_stats(&samples, start, end);
        out.push(json!({"service": service, "stats": stats}));
    }
    let n = out.len();
    Ok(Envelope::new(out, n))
}

/// `GET /api/console/services/{service}/operations?lookback=1h`: statistics per operation.
pub(crate) async fn operations(
    State(st): State<AppState>,
    Path(service): Path<String>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let (start, end) = params::window_ms(&pairs, HOUR_US)?;
    let mut by_op: BTreeMap<String, Vec<(i64, bool)>> = BTreeMap::new();
    for s in st.store.service_samples(&service, start, end).await? {
        by_op
            .entry(s.operation)
            .or_default()
            .push((s.duration_us, failed(s.status_code)));
    }
    let out: Vec<Value> = by_op
        .into_iter()
        .map(|(op, samples)| {
            json!({"operation": op, "stats": Stats::of(samples.into_iter(), end - start)})
        })
        .collect();
    let n = out.len();
    Ok(Envelope::new(out, n))
}

/// `GET /api/console/stats?service=&operation=&lookback=1h&step=`: a time series of
/// statistics, one point per whole step ending at the window's end (by default a sixtieth of
/// the window, at least 1s), each point's rate per second over its step.
pub(crate) async fn series(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let service = params::get(&pairs, "service")
        .ok_or_else(|| ApiError::BadRequest("parameter 'service' is required".into()))?;
    let (start, end) = params::window_ms(&pairs, HOUR_US)?;
    let span = end - start;
    let step = match params::get(&pairs, "step") {
        Some(text) => {
            let d = crate::duration::parse_duration(text)
                .map_err(|e| ApiError::BadRequest(format!("cannot parse step: {e}")))?;
            i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
        }
        None => default_step(span),
    };
    if step <= 0 || span / step > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "step must be positive and give at most {MAX_BUCKETS} points"
        )));
    }
    let samples = match params::get(&pairs, "operation") {
        Some(op) => st.store.operation_samples(service, op, start, end).await?,
        None => st.store.entry_samples(service, start, end).await?,
    };
    // Whole steps that end at `end`: the last point is the current rate, not a partial step's
    // count spread over a full one (what is left over is at the window's old end).
    let steps = (span / step).max(1);
    let first = end - steps * step;
    let last = usize::try_from(steps - 1).unwrap_or(0);
    let mut grouped: Vec<Vec<(i64, bool)>> = vec![Vec::new(); last + 1];
    for s in samples.iter().filter(|s| s.start_us >= first) {
        let i = usize::try_from((s.start_us - first) / step).unwrap_or(0);
        // A span that started at `end` itself counts in the last step.
        if let Some(b) = grouped.get_mut(i.min(last)) {
            b.push((s.duration_us, failed(s.status_code)));
        }
    }
    let points: Vec<Value> = grouped
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let t = first + i64::try_from(i).unwrap_or(0) * step;
            json!({"time": t, "stats": Stats::of(b.into_iter(), step)})
        })
        .collect();
    let n = points.len();
    Ok(Envelope::new(points, n))
}

/// `GET /api/console/map?lookback=1h`: services as nodes; cross-service calls and messages as
/// edges, each with its `kind` (`call` or `message`; `calls` counts the messages of a message
/// edge).
pub(crate) async fn service_map(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Value>, ApiError> {
    let (start, end) = params::window_ms(&pairs, HOUR_US)?;
    let edges = st.store.dependencies(start, end).await?;
    let mut nodes = Vec::new();
    for service in st.store.services().await? {
        let samples = st.store.entry_samples(&service, start, end).await?;
        let stats = entry_stats(&samples, start, end);
        nodes.push(json!({"service": service, "stats": stats}));
    }
    let edges: Vec<Value> = edges
        .into_iter()
        .map(|e| {
            let ratio = if e.calls == 0 {
                0.0
            } else {
                e.errors as f64 / e.calls as f64
            };
            json!({"parent": e.parent, "child": e.child, "kind": e.kind, "calls": e.calls,
                   "errors": e.errors, "error_ratio": ratio})
        })
        .collect();
    Ok(Json(
        json!({"nodes": nodes, "edges": edges, "start": start, "end": end}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples = (1..=100).map(|ms| (ms * 1000, ms % 10 == 0));
        let s = Stats::of(samples, 10_000_000);
        assert_eq!(s.count, 100);
        assert_eq!(s.errors, 10);
        assert!((s.p50_ms - 50.0).abs() < f64::EPSILON);
        assert!((s.p95_ms - 95.0).abs() < f64::EPSILON);
        assert!((s.p99_ms - 99.0).abs() < f64::EPSILON);
        assert!((s.rate_per_s - 10.0).abs() < f64::EPSILON);
        assert!((s.error_ratio - 0.1).abs() < f64::EPSILON);
    }
}
