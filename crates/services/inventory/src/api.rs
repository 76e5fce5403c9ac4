//! HTTP handlers of the inventory service.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use tracemart_contracts::{
    ErrorBody, LineItem, ProductId, Quantity, Reservation, ReservationStatus, ReserveRequest,
    StockLevel,
};
use tracemart_platform::{ApiError, ApiJson, parse_id};
use utoipa::OpenApi;

use crate::store::{InventoryStore, ReserveError, TransitionError};

const MAX_ITEMS: usize = 100;
const MAX_QUANTITY: i64 = 1_000_000;
const MAX_EXPIRY_MINUTES: i64 = 24 * 60;

/// The contract of the inventory service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(stock, reserve, commit, release),
    components(schemas(
        StockLevel,
        ReserveRequest,
        Reservation,
        ReservationStatus,
        LineItem,
        ErrorBody
    ))
)]
pub struct InventoryApi;

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

/// Units of a product available and held.
#[utoipa::path(get, path = "/inventory/{product_id}", tag = "inventory",
    params(("product_id" = i64, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The stock", body = StockLevel),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No stock record for this product", body = ErrorBody)))]
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
    let mut merged: BTreeMap<ProductId, Quantity> = BTreeMap::new();
    for &item in items {
        if item.product_id.0 <= 0 || item.quantity.get() > MAX_QUANTITY {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "each item needs a positive product_id and a quantity from 1 to {MAX_QUANTITY}"
                ),
            ));
        }
        merged
            .entry(item.product_id)
            .and_modify(|q| *q = *q + item.quantity)
            .or_insert(item.quantity);
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

/// Holds stock of every item, or of none. Replaying a `reservation_id` holds it once.
#[utoipa::path(post, path = "/inventory/reserve", tag = "inventory", request_body = ReserveRequest,
    responses(
        (status = 200, description = "Held", body = Reservation),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 409, description = "Not enough stock of an item, or the id was released", body = ErrorBody)))]
async fn reserve(
    State(store): State<InventoryStore>,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<ApiJson<Reservation>, ApiError> {
    let items = normalise(&req.items)?;
    let hold = match (req.expires_in_seconds, req.expires_in_minutes) {
        (Some(s), _) if (1..=MAX_EXPIRY_MINUTES * 60).contains(&s) => chrono::Duration::seconds(s),
        (None, Some(m)) if (1..=MAX_EXPIRY_MINUTES).contains(&m) => chrono::Duration::minutes(m),
        _ => {
            return Err(ApiError::bad_request(
                "invalid_field",
                format!(
                    "expires_in_seconds (1 to {}) or expires_in_minutes (1 to {MAX_EXPIRY_MINUTES}) is required",
                    MAX_EXPIRY_MINUTES * 60
                ),
            ));
        }
    };
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
    let expires_at = chrono::Utc::now() + hold;
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

/// Turns a held reservation into a sale (idempotent).
#[utoipa::path(post, path = "/inventory/reservations/{reservation_id}/commit", tag = "inventory",
    params(("reservation_id" = String, Path)),
    responses(
        (status = 200, description = "Committed", body = ReservationStatus),
        (status = 404, description = "No such reservation", body = ErrorBody),
        (status = 409, description = "Already released", body = ErrorBody)))]
async fn commit(
    State(store): State<InventoryStore>,
    Path(id): Path<String>,
) -> Result<ApiJson<ReservationStatus>, ApiError> {
    transition(store.commit(&id), &id, "committed")
}

/// Gives held stock back (idempotent; a release before its reservation refuses that id).
#[utoipa::path(post, path = "/inventory/reservations/{reservation_id}/release", tag = "inventory",
    params(("reservation_id" = String, Path)),
    responses(
        (status = 200, description = "Released", body = ReservationStatus),
        (status = 409, description = "Already committed", body = ErrorBody)))]
async fn release(
    State(store): State<InventoryStore>,
    Path(id): Path<String>,
) -> Result<ApiJson<ReservationStatus>, ApiError> {
    transition(store.release(&id), &id, "released")
}

fn transition(
    result: Result<(), TransitionError>,
    id: &str,
    status: &str,
) -> Result<ApiJson<ReservationStatus>, ApiError> {
    match result {
        Ok(()) => Ok(ApiJson(ReservationStatus {
            reservation_id: id.to_owned(),
            status: status.to_owned(),
        })),
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
