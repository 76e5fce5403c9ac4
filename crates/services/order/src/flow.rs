//! The seed's `create_order`, made real: validate the user and products, reserve stock,
//! compute the total from the product service's prices, write the order, its event and its
//! outbox row in one transaction, compensate when that fails. Each step is a span.

use std::collections::HashMap;
use std::time::Instant;

use opentelemetry::{Array, KeyValue, Value as OtelValue};
use serde_json::{Value, json};
use tracemart_contracts::{LineItem, Product, Reservation};
use tracemart_telemetry::names::{baggage, event, span as span_name};
use tracemart_telemetry::{Metrics, UserSegment, record_error, record_event};
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::domain::{CURRENCY, NewOrder};
use crate::downstream::Downstream;
use crate::error::OrderError;
use crate::store::{OrderRecord, OrderStore};

/// Topic of the event announcing a new order.
pub const ORDER_CREATED_TOPIC: &str = "order.created";

#[derive(Clone)]
pub struct OrderFlow {
    pub store: OrderStore,
    pub downstream: Downstream,
    pub metrics: Metrics,
}

/// Settles an order's answer in the same transaction as the order (idempotency).
pub struct IdempotentAnswer<'a> {
    pub key: &'a str,
}

impl OrderFlow {
    /// Creates an order; `request_id` becomes the `order.correlation_id` baggage.
    pub async fn create(
        &self,
        order: NewOrder,
        request_id: &str,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<OrderRecord, OrderError> {
        let segment = UserSegment::of(order.user_id);
        let span = tracing::info_span!(
            target: "tracemart::order",
            "create_order",
            otel.name = span_name::CREATE_ORDER,
            operation_type = "business",
            user.id = %order.user_id,
            user.segment = segment.as_str(),
            order.user_id = order.user_id,
            order.items_count = order.items.len(),
            order.total_amount = Empty,
            order.currency = Empty,
            order.id = Empty,
            operation.result = Empty,
            operation.duration_ms = Empty,
        );
        tracemart_telemetry::with_baggage(
            &span,
            &[
                (baggage::ORDER_USER_ID, order.user_id.to_string()),
                (baggage::ORDER_CORRELATION_ID, request_id.to_owned()),
            ],
        );
        let start = Instant::now();
        let result = self
            .create_steps(&order, idem)
            .instrument(span.clone())
            .await;
        let elapsed = start.elapsed();
        span.record("operation.duration_ms", elapsed.as_secs_f64() * 1000.0);
        let trace_id = {
            let _enter = span.enter();
            tracemart_telemetry::current_trace_id()
        };
        match &result {
            Ok(o) => {
                span.record("operation.result", "success");
                self.metrics.order_created(
                    order.user_id,
                    o.total_amount,
                    CURRENCY,
                    trace_id.clone(),
                );
                self.metrics.order_processed("success", elapsed, trace_id);
            }
            Err(e) => {
                record_event(
                    &span,
                    event::ORDER_FAILED,
                    vec![
                        KeyValue::new("error.message", e.to_string()),
                        KeyValue::new("error.type", e.kind()),
                    ],
                );
                record_error(&span, e.kind(), e);
                self.metrics.order_processed("failed", elapsed, trace_id);
                let _enter = span.enter();
                tracing::warn!(user_id = order.user_id, items_count = order.items.len(), error = %e, error_type = e.kind(), "Order creation failed");
            }
        }
        result
    }

    async fn create_steps(
        &self,
        order: &NewOrder,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<OrderRecord, OrderError> {
        let current = Span::current();

        let user = self.validate_user(order.user_id).await?;
        record_event(
            &current,
            event::USER_VALIDATED,
            vec![KeyValue::new("user.membership", user.membership_level)],
        );

        let products = self.validate_products(&order.items).await?;
        let prices: HashMap<i64, i64> = products
            .iter()
            .map(|p| (p.id, tracemart_contracts::decimal_to_minor(p.price)))
            .collect();
        let total_value: i64 = order
            .items
            .iter()
            .map(|i| prices[&i.product_id] * i.quantity)
            .sum();
        record_event(
            &current,
            event::PRODUCTS_VALIDATED,
            vec![
                KeyValue::new("products.count", products.len() as i64),
                KeyValue::new(
                    "products.total_value",
                    tracemart_contracts::minor_to_decimal(total_value),
                ),
            ],
        );

        let reservation = self.reserve_inventory(&order.items).await?;
        record_event(
            &current,
            event::INVENTORY_RESERVED,
            vec![
                KeyValue::new("reservation.id", reservation.reservation_id.clone()),
                KeyValue::new("reservation.expires_at", reservation.expires_at.clone()),
            ],
        );

        let total_minor = calculate_total_amount(&order.items, &prices);
        let total = tracemart_contracts::minor_to_decimal(total_minor);
        current.record("order.total_amount", total);
        current.record("order.currency", CURRENCY);

        let record = OrderRecord {
            // Time-ordered (v7): new orders append to the id index and to `order_events`'
            // (order_id, seq) index instead of landing on a random page of each.
            order_id: uuid::Uuid::now_v7().to_string(),
            user_id: order.user_id,
            items: serde_json::to_value(&order.items).unwrap_or(Value::Null),
            total_amount: total,
            currency: CURRENCY.into(),
            shipping_address: Value::Object(order.shipping_address.clone()),
            reservation_id: reservation.reservation_id.clone(),
            status: "created".into(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            total_minor,
        };
        if let Err(e) = self.persist(&record, idem) {
            tracing::error!(error = %e, reservation.id = %record.reservation_id, "Writing the order failed; releasing the reservation");
            self.downstream.release(&record.reservation_id).await;
            return Err(e.into());
        }
        current.record("order.id", record.order_id.as_str());
        tracing::info!(
            order_id = %record.order_id,
            user_id = record.user_id,
            total_amount = record.total_amount,
            items_count = order.items.len(),
            "Order created successfully"
        );
        Ok(record)
    }

    async fn validate_user(&self, user_id: i64) -> Result<tracemart_contracts::User, OrderError> {
        let span = tracing::info_span!(target: "tracemart::order", "validate_user", otel.name = span_name::VALIDATE_USER, user.id = user_id, user.membership = Empty);
        step(&span, async {
            let user = self.downstream.user(user_id).await?;
            // The e-mail stays out of telemetry (the seed put it in span attributes).
            Span::current().record("user.membership", user.membership_level.as_str());
            Ok(user)
        })
        .await
    }

    async fn validate_products(&self, items: &[LineItem]) -> Result<Vec<Product>, OrderError> {
        let ids: Vec<i64> = items.iter().map(|i| i.product_id).collect();
        let span = tracing::info_span!(target: "tracemart::order", "validate_products", otel.name = span_name::VALIDATE_PRODUCTS, products.count = ids.len(), products.validated = Empty);
        span.set_attribute("products.ids", OtelValue::Array(Array::I64(ids.clone())));
        step(&span, async {
            let found = self.downstream.products(ids.clone()).await?;
            let missing: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !found.iter().any(|p| p.id == *id))
                .collect();
            if !missing.is_empty() {
                return Err(OrderError::ProductsNotFound(missing));
            }
            Span::current().record("products.validated", found.len());
            Ok(found)
        })
        .await
    }

    async fn reserve_inventory(&self, items: &[LineItem]) -> Result<Reservation, OrderError> {
        // Time-ordered (v7), like order ids: inventory's reservation indexes grow at the end.
        let reservation_id = uuid::Uuid::now_v7().to_string();
        let span = tracing::info_span!(
            target: "tracemart::order",
            "reserve_inventory",
            otel.name = span_name::RESERVE_INVENTORY,
            reservation.id = %reservation_id,
            reservation.expires_at = Empty,
        );
        step(&span, async {
            match self.downstream.reserve(&reservation_id, items).await {
                Ok(r) => {
                    Span::current().record("reservation.expires_at", r.expires_at.as_str());
                    Ok(r)
                }
                Err(OrderError::Call(e)) if !e.may_have_reached_service() => Err(e.into()),
                Err(e @ (OrderError::Call(_) | OrderError::Downstream { .. })) => {
                    // The reservation may have been made even though we got no answer.
                    self.downstream.release(&reservation_id).await;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The order, its `OrderCreated` event, its outbox row and (with a key) the idempotent
    /// answer, in one transaction. Synchronous: the writer is held for microseconds.
    fn persist(
        &self,
        record: &OrderRecord,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<(), tracemart_platform::DbError> {
        let (write, publish) = self.store.transaction(|tx| {
            let write = tracing::info_span!(
                target: "tracemart::order",
                "create_order_record",
                otel.name = span_name::CREATE_ORDER_RECORD,
                db.operation = "INSERT",
                db.operation.name = "INSERT",
                db.table = "orders",
                db.collection.name = "orders",
                db.system = "sqlite",
                order.id = %record.order_id,
            );
            write
                .in_scope(|| self.store.insert_order(tx, record))
                .inspect_err(|e| record_error(&write, "DatabaseError", e))?;

            let publish = tracing::info_span!(
                target: "tracemart::order",
                "publish_order_created_event",
                otel.name = span_name::PUBLISH_ORDER_CREATED_EVENT,
                event.type = ORDER_CREATED_TOPIC,
                event.order_id = %record.order_id,
                messaging.destination.name = ORDER_CREATED_TOPIC,
                messaging.operation.type = "publish",
            );
            let mut headers = http::HeaderMap::new();
            tracemart_telemetry::inject_context(&publish, &mut headers);
            let headers: serde_json::Map<String, Value> = headers
                .iter()
                .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.to_string(), Value::from(v))))
                .collect();
            let payload = json!({
                "event_type": ORDER_CREATED_TOPIC,
                "order_id": record.order_id,
                "user_id": record.user_id,
                "total_amount": record.total_amount,
                "currency": record.currency,
                "reservation_id": record.reservation_id,
                "created_at": record.created_at,
            });
            publish
                .in_scope(|| {
                    self.store.insert_outbox(
                        tx,
                        ORDER_CREATED_TOPIC,
                        &payload,
                        &Value::Object(headers),
                    )
                })
                .inspect_err(|e| record_error(&publish, "DatabaseError", e))?;

            if let Some(idem) = idem {
                let body = serde_json::to_string(record).unwrap_or_default();
                self.store.complete_key(tx, idem.key, 201, &body)?;
            }
            Ok((write, publish))
        })?;
        // Logged once committed, outside the writer.
        publish.in_scope(|| tracing::info!(event_type = ORDER_CREATED_TOPIC, order_id = %record.order_id, "Order created event published"));
        record_event(
            &write,
            event::ORDER_RECORD_WRITTEN,
            vec![KeyValue::new("order.id", record.order_id.clone())],
        );
        Ok(())
    }
}

/// Runs one step in `span`, marking the span failed if the step fails.
async fn step<T>(
    span: &Span,
    fut: impl std::future::Future<Output = Result<T, OrderError>>,
) -> Result<T, OrderError> {
    let result = fut.instrument(span.clone()).await;
    if let Err(e) = &result {
        record_error(span, e.kind(), e);
    }
    result
}

/// Integer cents, so the total is exact; one `item_calculated` event per line.
fn calculate_total_amount(items: &[LineItem], prices: &HashMap<i64, i64>) -> i64 {
    let span = tracing::info_span!(
        target: "tracemart::order",
        "calculate_total_amount",
        otel.name = span_name::CALCULATE_TOTAL_AMOUNT,
        total.amount = Empty,
        total.currency = CURRENCY,
    );
    let mut total = 0;
    for item in items {
        let unit = prices[&item.product_id];
        let line = unit * item.quantity;
        total += line;
        record_event(
            &span,
            event::ITEM_CALCULATED,
            vec![
                KeyValue::new("product_id", item.product_id),
                KeyValue::new("quantity", item.quantity),
                KeyValue::new("unit_price", tracemart_contracts::minor_to_decimal(unit)),
                KeyValue::new("item_total", tracemart_contracts::minor_to_decimal(line)),
            ],
        );
    }
    span.record("total.amount", tracemart_contracts::minor_to_decimal(total));
    total
}
