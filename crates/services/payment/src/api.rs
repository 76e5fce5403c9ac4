//! `POST /payments`: the payment made for an order.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tracemart_contracts::{ErrorBody, Payment, PaymentRequest, decimal_to_minor};
use tracemart_platform::{ApiError, ApiJson};
use utoipa::OpenApi;

use crate::store::PaymentStore;

/// The contract of the payment service's own routes.
#[derive(OpenApi)]
#[openapi(paths(pay), components(schemas(Payment, PaymentRequest, ErrorBody)))]
pub struct PaymentApi;

pub fn router(store: PaymentStore) -> Router {
    Router::new()
        .route("/payments", post(pay))
        .with_state(store)
}

/// The payment of an order, if it matches. Payments are decided when `order.created`
/// arrives; this answers for one already made (idempotent by `order_id`) and refuses an order
/// the payment service has not seen, or a user, amount or currency other than the order's.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = PaymentRequest,
    responses(
        (status = 200, description = "The payment: `authorized`, `declined` or `voided`", body = Payment),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody),
        (status = 404, description = "No order with this id has reached the payment service", body = ErrorBody),
        (status = 422, description = "The user, amount or currency is not the order's", body = ErrorBody)))]
async fn pay(
    State(store): State<PaymentStore>,
    ApiJson(req): ApiJson<PaymentRequest>,
) -> Result<ApiJson<Payment>, ApiError> {
    if req.order_id.is_empty() || req.order_id.len() > 64 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "order_id must be 1 to 64 characters",
        ));
    }
    if !(req.amount.is_finite() && req.amount >= 0.0) || req.user_id <= 0 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "amount must be a non-negative number and user_id positive",
        ));
    }
    if req.currency.len() != 3 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "currency must be a three-letter code",
        ));
    }
    let Some(stored) = store.get(&req.order_id)? else {
        return Err(ApiError::not_found(
            "order_not_found",
            format!(
                "No payment for order {}: the payment service decides one when the order's order.created event arrives",
                req.order_id
            ),
        ));
    };
    let p = &stored.payment;
    if p.user_id != req.user_id
        || stored.amount_minor != decimal_to_minor(req.amount)
        || p.currency != req.currency
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_mismatch",
            "The user, amount or currency is not the order's",
        ));
    }
    Ok(ApiJson(stored.payment))
}
