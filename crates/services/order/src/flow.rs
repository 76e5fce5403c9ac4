//! The seed's `create_order`, made real: validate the user and products, reserve stock,
//! compute the total from the product service's prices, write the order, its event, its
//! `order.created` message and its expiry in one transaction. A reservation that no order
//! will hold (its answer was lost, or the write failed) is handed to the outbox for release:
//! no compensation waits inside the request. Each step is a span. The flow also owns the
//! request's idempotency key: claim, replay and completion.

use std::time::Instant;

use opentelemetry::{Array, KeyValue, Value as OtelValue};
use tracemart_contracts::events::topic;
use tracemart_contracts::{LineItem, Money, ProductId, Reservation, UserId};
use tracemart_events::Outbox;
use tracemart_telemetry::events::{
    BusinessEvent, InventoryReserved, ItemCalculated, OrderCreated, OrderFailed,
    OrderRecordWritten, ProductsValidated, UserValidated,
};
use tracemart_telemetry::names::attr::{
    db, operation, order as order_attr, products, published, reservation, total, user,
};
use tracemart_telemetry::names::{baggage, span as span_name};
use tracemart_telemetry::{Metrics, Span, UserSegment};

use crate::commands::{OrphanReservation, command};
use crate::domain::{CURRENCY, IdempotencyKey, NewOrder, Priced};
use crate::downstream::Downstream;
use crate::error::OrderError;
use crate::schema::OrderView;
use crate::store::{Claim, OrderStore, Placement};
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
        match self.store.claim_key(&key.0, &order.canonical()).await? {
            Claim::New => {
                let idem = IdempotentAnswer { key: &key.0 };
                let result = self.create(order, request_id, Some(idem)).await;
                if result.is_err()
                    && let Err(e) = self.store.release_key(&key.0).await
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
        let parent = tracemart_telemetry::with_baggage(&[
            (baggage::ORDER_USER_ID, order.user_id.to_string()),
            (baggage::ORDER_CORRELATION_ID, request_id.to_owned()),
        ]);
        let span = Span::internal(
            tracemart_telemetry::span_site!("tracemart::order"),
            span_name::CREATE_ORDER,
        )
        .attributes([
            KeyValue::new(operation::TYPE, "business"),
            KeyValue::new(user::ID, order.user_id.to_string()),
            KeyValue::new(user::SEGMENT, segment.as_str()),
            KeyValue::new(order_attr::USER_ID, order.user_id.0),
            KeyValue::new(order_attr::ITEMS_COUNT, order.items.len() as i64),
        ])
        .start_in(&parent);
        let start = Instant::now();
        let result = span
            .instrument(self.create_steps(&order, request_id, idem))
            .await;
        let elapsed = start.elapsed();
        span.set_attribute(KeyValue::new(
            operation::DURATION_MS,
            elapsed.as_secs_f64() * 1000.0,
        ));
        // Emitted inside the span: its events, exemplars and log line belong to this order.
        span.in_scope(|| match &result {
            Ok(o) => {
                span.set_attribute(KeyValue::new(operation::RESULT, "success"));
                OrderCreated {
                    metrics: &self.metrics,
                    order_id: &o.order_id,
                    user_id: order.user_id.0,
                    total_amount: o.total_amount.to_decimal(),
                    currency: CURRENCY,
                    items_count: order.items.len(),
                    elapsed,
                }
                .emit();
            }
            Err(e) => OrderFailed {
                metrics: &self.metrics,
                user_id: order.user_id.0,
                items_count: order.items.len(),
                error_type: e.kind(),
                error: e,
                unexpected: matches!(e, OrderError::Db(_)),
                elapsed,
            }
            .emit(),
        });
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
        UserValidated {
            membership: &user.membership_level,
        }
        .emit();

        let priced = self.validate_products(&order.items).await?;
        ProductsValidated {
            count: priced.lines.len(),
            total_value: priced.total.to_decimal(),
        }
        .emit();

        let reservation = self.reserve_inventory(&order.items).await?;
        InventoryReserved {
            reservation_id: &reservation.reservation_id,
            expires_at: &reservation.expires_at,
        }
        .emit();

        let total = calculate_total_amount(&priced);
        current.set_attribute(KeyValue::new(order_attr::TOTAL_AMOUNT, total.to_decimal()));
        current.set_attribute(KeyValue::new(order_attr::CURRENCY, CURRENCY));

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
        if let Err(e) = self.persist(&created, &view, request_id, idem).await {
            // Logged once: by the order's failure (the error) and the release (the reservation).
            self.abandon_reservation(&created.reservation_id).await;
            return Err(e.into());
        }
        current.set_attribute(KeyValue::new(order_attr::ID, created.order_id.clone()));
        Ok(view)
    }

    async fn validate_user(
        &self,
        user_id: UserId,
    ) -> Result<tracemart_contracts::User, OrderError> {
        let span = Span::internal(
            tracemart_telemetry::span_site!("tracemart::order"),
            span_name::VALIDATE_USER,
        )
        .attribute(KeyValue::new(user::ID, user_id.0))
        .start();
        step(&span, async {
            let user = self.downstream.user(user_id).await?;
            // The e-mail stays out of telemetry (the seed put it in span attributes).
            span.set_attribute(KeyValue::new(
                user::MEMBERSHIP,
                user.membership_level.clone(),
            ));
            Ok(user)
        })
        .await
    }

    /// Checks that every product exists and prices the order at its prices.
    async fn validate_products(&self, items: &[LineItem]) -> Result<Priced, OrderError> {
        let ids: Vec<ProductId> = items.iter().map(|i| i.product_id).collect();
        let span = Span::internal(
            tracemart_telemetry::span_site!("tracemart::order"),
            span_name::VALIDATE_PRODUCTS,
        )
        .attributes([
            KeyValue::new(products::COUNT, ids.len() as i64),
            KeyValue::new(
                products::IDS,
                OtelValue::Array(Array::I64(ids.iter().map(|id| id.0).collect())),
            ),
        ])
        .start();
        step(&span, async {
            let prices = self.downstream.prices(&ids).await?;
            let priced = Priced::new(items, &prices)?;
            span.set_attribute(KeyValue::new(products::VALIDATED, prices.len() as i64));
            Ok(priced)
        })
        .await
    }

    async fn reserve_inventory(&self, items: &[LineItem]) -> Result<Reservation, OrderError> {
        // Time-ordered (v7), like order ids: inventory's reservation indexes grow at the end.
        let reservation_id = uuid::Uuid::now_v7().to_string();
        let span = Span::internal(
            tracemart_telemetry::span_site!("tracemart::order"),
            span_name::RESERVE_INVENTORY,
        )
        .attribute(KeyValue::new(reservation::ID, reservation_id.clone()))
        .start();
        step(&span, async {
            match self.downstream.reserve(&reservation_id, items).await {
                Ok(r) => {
                    span.set_attribute(KeyValue::new(
                        reservation::EXPIRES_AT,
                        r.expires_at.clone(),
                    ));
                    Ok(r)
                }
                Err(OrderError::Call(e)) if !e.may_have_reached_service() => Err(e.into()),
                Err(e @ (OrderError::Call(_) | OrderError::Downstream { .. })) => {
                    // The reservation may have been made even though we got no answer.
                    self.abandon_reservation(&reservation_id).await;
                    Err(e)
                }
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// The order, its `OrderCreated` event, its `order.created` message, its expiry and
    /// (with a key) the idempotent answer, in one transaction.
    async fn persist(
        &self,
        created: &Created,
        view: &OrderView,
        request_id: &str,
        idem: Option<IdempotentAnswer<'_>>,
    ) -> Result<(), tracemart_platform::DbError> {
        let order_id = created.order_id.as_str();
        let expires_at = created
            .reservation_expires_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(
                || chrono::Utc::now() + self.downstream.reservation_ttl,
                |t| t.with_timezone(&chrono::Utc),
            );
        let system = self.store.system_name();
        let write = Span::internal(
            tracemart_telemetry::span_site!("tracemart::order"),
            span_name::CREATE_ORDER_RECORD,
        )
        .attributes([
            KeyValue::new(db::OPERATION, "INSERT"),
            KeyValue::new(db::OPERATION_NAME, "INSERT"),
            KeyValue::new(db::TABLE, "orders"),
            KeyValue::new(db::COLLECTION_NAME, "orders"),
            KeyValue::new(db::SYSTEM, system),
            KeyValue::new(db::SYSTEM_NAME, system),
            KeyValue::new(order_attr::ID, order_id.to_owned()),
        ])
        .start();
        let placement = Placement {
            created,
            cause: format!("POST /orders {request_id}"),
            trace_id: tracemart_telemetry::current_trace_id(),
            write_span: &write,
            publish_span: &|id| publish_span(&self.outbox, id),
            expires_at,
            answer: idem.map(|idem| (idem.key, serde_json::to_string(view).unwrap_or_default())),
        };
        let publish = self.store.place(&self.outbox, &placement).await?;
        // Logged once committed.
        publish.in_scope(|| {
            tracing::info!(
                event_type = topic::ORDER_CREATED,
                order_id,
                "Order created event published"
            )
        });
        write.in_scope(|| OrderRecordWritten { order_id }.emit());
        Ok(())
    }

    /// Hands a reservation no order will hold to the outbox, to be released by the relay
    /// (retried until inventory answers) instead of inside this request. If even that write
    /// fails, the reservation is released when it expires.
    async fn abandon_reservation(&self, reservation_id: &str) {
        let orphan = OrphanReservation {
            reservation_id: reservation_id.to_owned(),
        };
        let queued = self
            .store
            .publish(
                &self.outbox,
                command::RELEASE_ORPHAN,
                reservation_id,
                &orphan,
            )
            .await;
        match queued {
            Ok(()) => tracing::info!(
                { reservation::ID } = reservation_id,
                "Reservation handed over for release"
            ),
            Err(e) => {
                tracing::error!({ reservation::ID } = reservation_id, error = %e, "Could not queue the release of a reservation; it will be released when it expires")
            }
        }
    }
}

/// The seed's PRODUCER span of an order's `order.created`.
fn publish_span(outbox: &Outbox, order_id: &str) -> Span {
    let span = outbox.producer_span(
        Some(span_name::PUBLISH_ORDER_CREATED_EVENT),
        topic::ORDER_CREATED,
        Some(order_id),
    );
    span.set_attribute(KeyValue::new(published::EVENT_TYPE, topic::ORDER_CREATED));
    span.set_attribute(KeyValue::new(published::ORDER_ID, order_id.to_owned()));
    span
}

/// Runs one step in `span`, marking the span failed if the step fails.
async fn step<T>(
    span: &Span,
    fut: impl std::future::Future<Output = Result<T, OrderError>>,
) -> Result<T, OrderError> {
    let result = span.instrument(fut).await;
    if let Err(e) = &result {
        span.record_error(e.kind(), e);
    }
    result
}

/// The seed's step that totals the order: one `item_calculated` event per line of the
/// order priced (in integer cents, so the total is exact) when its products were validated.
fn calculate_total_amount(priced: &Priced) -> Money {
    let span = Span::internal(
        tracemart_telemetry::span_site!("tracemart::order"),
        span_name::CALCULATE_TOTAL_AMOUNT,
    )
    .attributes([
        KeyValue::new(total::AMOUNT, priced.total.to_decimal()),
        KeyValue::new(total::CURRENCY, CURRENCY),
    ])
    .start();
    span.in_scope(|| {
        for line in &priced.lines {
            ItemCalculated {
                product_id: line.item.product_id.0,
                quantity: line.item.quantity.get(),
                unit_price: line.unit_price.to_decimal(),
                item_total: line.total.to_decimal(),
            }
            .emit();
        }
    });
    priced.total
}
