//! `POST /payments`.

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use tracemart_contracts::{ErrorBody, Payment, PaymentRequest, decimal_to_minor};
use tracemart_platform::{ApiError, ApiJson};
use utoipa::OpenApi;

use crate::store::PaymentStore;

/// Authorises payments up to a limit.
#[derive(Clone)]
pub struct Authoriser {
    pub store: PaymentStore,
    pub decline_over_minor: i64,
}

/// The contract of the payment service's own routes.
#[derive(OpenApi)]
#[openapi(paths(pay), components(schemas(Payment, PaymentRequest, ErrorBody)))]
pub struct PaymentApi;

pub fn router(authoriser: Authoriser) -> Router {
    Router::new()
        .route("/payments", post(pay))
        .with_state(authoriser)
}

/// Authorises or declines a payment; idempotent by `order_id` (a replay gets the first answer).
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = PaymentRequest,
    responses(
        (status = 200, description = "Decided: `authorized` or `declined`", body = Payment),
        (status = 400, description = "A field is missing or invalid", body = ErrorBody)))]
async fn pay(
    State(a): State<Authoriser>,
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
    let amount_minor = decimal_to_minor(req.amount);
    let (status, reason) = if amount_minor > a.decline_over_minor {
        (
            "declined",
            Some("amount over the authorisation limit".to_owned()),
        )
    } else {
        ("authorized", None)
    };
    let payment = Payment {
        payment_id: uuid::Uuid::new_v4().to_string(),
        order_id: req.order_id,
        user_id: req.user_id,
        amount: req.amount,
        currency: req.currency,
        status: status.into(),
        reason,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    let stored = a.store.insert_or_get(&payment, amount_minor)?;
    tracing::info!(order.id = %stored.order_id, payment.status = %stored.status, "Payment decided");
    Ok(ApiJson(stored))
}
