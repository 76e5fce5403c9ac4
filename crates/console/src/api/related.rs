//! `GET /api/console/traces/{traceID}/related`: the traces connected to one through span links
//! (the asynchronous hops of one piece of work), for the trace page's "Linked traces" view.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;

use super::AppState;
use super::params;
use crate::error::ApiError;
use crate::store::related::RelatedTrace;

/// Traces one answer lists at most, the asked one included.
pub(crate) const MAX_RELATED_TRACES: usize = 100;

/// The answer: every connected trace in start order, each with the links its spans make.
#[derive(Debug, Serialize)]
pub(crate) struct RelatedTraces {
    /// The asked trace (normalised).
    trace_id: String,
    traces: Vec<Related>,
    total: usize,
    limit: usize,
    /// More traces may be connected than listed (a bound of [`MAX_RELATED_TRACES`] traces, or
    /// of rows read, was reached).
    truncated: bool,
}

/// One connected trace.
#[derive(Debug, Serialize)]
struct Related {
    #[serde(flatten)]
    trace: RelatedTrace,
    /// Whether a span of the trace failed.
    error: bool,
    /// Whether this is the asked trace.
    current: bool,
}

/// `GET /api/console/traces/{traceID}/related`
pub(crate) async fn related_traces(
    State(st): State<AppState>,
    Path(raw): Path<String>,
) -> Result<Json<RelatedTraces>, ApiError> {
    let id = params::trace_id(&raw)?;
    let found = st
        .store
        .related(&id, MAX_RELATED_TRACES)
        .await?
        .ok_or_else(|| ApiError::NotFound("trace not found".into()))?;
    let traces: Vec<Related> = found
        .traces
        .into_iter()
        .map(|trace| Related {
            error: trace.error_count > 0,
            current: trace.trace_id == id,
            trace,
        })
        .collect();
    Ok(Json(RelatedTraces {
        total: traces.len(),
        trace_id: id,
        traces,
        limit: MAX_RELATED_TRACES,
        truncated: found.truncated,
    }))
}
