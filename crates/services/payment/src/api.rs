//! `POST /payments`: the payment made for an order.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tracemart_contracts::{Currency, ErrorBody, OrderId, Payment, PaymentRequest, UserId};
use tracemart_platform::ApiJson;
use tracemart_platform::{ServiceName, identity};
use utoipa::OpenApi;

use crate::domain::PaymentQuery;
use crate::error::PaymentError;
use crate::store::PaymentStore;

/// The contract of the payment service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(pay),
    components(schemas(Payment, PaymentRequest, OrderId, UserId, Currency, ErrorBody))
)]
pub struct PaymentApi;

pub fn router(store: PaymentStore) -> Router {
    // Payments are made by the saga; a direct one is the order service's or the operator's.
    identity::restrict(
        Router::new().route("/payments", post(pay)),
        identity::Allow {
            services: &[ServiceName::Order],
            admin: true,
        },
    )
    .with_state(store)
}

/// The payment of an order, if it matches. Payments are decided when `order.created`
/// arrives; this answers for one already made (idempotent by `order_id`) and refuses an order
/// the payment service has not seen (404), or a user or amount other than the order's (422).
/// The amount must be a whole number of cents above zero and the currency `USD`, the shop's
/// one currency (400 otherwise).
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = PaymentRequest,
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token's caller may not call this endpoint", body = ErrorBody),
        (status = 200, description = "The payment: `authorized`, `declined` or `voided`", body = Payment),
        (status = 400, description = "A field is missing or invalid (an amount that is not a positive whole number of cents, a currency other than USD), or the body is not a JSON object", body = ErrorBody),
        (status = 404, description = "No order with this id has reached the payment service", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "The user or amount is not the order's", body = ErrorBody)))]
async fn pay(
    State(store): State<PaymentStore>,
    ApiJson(req): ApiJson<PaymentRequest>,
) -> Result<ApiJson<Payment>, PaymentError> {
    let query = PaymentQuery::try_from(req)?;
    let stored = store
        .get(&query.order_id.to_string())
        .await?
        .ok_or(PaymentError::OrderNotFound(query.order_id))?;
    if !query.matches(&stored) {
        return Err(PaymentError::Mismatch);
    }
    Ok(ApiJson(stored.payment))
}
