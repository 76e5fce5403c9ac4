//! HTTP handlers of the order service.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use opentelemetry::KeyValue;
use serde::Deserialize;
use serde_json::Value;
use tracemart_contracts::{ErrorBody, LineItem, OrderId, ProductId, UserId};
use tracemart_platform::ApiJson;
use tracemart_platform::identity::Caller;
use tracemart_platform::json::{ApiPath, ApiQuery};
use tracemart_telemetry::Span;
use tracemart_telemetry::names::{attr, span as span_name};
use utoipa::OpenApi;

use crate::domain::{IdempotencyKey, NewOrder, ShippingAddress, parse_order_id};
use crate::error::OrderError;
use crate::flow::{OrderFlow, Placed};
use crate::schema::{CreateOrderRequest, OrderEvents, OrderLine, OrderList, OrderView};
use crate::store::StoredEvent;
use crate::stream::OrderStatus;

const DEFAULT_LIST_LIMIT: i64 = 20;
const MAX_LIST_LIMIT: i64 = 100;

/// The contract of the order service's own routes.
#[derive(OpenApi)]
#[openapi(
    paths(create_order, get_order, list_orders, order_events),
    components(schemas(
        CreateOrderRequest,
        OrderLine,
        ShippingAddress,
        LineItem,
        OrderId,
        UserId,
        ProductId,
        OrderView,
        OrderStatus,
        OrderList,
        StoredEvent,
        OrderEvents,
        ErrorBody
    ))
)]
pub struct OrderApi;

pub fn router(flow: OrderFlow) -> Router {
    Router::new()
        .route("/orders", get(list_orders).post(create_order))
        .route("/orders/{order_id}", get(get_order))
        .route("/orders/{order_id}/events", get(order_events))
        .with_state(flow)
}

/// Places an order: checks the user, prices the items from the product service, holds the
/// stock, and stores the order, its `OrderCreated` event and its `order.created` message in
/// one transaction; the payment saga then confirms or cancels it. With `Idempotency-Key`, a
/// retry gets the first answer.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "1 to 255 visible ASCII characters")),
    responses(
        (status = 201, description = "Created", body = OrderView),
        (status = 400, description = "Invalid body or key; an unknown user or products (the seed's answer)", body = ErrorBody),
        (status = 409, description = "Not enough stock, or the same key still in progress", body = ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused with another body", body = ErrorBody),
        (status = 503, description = "A service it needs is unavailable; nothing was kept", body = ErrorBody)))]
async fn create_order(
    State(flow): State<OrderFlow>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Response {
    let request_id = tracemart_telemetry::current_request_id().unwrap_or_default();
    let key = match headers
        .get("idempotency-key")
        .map(|v| IdempotencyKey::parse(v.as_bytes()))
        .transpose()
    {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let order = match NewOrder::try_from(body) {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "Validation error");
            return e.into_response();
        }
    };
    match flow.place(order, &request_id, key).await {
        Ok(Placed::Created(view)) => (StatusCode::CREATED, ApiJson(view)).into_response(),
        Ok(Placed::Replayed { status, body }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// An order, with its status and when it changed.
#[utoipa::path(get, path = "/orders/{order_id}", tag = "orders",
    params(("order_id" = OrderId, Path, description = "A UUID")),
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token is another user's", body = ErrorBody),
        (status = 200, description = "The order", body = OrderView),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody)))]
async fn get_order(
    State(flow): State<OrderFlow>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<OrderView>, OrderError> {
    let id = parse_order_id(&raw)?.to_string();
    let span = Span::internal(
        tracemart_telemetry::span_site!("tracemart::order"),
        span_name::GET_ORDER,
    )
    .attribute(KeyValue::new(attr::order::ID, id.clone()))
    .start();
    span.instrument(async {
        tracing::info!(order_id = %id, "Retrieving order");
        let row = flow
            .store
            .get(&id)
            .await?
            .ok_or_else(|| OrderError::OrderNotFound(id.clone()))?;
        owned_by_caller(caller, row.created.user_id, "Reading this order")?;
        Ok(ApiJson(OrderView::from(row)))
    })
    .await
}

#[derive(Deserialize)]
struct ListQuery {
    user_id: Option<String>,
    limit: Option<String>,
}

/// A user's orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders",
    params(
        ("user_id" = UserId, Query, description = "Required"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20")),
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token is another user's", body = ErrorBody),
        (status = 200, description = "The orders", body = OrderList),
        (status = 400, description = "user_id missing, or a parameter out of range or given twice", body = ErrorBody)))]
async fn list_orders(
    State(flow): State<OrderFlow>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<ApiJson<OrderList>, OrderError> {
    let Some(raw_user) = q.user_id else {
        return Err(OrderError::MissingQuery("user_id"));
    };
    let user_id = UserId::parse(&raw_user)
        .ok_or_else(|| OrderError::InvalidUserId(raw_user.chars().take(64).collect()))?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIST_LIMIT,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIST_LIMIT).contains(n))
            .ok_or_else(|| {
                OrderError::InvalidQuery(format!(
                    "limit must be an integer from 1 to {MAX_LIST_LIMIT}"
                ))
            })?,
    };
    owned_by_caller(caller, user_id, "Reading this user's orders")?;
    let orders = flow
        .store
        .list_for_user(user_id, limit)
        .await?
        .into_iter()
        .map(OrderView::from)
        .collect();
    Ok(ApiJson(OrderList {
        user_id,
        limit,
        orders,
    }))
}

/// The order's event stream, its audit trail: each event with its time, its cause and the
/// trace that appended it.
#[utoipa::path(get, path = "/orders/{order_id}/events", tag = "orders",
    params(("order_id" = OrderId, Path, description = "A UUID")),
    responses(
        (status = 401, description = "No token, or one that is not valid", body = ErrorBody),
        (status = 403, description = "The token is another user's", body = ErrorBody),
        (status = 200, description = "The events, oldest first", body = OrderEvents),
        (status = 400, description = "Not a UUID", body = ErrorBody),
        (status = 404, description = "No such order", body = ErrorBody)))]
async fn order_events(
    State(flow): State<OrderFlow>,
    caller: Caller,
    ApiPath(raw): ApiPath<String>,
) -> Result<ApiJson<OrderEvents>, OrderError> {
    let id = parse_order_id(&raw)?.to_string();
    let row = flow
        .store
        .get(&id)
        .await?
        .ok_or_else(|| OrderError::OrderNotFound(id.clone()))?;
    owned_by_caller(caller, row.created.user_id, "Reading this order's events")?;
    let events = flow.store.events(&id).await?;
    if events.is_empty() {
        return Err(OrderError::OrderNotFound(id));
    }
    Ok(ApiJson(OrderEvents {
        order_id: id,
        events,
    }))
}

/// Orders are their user's (and the operator's) to read: shipping addresses are personal.
fn owned_by_caller(caller: Caller, owner: UserId, what: &'static str) -> Result<(), OrderError> {
    if caller.may_act_for_user(owner.0) {
        Ok(())
    } else {
        Err(OrderError::Refused(caller, what))
    }
}
