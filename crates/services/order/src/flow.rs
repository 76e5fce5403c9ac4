//! The seed's `create_order`, made real: validate the user and products, reserve stock,
//! compute the total from the product service's prices, write the order, its event, its
//! `order.created` message and its expiry in one transaction. A reservation that no order
//! will hold (its answer was lost, or the write failed) is handed to the outbox for release:
//! no compensation waits inside the request. Each step is a span. The flow also owns the
//! request's idempotency key: claim, replay and completion.

use std::time::Instant;

use opentelemetry::{Array, KeyValue, Value as OtelValue};
use tracemart_contracts::events::{OrderCreated, topic};
use tracemart_contracts::{LineItem, Money, ProductId, Reservation, UserId};
use tracemart_events::{Outbox, producer_span};
use tracemart_telemetry::names::{baggage, event, span as span_name};
use tracemart_telemetry::{Metrics, UserSegment, record_error, record_event};
use tracing::field::Empty;
use tracing::{Instrument, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::commands::{OrderCommand, OrphanReservation, command, expiry_id};
use crate::domain::{CURRENCY, IdempotencyKey, NewOrder, Priced};
use crate::downstream::Downstream;
use crate::error::OrderError;
use crate::schema::OrderView;
use crate::store::{Claim, OrderStore};
use crate::stream::Created;

#[derive(Clone)]
pub struct OrderFlow {
    pub store: OrderStore,
    pub outbox: Outbox,
    pub downstream: Downstream,
    pub metrics: Metrics,
}

/// Settles an order's answer in the same transaction as the order (idempotency).
struct IdempotentAnswer<'a> {
    key: &'a str,
}

/// The answer to `POST /orders`.
pub enum Placed {
    Created(OrderView),
    /// The first answer to an earlier request with the same `Idempotency-Key`.
    Replayed {
        status: u16,
        body: String,
    },
}

impl OrderFlow {
    /// Places `order`, once per `key`: a retry with the same key and body gets the first
    /// answer; another body, or a request still running under the key, is refused. A failed
    /// attempt frees the key, so that the client's retry runs again.
    pub async fn place(
        &self,
        order: NewOrder,
        request_id: &str,
        key: Option<IdempotencyKey>,
    ) -> Result<Placed, OrderError> {
        let Some(key) = key else {
            return self
                .create(order, request_id, None)
                .await
                .map(Placed::Created);
        };
        match self.store.claim_key(&key.0, &order.canonical())? {
            Claim::New => {
                let idem = IdempotentAnswer { key: &key.0 };
                let result = self.create(order, request_id, Some(idem)).await;
                if result.is_err()
                    && let Err(e) = self.store.release_key(&key.0)
                {
                    tracing::error!(error = %e, "Could not free the idempotency key");
                }
                result.map(Placed::Created)
            }
            Claim::Replay { status, body } => {
                tracing::info!(idempotency_key = %key.0, "Replaying the first answer");
                Ok(Placed::Replayed { status, body })
            }
            Claim::Mismatch => Err(OrderError::IdempotencyKeyReused),
            Claim::InFlight => Err(OrderError::IdempotencyKeyInFlight),
        }
    }

    /// Creates an order; `request_id` becomes the `order.correlation_id` baggage.
    async fn create(
        &self,
        order: NewOrder,
        request_id: &str,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<OrderView, OrderError> {
        let segment = UserSegment::of(order.user_id.0);
        let span = tracing::info_span!(
            target: "tracemart::order",
            "create_order",
            otel.name = span_name::CREATE_ORDER,
            operation_type = "business",
            user.id = %order.user_id,
            user.segment = segment.as_str(),
            order.user_id = order.user_id.0,
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
            .create_steps(&order, request_id, idem)
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
                    order.user_id.0,
                    o.total_amount.to_decimal(),
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
                tracing::warn!(user_id = order.user_id.0, items_count = order.items.len(), error = %e, error_type = e.kind(), "Order creation failed");
            }
        }
        result
    }

    async fn create_steps(
        &self,
        order: &NewOrder,
        request_id: &str,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<OrderView, OrderError> {
        let current = Span::current();

        let user = self.validate_user(order.user_id).await?;
        record_event(
            &current,
            event::USER_VALIDATED,
            vec![KeyValue::new("user.membership", user.membership_level)],
        );

        let priced = self.validate_products(&order.items).await?;
        record_event(
            &current,
            event::PRODUCTS_VALIDATED,
            vec![
                KeyValue::new("products.count", priced.lines.len() as i64),
                KeyValue::new("products.total_value", priced.total.to_decimal()),
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

        let total = calculate_total_amount(&priced);
        current.record("order.total_amount", total.to_decimal());
        current.record("order.currency", CURRENCY);

        let created = Created {
            // Time-ordered (v7): new orders append to the id index and to `order_events`'
            // (order_id, seq) index instead of landing on a random page of each.
            order_id: uuid::Uuid::now_v7().to_string(),
            user_id: order.user_id,
            items: order.items.clone(),
            total,
            currency: CURRENCY.into(),
            shipping_address: order.shipping_address.clone(),
            reservation_id: reservation.reservation_id.clone(),
            reservation_expires_at: Some(reservation.expires_at.clone()),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        };
        let view = OrderView::answer(&created);
        if let Err(e) = self.persist(&created, &view, request_id, idem) {
            tracing::error!(error = %e, reservation.id = %created.reservation_id, "Writing the order failed; its reservation will be released");
            self.abandon_reservation(&created.reservation_id);
            return Err(e.into());
        }
        current.record("order.id", created.order_id.as_str());
        tracing::info!(
            order_id = %created.order_id,
            user_id = created.user_id.0,
            total_amount = created.total.to_decimal(),
            items_count = order.items.len(),
            "Order created successfully"
        );
        Ok(view)
    }

    async fn validate_user(
        &self,
        user_id: UserId,
    ) -> Result<tracemart_contracts::User, OrderError> {
        let span = tracing::info_span!(target: "tracemart::order", "validate_user", otel.name = span_name::VALIDATE_USER, user.id = user_id.0, user.membership = Empty);
        step(&span, async {
            let user = self.downstream.user(user_id).await?;
            // The e-mail stays out of telemetry (the seed put it in span attributes).
            Span::current().record("user.membership", user.membership_level.as_str());
            Ok(user)
        })
        .await
    }

    /// Checks that every product exists and prices the order at its prices.
    async fn validate_products(&self, items: &[LineItem]) -> Result<Priced, OrderError> {
        let ids: Vec<ProductId> = items.iter().map(|i| i.product_id).collect();
        let span = tracing::info_span!(target: "tracemart::order", "validate_products", otel.name = span_name::VALIDATE_PRODUCTS, products.count = ids.len(), products.validated = Empty);
        span.set_attribute(
            "products.ids",
            OtelValue::Array(Array::I64(ids.iter().map(|id| id.0).collect())),
        );
        step(&span, async {
            let prices = self.downstream.prices(&ids).await?;
            let priced = Priced::new(items, &prices)?;
            Span::current().record("products.validated", prices.len());
            Ok(priced)
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
                    self.abandon_reservation(&reservation_id);
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The order, its `OrderCreated` event, its `order.created` message, its expiry and
    /// (with a key) the idempotent answer, in one transaction. Synchronous: the writer is
    /// held for microseconds.
    fn persist(
        &self,
        created: &Created,
        view: &OrderView,
        request_id: &str,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<(), tracemart_platform::DbError> {
        let order_id = created.order_id.as_str();
        let trace_id = tracemart_telemetry::current_trace_id();
        let expires_at = created
            .reservation_expires_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(
                || chrono::Utc::now() + self.downstream.reservation_ttl,
                |t| t.with_timezone(&chrono::Utc),
            );
        let (write, publish) = self.outbox.transaction("orders", |tx| {
            let write = tracing::info_span!(
                target: "tracemart::order",
                "create_order_record",
                otel.name = span_name::CREATE_ORDER_RECORD,
                db.operation = "INSERT",
                db.operation.name = "INSERT",
                db.table = "orders",
                db.collection.name = "orders",
                db.system = "sqlite",
                order.id = %order_id,
            );
            let cause = format!("POST /orders {request_id}");
            write
                .in_scope(|| self.store.create(tx, created, &cause, trace_id.as_deref()))
                .inspect_err(|e| record_error(&write, "DatabaseError", e))?;

            let publish = producer_span(
                Some(span_name::PUBLISH_ORDER_CREATED_EVENT),
                topic::ORDER_CREATED,
                Some(order_id),
            );
            publish.set_attribute("event.type", topic::ORDER_CREATED);
            publish.set_attribute("event.order_id", order_id.to_owned());
            let message = OrderCreated {
                event_type: topic::ORDER_CREATED.to_owned(),
                order_id: order_id.to_owned(),
                user_id: created.user_id,
                total: created.total,
                currency: created.currency.clone(),
                reservation_id: created.reservation_id.clone(),
                reservation_expires_at: created.reservation_expires_at.clone(),
                created_at: created.created_at.clone(),
            };
            self.outbox
                .publish_in(tx, &publish, topic::ORDER_CREATED, Some(order_id), &message)
                .inspect_err(|e| record_error(&publish, "DatabaseError", e))?;
            let expire = OrderCommand {
                order_id: order_id.to_owned(),
                reason: None,
            };
            self.outbox.schedule(
                tx,
                &expiry_id(order_id),
                command::EXPIRE,
                Some(order_id),
                &expire,
                expires_at,
            )?;

            if let Some(idem) = idem {
                let body = serde_json::to_string(view).unwrap_or_default();
                self.store.complete_key(tx, idem.key, 201, &body)?;
            }
            Ok((write, publish))
        })?;
        // Logged once committed, outside the writer.
        publish.in_scope(|| {
            tracing::info!(
                event_type = topic::ORDER_CREATED,
                order_id,
                "Order created event published"
            )
        });
        record_event(
            &write,
            event::ORDER_RECORD_WRITTEN,
            vec![KeyValue::new("order.id", order_id.to_owned())],
        );
        Ok(())
    }

    /// Hands a reservation no order will hold to the outbox, to be released by the relay
    /// (retried until inventory answers) instead of inside this request. If even that write
    /// fails, the reservation is released when it expires.
    fn abandon_reservation(&self, reservation_id: &str) {
        let orphan = OrphanReservation {
            reservation_id: reservation_id.to_owned(),
        };
        let queued = self.outbox.transaction("event_outbox", |tx| {
            self.outbox
                .publish(tx, command::RELEASE_ORPHAN, Some(reservation_id), &orphan)
        });
        match queued {
            Ok(_) => tracing::info!(
                reservation.id = reservation_id,
                "Reservation handed over for release"
            ),
            Err(e) => {
                tracing::error!(reservation.id = reservation_id, error = %e, "Could not queue the release of a reservation; it will be released when it expires")
            }
        }
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

/// The seed's step that totals the order: one `item_calculated` event per line of the
/// order priced (in integer cents, so the total is exact) when its products were validated.
fn calculate_total_amount(priced: &Priced) -> Money {
    let span = tracing::info_span!(
        target: "tracemart::order",
        "calculate_total_amount",
        otel.name = span_name::CALCULATE_TOTAL_AMOUNT,
        total.amount = priced.total.to_decimal(),
        total.currency = CURRENCY,
    );
    for line in &priced.lines {
        record_event(
            &span,
            event::ITEM_CALCULATED,
            vec![
                KeyValue::new("product_id", line.item.product_id.0),
                KeyValue::new("quantity", line.item.quantity.get()),
                KeyValue::new("unit_price", line.unit_price.to_decimal()),
                KeyValue::new("item_total", line.total.to_decimal()),
            ],
        );
    }
    priced.total
}
