//! HTTP handlers of the inventory service.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use tracemart_contracts::{
    ErrorBody, LineItem, ProductId, Reservation, ReservationStatus, ReserveRequest, StockLevel,
};
use tracemart_platform::ApiJson;
use tracemart_platform::json::ApiPath;
use tracemart_platform::{ServiceName, identity};
use tracemart_telemetry::names::attr;
use utoipa::OpenApi;

use crate::domain::{Hold, ReservationId, parse_product_id};
use crate::error::InventoryError;
use crate::schema::{ReservationIdParam, ReserveBody, ReserveLine};
use crate::store::InventoryStore;

/// The contract of the inventory service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(stock, reserve, commit, release),
    components(schemas(
        StockLevel,
        ProductId,
        ReserveBody,
        ReserveLine,
        ReservationIdParam,
        Reservation,
        ReservationStatus,
        LineItem,
        ErrorBody
    ))
)]
pub struct InventoryApi;

pub fn router(store: InventoryStore) -> Router {
    // Holding, selling and freeing stock is the order service's alone (so every reservation
    // is its own); stock levels are public.
    let orders_only = identity::restrict(
        Router::new()
            .route("/inventory/reserve", post(reserve))
            .route(
                "/inventory/reservations/{reservation_id}/commit",
                post(commit),
            )
            .route(
                "/inventory/reservations/{reservation_id}/release",
                post(release),
            ),
        identity::Allow {
            services: &[ServiceName::Order],
            admin: false,
        },
    );
    Router::new()
        .route("/inventory/{product_id}", get(stock))
        .merge(orders_only)
        .with_state(store)
}

/// Units of a product available and held.
#[utoipa::path(get, path = "/inventory/{product_id}", tag = "inventory",
    params(("product_id" = ProductId, Path, description = "A positive integer")),
    responses(
        (status = 200, description = "The stock", body = StockLevel),
        (status = 400, description = "Not a positive integer", body = ErrorBody),
        (status = 404, description = "No stock record for this product", body = ErrorBody)))]
async fn stock(
    State(store): State<InventoryStore>,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<StockLevel>, InventoryError> {
    let id = parse_product_id(&raw)?;
    store
        .stock(id)
        .await?
        .map(ApiJson)
        .ok_or(InventoryError::NoStock(id))
}

/// Holds stock of every item, or of none. Replaying a `reservation_id` holds it once.
#[utoipa::path(post, path = "/inventory/reserve", tag = "inventory", request_body = ReserveBody,
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token's caller may not call this endpoint", body = ErrorBody),
        (status = 200, description = "Held", body = Reservation),
        (status = 400, description = "A field is missing or invalid, or the body is not a JSON object", body = ErrorBody),
        (status = 409, description = "Not enough stock of an item (an unknown product has none), or the id was released", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 503, description = "The database is busy; nothing was held", body = ErrorBody)))]
async fn reserve(
    State(store): State<InventoryStore>,
    ApiJson(req): ApiJson<ReserveRequest>,
) -> Result<ApiJson<Reservation>, InventoryError> {
    let hold = Hold::try_from(req)?;
    let expires_at = chrono::Utc::now() + hold.duration;
    match store
        .reserve(hold.id.as_str(), &hold.items, expires_at)
        .await
    {
        Ok(r) => {
            tracing::info!({ attr::reservation::ID } = %r.reservation_id, items = r.items.len(), "Reserved stock");
            Ok(ApiJson(r))
        }
        Err(e @ InventoryError::InsufficientStock(_)) => {
            tracing::warn!(error = %e, "Reservation refused");
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Turns a held reservation into a sale (idempotent).
#[utoipa::path(post, path = "/inventory/reservations/{reservation_id}/commit", tag = "inventory",
    params(("reservation_id" = ReservationIdParam, Path)),
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token's caller may not call this endpoint", body = ErrorBody),
        (status = 200, description = "Committed", body = ReservationStatus),
        (status = 400, description = "Not a reservation id", body = ErrorBody),
        (status = 404, description = "No such reservation", body = ErrorBody),
        (status = 409, description = "Already released", body = ErrorBody),
        (status = 503, description = "The database is busy; nothing changed", body = ErrorBody)))]
async fn commit(
    State(store): State<InventoryStore>,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<ReservationStatus>, InventoryError> {
    let id = ReservationId::parse(&raw)?;
    store.commit(id.as_str()).await?;
    Ok(status(&id, "committed"))
}

/// Gives held stock back (idempotent; a release before its reservation refuses that id).
#[utoipa::path(post, path = "/inventory/reservations/{reservation_id}/release", tag = "inventory",
    params(("reservation_id" = ReservationIdParam, Path)),
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token's caller may not call this endpoint", body = ErrorBody),
        (status = 200, description = "Released", body = ReservationStatus),
        (status = 400, description = "Not a reservation id", body = ErrorBody),
        (status = 409, description = "Already committed", body = ErrorBody),
        (status = 503, description = "The database is busy; nothing changed", body = ErrorBody)))]
async fn release(
    State(store): State<InventoryStore>,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<ReservationStatus>, InventoryError> {
    let id = ReservationId::parse(&raw)?;
    store.release(id.as_str()).await?;
    Ok(status(&id, "released"))
}

fn status(id: &ReservationId, status: &str) -> ApiJson<ReservationStatus> {
    ApiJson(ReservationStatus {
        reservation_id: id.as_str().to_owned(),
        status: status.to_owned(),
    })
}
