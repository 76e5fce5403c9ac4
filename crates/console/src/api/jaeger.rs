//! Jaeger's query HTTP API (the paths and JSON shapes Jaeger UI and Grafana's Jaeger data
//! source read); traces are rendered by `jaeger_trace.rs`, within the bounds of
//! `trace_reads.rs`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::jaeger_trace::JaegerTrace;
use super::params::{self, Pairs};
use crate::error::ApiError;
use crate::otlp::kind_name;

/// Jaeger's `structuredResponse`.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<T: Serialize> {
    data: T,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<()>,
}

impl<T: Serialize> Envelope<T> {
    pub(crate) fn new(data: T, total: usize) -> Json<Self> {
        Json(Self {
            data,
            total,
            limit: 0,
            offset: 0,
            errors: None,
        })
    }
}

/// `GET /api/services`
pub(crate) async fn services(
    State(st): State<AppState>,
) -> Result<Json<Envelope<Vec<String>>>, ApiError> {
    let services = st.store.services().await?;
    let n = services.len();
    Ok(Envelope::new(services, n))
}

/// `GET /api/services/{service}/operations`: operation names.
pub(crate) async fn service_operations(
    State(st): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<Envelope<Vec<String>>>, ApiError> {
    let mut names: Vec<String> = st
        .store
        .operations(&service)
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.dedup();
    let n = names.len();
    Ok(Envelope::new(names, n))
}

/// `GET /api/operations?service=&spanKind=`: `[{name, spanKind}]` (Jaeger ≥ 1.19).
pub(crate) async fn operations(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let service = params::get(&pairs, "service")
        .ok_or_else(|| ApiError::BadRequest("parameter 'service' is required".into()))?;
    let kind = params::get(&pairs, "spanKind");
    let ops: Vec<Value> = st
        .store
        .operations(service)
        .await?
        .into_iter()
        .map(|(name, k)| (name, kind_name(k).unwrap_or("")))
        .filter(|(_, k)| kind.is_none_or(|want| want == *k))
        .map(|(name, k)| json!({"name": name, "spanKind": k}))
        .collect();
    let n = ops.len();
    Ok(Envelope::new(ops, n))
}

/// `GET /api/traces/{traceID}`: the trace, or its earliest spans and a truncation marker when
/// it has more than an answer holds.
pub(crate) async fn trace(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let id = params::trace_id(&raw)?;
    traces_answer(&st, std::slice::from_ref(&id))
        .await?
        .ok_or_else(|| ApiError::NotFound("trace not found".into()))
}

/// The traces `ids` that have spans, in that order, as Jaeger's answer; `None` if none has.
async fn traces_answer(st: &AppState, ids: &[String]) -> Result<Option<Response>, ApiError> {
    st.reads
        .read(&st.store, ids, |traces, resources| {
            if traces.is_empty() {
                return None;
            }
            let data: Vec<JaegerTrace<'_>> = traces
                .iter()
                .map(|t| JaegerTrace::new(t, resources))
                .collect();
            let n = data.len();
            // Serialised here, while the spans are read and count against the budget.
            Some(Envelope::new(data, n).into_response())
        })
        .await
}

/// `GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=&limit=`
/// (or `traceID=` repeated, to fetch several).
pub(crate) async fn search(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Response, ApiError> {
    let ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "traceID")
        .map(|(_, v)| params::trace_id(v))
        .collect::<Result<_, _>>()?;
    let ids = if ids.is_empty() {
        let q = params::trace_query(&pairs)?;
        st.store.find_trace_ids(&q).await?
    } else {
        ids
    };
    // In the search's order (newest first); the answer's span budget is shared among them.
    match traces_answer(&st, &ids).await? {
        Some(answer) => Ok(answer),
        None => Ok(Envelope::new(Vec::<Value>::new(), 0).into_response()),
    }
}

/// `GET /api/dependencies?endTs=&lookback=` (milliseconds). Jaeger's links have no kind, so
/// a pair's calls and messages are summed into one `callCount`: Grafana then draws one edge
/// per pair of services, and a service reached only by messages is connected at all (the
/// console's map tells the kinds apart).
pub(crate) async fn dependencies(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let (start, end) = params::window_ms(&pairs, 24 * 3600 * 1_000_000)?;
    let mut totals: BTreeMap<(String, String), i64> = BTreeMap::new();
    for e in st.store.dependencies(start, end).await? {
        *totals.entry((e.parent, e.child)).or_default() += e.calls;
    }
    let edges: Vec<Value> = totals
        .into_iter()
        .map(|((parent, child), n)| json!({"parent": parent, "child": child, "callCount": n}))
        .collect();
    let n = edges.len();
    Ok(Envelope::new(edges, n))
}
