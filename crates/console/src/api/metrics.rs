//! `GET /api/console/metrics` (every metric with its labels) and
//! `GET /api/console/metrics/query` (one metric over time, with its exemplars).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use super::AppState;
use super::jaeger::Envelope;
use super::params::{self, Pairs};
use crate::error::ApiError;
use crate::metrics::series::{self, Aggregation, Axis};

const HOUR_US: i64 = 3_600_000_000;
/// Points a line has at most.
const MAX_POINTS: i64 = 1_000;
/// Points a line has when no step is given.
const DEFAULT_POINTS: i64 = 120;
/// Values listed per label key at most.
const MAX_LABEL_VALUES: usize = 200;

/// A metric as the list shows it.
#[derive(Debug, Serialize)]
pub(crate) struct MetricInfo {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    help: String,
    unit: String,
    /// The newest scrape holding it, in ms since the epoch (none once retention took it all).
    last_ms: Option<i64>,
    /// What the query endpoint computes for it, the default first.
    aggregations: &'static [&'static str],
    /// Each label key with its values (`le` of histogram buckets left out).
    labels: BTreeMap<String, BTreeSet<String>>,
}

/// `GET /api/console/metrics`
pub(crate) async fn list(
    State(st): State<AppState>,
) -> Result<Json<Envelope<Vec<MetricInfo>>>, ApiError> {
    let families = st.store.metric_families().await?;
    let mut labels: HashMap<i64, BTreeMap<String, BTreeSet<String>>> = HashMap::new();
    for s in st.store.metric_series(None).await? {
        let keys = labels.entry(s.family_id).or_default();
        for (k, v) in s.labels {
            if k == "le" {
                continue;
            }
            let values = keys.entry(k).or_default();
            if values.len() < MAX_LABEL_VALUES {
                values.insert(v);
            }
        }
    }
    let out: Vec<MetricInfo> = families
        .into_iter()
        .map(|(f, last_ms)| MetricInfo {
            aggregations: Aggregation::names_for(&f.kind),
            labels: labels.remove(&f.id).unwrap_or_default(),
            name: f.name,
            kind: f.kind,
            help: f.help,
            unit: f.unit,
            last_ms,
        })
        .collect();
    let n = out.len();
    Ok(Envelope::new(out, n))
}

/// One metric over time.
#[derive(Debug, Serialize)]
pub(crate) struct MetricQuery {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    unit: String,
    agg: String,
    by: Option<String>,
    step_ms: i64,
    /// The end of each step, in ms since the epoch: the time of each line's values.
    times: Vec<i64>,
    lines: Vec<LineOut>,
    /// Traces that made the matching series' values, newest first.
    exemplars: Vec<ExemplarOut>,
}

#[derive(Debug, Serialize)]
struct LineOut {
    /// The `by` label's value (absent without `by`).
    group: Option<String>,
    /// A value per step; null where the step has no data.
    values: Vec<Option<f64>>,
}

#[derive(Debug, Serialize)]
struct ExemplarOut {
    trace_id: String,
    time_ms: i64,
    value: f64,
    labels: BTreeMap<String, String>,
}

/// `GET /api/console/metrics/query?name=..&agg=rate|sum|p50|p90|p95|p99&labels={"k":"v"}
/// &by=label&lookback=1h&step=30s`
pub(crate) async fn query(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<MetricQuery>>, ApiError> {
    let name = params::get(&pairs, "name")
        .ok_or_else(|| ApiError::BadRequest("parameter 'name' is required".into()))?;
    let family = st
        .store
        .metric_family(name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no metric named {name:?}")))?;
    let agg_name = params::get(&pairs, "agg")
        .unwrap_or(Aggregation::names_for(&family.kind)[0])
        .to_owned();
    let agg = Aggregation::parse(&agg_name).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "agg must be one of rate, sum, p50, p90, p95, p99, not {agg_name:?}"
        ))
    })?;
    if matches!(agg, Aggregation::Quantile(_)) && family.kind != "histogram" {
        return Err(ApiError::BadRequest(format!(
            "{agg_name} needs a histogram; {name} is a {}",
            family.kind
        )));
    }
    let filter: BTreeMap<String, String> = match params::get(&pairs, "labels") {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            ApiError::BadRequest(format!(
                "labels must be a JSON object of label values ({e})"
            ))
        })?,
        None => BTreeMap::new(),
    };
    let by = params::get(&pairs, "by").map(str::to_owned);
    let (start_us, end_us) = params::window_ms(&pairs, HOUR_US)?;
    let span_ms = ((end_us - start_us) / 1000).max(1);
    let step_ms = match params::get(&pairs, "step") {
        Some(text) => params::micros("step", text)? / 1000,
        // Two scrape intervals at least, so that each step holds a scrape.
        None => (span_ms / DEFAULT_POINTS)
            .max(1_000)
            .max(2 * i64::try_from(st.scrape_interval.as_millis()).unwrap_or(0)),
    };
    if step_ms <= 0 || span_ms / step_ms > MAX_POINTS {
        return Err(ApiError::BadRequest(format!(
            "step must be at least 1ms and give at most {MAX_POINTS} points"
        )));
    }
    let buckets = usize::try_from((span_ms + step_ms - 1) / step_ms).unwrap_or(1);
    let axis = Axis {
        start_ms: end_us / 1000 - step_ms * buckets as i64,
        step_ms,
        buckets,
    };
    let series: Vec<_> = st
        .store
        .metric_series(Some(family.id))
        .await?
        .into_iter()
        .filter(|s| series::matches(s, &filter))
        .collect();
    // From a step earlier: the first step's increases need the value before them.
    let scrapes = st
        .store
        .metric_scrapes(family.id, axis.start_ms - step_ms)
        .await?;
    let lines = series::compute(&family.kind, &series, &scrapes, axis, agg, by.as_deref())
        .into_iter()
        .map(|l| LineOut {
            group: l.group,
            values: l.values,
        })
        .collect();
    let by_id: HashMap<i64, _> = series.iter().map(|s| (s.id, s)).collect();
    let exemplars = st
        .store
        .metric_exemplars(family.id, axis.start_ms)
        .await?
        .into_iter()
        .filter_map(|e| {
            let s = by_id.get(&e.series_id)?;
            let mut labels = s.labels.clone();
            labels.remove("le");
            Some(ExemplarOut {
                trace_id: e.trace_id,
                time_ms: e.time_ms,
                value: e.value,
                labels,
            })
        })
        .collect();
    Ok(Envelope::new(
        MetricQuery {
            name: family.name,
            kind: family.kind,
            unit: family.unit,
            agg: agg_name,
            by,
            step_ms,
            times: axis.times().collect(),
            lines,
            exemplars,
        },
        1,
    ))
}
