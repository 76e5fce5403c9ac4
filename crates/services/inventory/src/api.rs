//! HTTP handlers of the inventory service.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracemart_contracts::{LineItem, Reservation, ReserveRequest, StockLevel};
use tracemart_platform::{ApiError, ApiJson, parse_id};

use crate::store::{InventoryStore, ReserveError, TransitionError};

const MAX_ITEMS: usize = 100;
const MAX_QUANTITY: i64 = 1_000_000;
const MAX_EXPIRY_MINUTES: i64 = 24 * 60;

pub fn router(store: InventoryStore) -> Router {
    Router::new()
        .route("/inventory/reserve", post(reserve))
        .route(
            "/inventory/reservations/{reservation_id}/commit",
            post(commit),
        )
        .route(
            "/inventory/reservations/{reservation_id}/release",
            post(release),
        )
        .route("/inventory/{product_id}", get(stock))
        .with_state(store)
}

async fn stock(
    State(store): State<InventoryStore>,
    Path(raw): Path<String>,
) -> Result<ApiJson<StockLevel>, ApiError> {
    let id = parse_id(&raw, "product")?;
    store.stock(id)?.map(ApiJson).ok_or_else(|| {
        ApiError::not_found(
            "product_not_found",
            format!("No stock record for product {id}"),
        )
    })
}

/// Merges duplicate product ids (quantities add up) and checks bounds.
fn normalise(items: &[LineItem]) -> Result<Vec<LineItem>, ApiError> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("items must hold 1 to {MAX_ITEMS} entries"),
        ));
    }
    let mut merged: BTreeMap<i64, i64> = BTreeMap::new();
    for item in items {
        if item.product_id <= 0 || !(1..=MAX_QUANTITY).contains(&item.quantity) {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "each item needs a positive product_id and a quantity from 1 to {MAX_QUANTITY}"
                ),
            ));
        }
        *merged.entry(item.product_id).or_default() += item.quantity;
    }
    Ok(merged
        .into_iter()
        .map(|(product_id, quantity)| LineItem {
            product_id,
            quantity,
        })
        .collect())
}

fn valid_reservation_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

async fn reserve(
    State(store): State<InventoryStore>,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<ApiJson<Reservation>, ApiError> {
    let items = normalise(&req.items)?;
    if !(1..=MAX_EXPIRY_MINUTES).contains(&req.expires_in_minutes) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("expires_in_minutes must be from 1 to {MAX_EXPIRY_MINUTES}"),
        ));
    }
    let id = match req.reservation_id {
        Some(id) if valid_reservation_id(&id) => id,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_field",
                "reservation_id must be 1 to 64 letters, digits or '-'",
            ));
        }
        None => uuid::Uuid::now_v7().to_string(),
    };
    let expires_at = chrono::Utc::now() + chrono::Duration::minutes(req.expires_in_minutes);
    match store.reserve(&id, &items, expires_at) {
        Ok(r) => {
            tracing::info!(reservation.id = %r.reservation_id, items = r.items.len(), "Reserved stock");
            Ok(ApiJson(r))
        }
        Err(e @ ReserveError::InsufficientStock { .. }) => {
            tracing::warn!(error = %e, "Reservation refused");
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "insufficient_stock",
                e.to_string(),
            ))
        }
        Err(e @ ReserveError::AlreadyReleased(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reservation_released",
            e.to_string(),
        )),
        Err(ReserveError::Db(e)) => Err(e.into()),
    }
}

async fn commit(
    State(store): State<InventoryStore>,
    Path(id): Path<String>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    transition(store.commit(&id), &id, "committed")
}

async fn release(
    State(store): State<InventoryStore>,
    Path(id): Path<String>,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    transition(store.release(&id), &id, "released")
}

fn transition(
    result: Result<(), TransitionError>,
    id: &str,
    status: &str,
) -> Result<ApiJson<serde_json::Value>, ApiError> {
    match result {
        Ok(()) => Ok(ApiJson(
            serde_json::json!({ "reservation_id": id, "status": status }),
        )),
        Err(e @ TransitionError::NotFound(_)) => {
            Err(ApiError::not_found("reservation_not_found", e.to_string()))
        }
        Err(e @ TransitionError::Conflict { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "reservation_conflict",
            e.to_string(),
        )),
        Err(TransitionError::Db(e)) => Err(e.into()),
    }
}
