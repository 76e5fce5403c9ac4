//! `/admin/faults`: the operator lists, sets and clears a service's faults.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{Fault, FaultSpec, ROUTE};
use crate::error::ApiError;
use crate::faults::FaultState;
use crate::identity::Caller;

/// `GET /admin/faults` (list), `POST /admin/faults` (add one), `DELETE /admin/faults` (clear),
/// `DELETE /admin/faults/{id}` (remove one).
pub fn admin_routes(state: FaultState) -> Router {
    Router::new()
        .route(ROUTE, get(list).post(add).delete(clear))
        .route(&format!("{ROUTE}/{{id}}"), delete(remove))
        .with_state(state)
}

/// The operator only: tokens or not, nobody else changes faults.
fn operator_only(caller: Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Unchecked => Err(Caller::Anonymous.refuse("Fault injection")),
        other => Err(other.refuse("Fault injection")),
    }
}

#[derive(Serialize, Deserialize)]
pub struct FaultList {
    pub faults: Vec<Fault>,
}

async fn list(caller: Caller, State(st): State<FaultState>) -> Result<Json<FaultList>, ApiError> {
    operator_only(caller)?;
    Ok(Json(FaultList {
        faults: st.faults.list(),
    }))
}

async fn add(
    caller: Caller,
    State(st): State<FaultState>,
    body: Result<Json<FaultSpec>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Fault>), ApiError> {
    operator_only(caller)?;
    let Json(spec) = body.map_err(|e| ApiError::bad_request("invalid_fault", e.body_text()))?;
    let fault = st
        .faults
        .add(spec)
        .map_err(|e| ApiError::bad_request("invalid_fault", e.to_string()))?;
    tracing::warn!(fault.id = fault.id, fault.type = fault.spec.kind.name(), fault = %fault.spec, "Fault set");
    Ok((StatusCode::CREATED, Json(fault)))
}

#[derive(Serialize, Deserialize)]
pub struct Cleared {
    pub cleared: usize,
}

async fn clear(caller: Caller, State(st): State<FaultState>) -> Result<Json<Cleared>, ApiError> {
    operator_only(caller)?;
    let cleared = st.faults.clear();
    tracing::info!(cleared, "Faults cleared");
    Ok(Json(Cleared { cleared }))
}

async fn remove(
    caller: Caller,
    State(st): State<FaultState>,
    Path(id): Path<String>,
) -> Result<Json<Cleared>, ApiError> {
    operator_only(caller)?;
    // Any id that is not in the list, a malformed one included, is not found.
    if !id.parse().is_ok_and(|id| st.faults.remove(id)) {
        return Err(ApiError::not_found(
            "fault_not_found",
            format!("No fault {id}"),
        ));
    }
    tracing::info!(fault.id = id, "Fault cleared");
    Ok(Json(Cleared { cleared: 1 }))
}
