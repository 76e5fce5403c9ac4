//! Jaeger's query HTTP API (the paths and JSON shapes Jaeger UI and Grafana's Jaeger data
//! source read), with the OTLP-to-Jaeger tag conventions: `span.kind`, `error=true`,
//! `otel.status_code`, `otel.status_description`, `otel.scope.name`.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::params::{self, Pairs};
use crate::error::ApiError;
use crate::otlp::kind_name;
use crate::store::query::{SpanSet, StoredSpan};

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

/// `GET /api/traces/{traceID}`
pub(crate) async fn trace(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let id = params::trace_id(&raw)?;
    let set = st.store.spans_of(std::slice::from_ref(&id)).await?;
    if set.spans.is_empty() {
        return Err(ApiError::NotFound("trace not found".into()));
    }
    Ok(Envelope::new(traces_json(set), 1))
}

/// `GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=&limit=`
/// (or `traceID=` repeated, to fetch several).
pub(crate) async fn search(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
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
    let set = st.store.spans_of(&ids).await?;
    // Keep the search's order (newest first).
    let mut traces = traces_json(set);
    let rank: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    traces.sort_by_key(|t| {
        t.get("traceID")
            .and_then(Value::as_str)
            .and_then(|id| rank.get(id).copied())
            .unwrap_or(usize::MAX)
    });
    let n = traces.len();
    Ok(Envelope::new(traces, n))
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

/// Groups spans by trace, in Jaeger's trace shape.
pub(crate) fn traces_json(set: SpanSet) -> Vec<Value> {
    let mut order: Vec<String> = Vec::new();
    let mut by_trace: HashMap<String, Vec<StoredSpan>> = HashMap::new();
    for span in set.spans {
        if !by_trace.contains_key(&span.trace_id) {
            order.push(span.trace_id.clone());
        }
        by_trace
            .entry(span.trace_id.clone())
            .or_default()
            .push(span);
    }
    order
        .into_iter()
        .filter_map(|id| by_trace.remove(&id).map(|spans| (id, spans)))
        .map(|(id, spans)| {
            let mut processes = Map::new();
            let mut process_of: HashMap<i64, String> = HashMap::new();
            for s in &spans {
                if process_of.contains_key(&s.resource_id) {
                    continue;
                }
                let key = format!("p{}", process_of.len() + 1);
                let (service, attrs) = set
                    .resources
                    .get(&s.resource_id)
                    .map(|r| (r.service.clone(), parse_object(&r.attributes)))
                    .unwrap_or_else(|| (s.service.clone(), Map::new()));
                let tags: Vec<Value> = attrs
                    .into_iter()
                    .filter(|(k, _)| k != "service.name")
                    .map(|(k, v)| tag(&k, v))
                    .collect();
                processes.insert(key.clone(), json!({"serviceName": service, "tags": tags}));
                process_of.insert(s.resource_id, key);
            }
            let spans: Vec<Value> = spans
                .iter()
                .map(|s| {
                    span_json(
                        s,
                        process_of.get(&s.resource_id).map_or("p1", String::as_str),
                    )
                })
                .collect();
            json!({"traceID": id, "spans": spans, "processes": processes, "warnings": null})
        })
        .collect()
}

fn span_json(s: &StoredSpan, process_id: &str) -> Value {
    let mut references = Vec::new();
    if !s.parent_span_id.is_empty() {
        references.push(
            json!({"refType": "CHILD_OF", "traceID": s.trace_id, "spanID": s.parent_span_id}),
        );
    }
    for link in parse_array(&s.links) {
        references.push(json!({"refType": "FOLLOWS_FROM",
            "traceID": link.get("trace_id"), "spanID": link.get("span_id")}));
    }
    let mut tags: Vec<Value> = parse_object(&s.attributes)
        .into_iter()
        .map(|(k, v)| tag(&k, v))
        .collect();
    if let Some(kind) = kind_name(s.kind) {
        tags.push(tag("span.kind", Value::from(kind)));
    }
    match s.status_code {
        2 => {
            tags.push(tag("error", Value::Bool(true)));
            tags.push(tag("otel.status_code", Value::from("ERROR")));
        }
        1 => tags.push(tag("otel.status_code", Value::from("OK"))),
        _ => {}
    }
    if !s.status_message.is_empty() {
        tags.push(tag(
            "otel.status_description",
            Value::from(s.status_message.as_str()),
        ));
    }
    if !s.scope_name.is_empty() {
        tags.push(tag("otel.scope.name", Value::from(s.scope_name.as_str())));
    }
    if !s.scope_version.is_empty() {
        tags.push(tag(
            "otel.scope.version",
            Value::from(s.scope_version.as_str()),
        ));
    }
    let logs: Vec<Value> = parse_array(&s.events)
        .into_iter()
        .map(|e| {
            let mut fields = vec![tag("event", e.get("name").cloned().unwrap_or(Value::Null))];
            if let Some(Value::Object(attrs)) = e.get("attrs") {
                fields.extend(attrs.iter().map(|(k, v)| tag(k, v.clone())));
            }
            json!({"timestamp": e.get("t"), "fields": fields})
        })
        .collect();
    json!({
        "traceID": s.trace_id,
        "spanID": s.span_id,
        "operationName": s.operation,
        "references": references,
        "flags": 1,
        "startTime": s.start_us,
        "duration": s.duration_us,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": null,
    })
}

/// A Jaeger key/value with its type name.
fn tag(key: &str, value: Value) -> Value {
    let (ty, value) = match value {
        Value::Bool(b) => ("bool", Value::Bool(b)),
        Value::Number(n) if n.is_i64() || n.is_u64() => ("int64", Value::Number(n)),
        Value::Number(n) => ("float64", Value::Number(n)),
        Value::String(s) => ("string", Value::String(s)),
        Value::Null => ("string", Value::String(String::new())),
        other => ("string", Value::String(other.to_string())),
    };
    json!({"key": key, "type": ty, "value": value})
}

pub(crate) fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn parse_array(text: &str) -> Vec<Value> {
    match serde_json::from_str(text) {
        Ok(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}
