//! The order service's part in the saga: it consumes payment's decision, commits or releases
//! the order's reservation at inventory in the same step, and drives what remains through
//! commands it sends itself (expire, orphan release, and a commit or release that could not be
//! done at once), appending each step to the order's stream. Inventory is the arbiter: a
//! reservation ends committed or released, never both, and the order follows what inventory
//! answered. An order leaves `created` once; every later message only adds to its audit trail.

use std::time::Duration;

use async_trait::async_trait;
use opentelemetry::KeyValue;
use tracemart_contracts::events::{PaymentDecided, topic};
use tracemart_events::{ConsumeError, Consumer, Handled, Message, Outbox};
use tracemart_platform::CallKind;
use tracemart_telemetry::events::{BusinessEvent, OrderEventAppended};
use tracemart_telemetry::names::attr;
use tracemart_telemetry::{Metrics, OrderOutcome, SagaOutcome, Span};

use crate::commands::{OrderCommand, OrphanReservation, command};
use crate::downstream::{Downstream, Transition};
use crate::error::OrderError;
use crate::store::{OrderStore, Recorded};
use crate::stream::{CancelReason, OrderEvent, OrderRow, OrderStatus};

/// Consumes payment's events and the order service's own commands.
#[derive(Clone)]
pub struct OrderSaga {
    pub store: OrderStore,
    pub outbox: Outbox,
    pub downstream: Downstream,
    pub metrics: Metrics,
}

/// What one message does to an order: events to append, messages to publish.
#[derive(Default)]
pub(crate) struct Step {
    pub(crate) events: Vec<OrderEvent>,
    pub(crate) commands: Vec<(&'static str, OrderCommand)>,
    /// Tell payment the order is cancelled (it voids an authorisation).
    pub(crate) cancelled: Option<CancelReason>,
}

impl Step {
    fn none() -> Self {
        Self::default()
    }

    fn cancel(reservation_id: &str, released: &str, reason: CancelReason, detail: String) -> Self {
        Self {
            events: vec![
                OrderEvent::ReservationReleased {
                    reservation_id: reservation_id.to_owned(),
                    reason: released.to_owned(),
                },
                OrderEvent::OrderCancelled { reason, detail },
            ],
            commands: Vec::new(),
            cancelled: Some(reason),
        }
    }
}

impl Step {
    /// What inventory's answer to a commit does to an order in `status`: confirmed if the
    /// stock was sold, cancelled if the reservation had been released first (it expired).
    fn after_commit(
        order_id: &str,
        status: OrderStatus,
        reservation: &str,
        outcome: &Transition,
    ) -> Self {
        match (status, outcome) {
            (OrderStatus::Created, Transition::Done) => Self {
                events: vec![
                    OrderEvent::ReservationCommitted {
                        reservation_id: reservation.to_owned(),
                    },
                    OrderEvent::OrderConfirmed {},
                ],
                ..Self::default()
            },
            (OrderStatus::Created, Transition::Refused(why)) => Self::cancel(
                reservation,
                why,
                CancelReason::ReservationExpired,
                format!("the reservation was released before the payment was settled: {why}"),
            ),
            (status, Transition::Done) => {
                tracing::error!({ attr::order::ID } = %order_id, status = status.as_str(), "Stock was committed for an order that is no longer pending");
                Self::none()
            }
            _ => Self::none(),
        }
    }

    /// A declined order whose stock inventory gave back: cancelled, with payment's reason.
    fn declined(reservation: &str, reason: Option<&str>) -> Self {
        Self::cancel(
            reservation,
            "payment declined",
            CancelReason::PaymentDeclined,
            reason.unwrap_or("payment declined").to_owned(),
        )
    }
}

fn retry(e: OrderError) -> ConsumeError {
    ConsumeError::Retry(e.to_string())
}

fn parse<'a, T: serde::Deserialize<'a>>(m: &'a Message) -> Result<T, ConsumeError> {
    m.payload()
        .map_err(|e| ConsumeError::unreadable(&m.topic, &e))
}

#[async_trait]
impl Consumer for OrderSaga {
    async fn handle(&self, m: &Message) -> Result<Handled, ConsumeError> {
        match m.topic.as_str() {
            topic::PAYMENT_AUTHORIZED | topic::PAYMENT_DECLINED => {
                let decided: PaymentDecided = parse(m)?;
                self.payment_decided(m, &decided).await
            }
            command::COMMIT_RESERVATION => self.commit(m, &parse(m)?).await,
            command::RELEASE_RESERVATION => self.release(m, &parse(m)?).await,
            command::EXPIRE => self.expire(m, &parse(m)?).await,
            command::RELEASE_ORPHAN => self.release_orphan(&parse(m)?).await,
            other => Err(ConsumeError::unknown_topic(other)),
        }
    }
}

impl OrderSaga {
    /// Payment decided: sells the order's stock and confirms it, or gives the stock back and
    /// cancels it, in the same step (for an order cancelled meanwhile, a new `order.cancelled`,
    /// so that payment voids what it authorised).
    ///
    /// Inventory is called before the transaction (a call must not hold the database's one
    /// writer) and before the message is claimed: if the call fails, the whole message is
    /// delivered again by payment's relay, and inventory's commit and release are idempotent.
    /// A race with the order's expiry is decided by inventory: the reservation ends committed
    /// or released, never both, and the order follows its answer.
    async fn payment_decided(
        &self,
        m: &Message,
        p: &PaymentDecided,
    ) -> Result<Handled, ConsumeError> {
        let authorized = p.status == "authorized";
        let acted = match self.pending(m, &p.order_id).await? {
            Some(row) if row.payment_id.as_deref() != Some(p.payment_id.as_str()) => {
                let reservation = row.created.reservation_id.clone();
                let outcome = if authorized {
                    self.downstream.commit(&reservation).await
                } else {
                    self.downstream
                        .release(&reservation, CallKind::Idempotent)
                        .await
                }
                .map_err(retry)?;
                Some((reservation, outcome))
            }
            _ => None,
        };
        self.record(m, &p.order_id, |row| {
            if row.payment_id.as_deref() == Some(p.payment_id.as_str()) {
                return Step::none();
            }
            let decision = if authorized {
                OrderEvent::PaymentAuthorized {
                    payment_id: p.payment_id.clone(),
                    amount: p.amount,
                }
            } else {
                OrderEvent::PaymentDeclined {
                    payment_id: p.payment_id.clone(),
                    reason: p.reason.clone().unwrap_or_default(),
                }
            };
            let mut step = match (row.status, authorized, &acted) {
                (OrderStatus::Cancelled, true, _) => Step {
                    cancelled: row.cancellation_reason,
                    ..Step::default()
                },
                (status, true, Some((reservation, outcome))) => {
                    Step::after_commit(&p.order_id, status, reservation, outcome)
                }
                (OrderStatus::Created, false, Some((reservation, Transition::Done))) => {
                    Step::declined(reservation, p.reason.as_deref())
                }
                // Inventory refused to give the stock back, or the order was not pending a
                // moment ago: a command does it (and dead-letters what cannot be done, where
                // `tracemart events dlq` shows and replays it).
                (OrderStatus::Created, false, Some((_, Transition::Refused(_))))
                | (OrderStatus::Created, _, None) => Step {
                    commands: vec![(
                        if authorized {
                            command::COMMIT_RESERVATION
                        } else {
                            command::RELEASE_RESERVATION
                        },
                        OrderCommand {
                            order_id: row.created.order_id.clone(),
                            reason: p.reason.clone().filter(|_| !authorized),
                        },
                    )],
                    ..Step::default()
                },
                _ => Step::none(),
            };
            step.events.insert(0, decision);
            step
        })
        .await
    }

    /// Sells the stock of a paid order and confirms it; if inventory released the
    /// reservation first (it expired), cancels it instead. (Payment's decision does this
    /// itself; the command remains for a decision recorded while the order was being read,
    /// and for commands already in an outbox.)
    async fn commit(&self, m: &Message, c: &OrderCommand) -> Result<Handled, ConsumeError> {
        let Some(row) = self.pending(m, &c.order_id).await? else {
            return self.record(m, &c.order_id, |_| Step::none()).await;
        };
        let reservation = row.created.reservation_id.clone();
        let outcome = self.downstream.commit(&reservation).await.map_err(retry)?;
        self.record(m, &c.order_id, |row| {
            Step::after_commit(&c.order_id, row.status, &reservation, &outcome)
        })
        .await
    }

    /// Gives back the stock of a declined order and cancels it.
    async fn release(&self, m: &Message, c: &OrderCommand) -> Result<Handled, ConsumeError> {
        let Some(row) = self.pending(m, &c.order_id).await? else {
            return self.record(m, &c.order_id, |_| Step::none()).await;
        };
        let (reservation, outcome) = self.release_held(&row).await?;
        if let Transition::Refused(why) = outcome {
            return Err(ConsumeError::Reject(format!(
                "cannot release the reservation of declined order {}: {why}",
                c.order_id
            )));
        }
        self.record(m, &c.order_id, |row| match row.status {
            OrderStatus::Created => Step::declined(&reservation, c.reason.as_deref()),
            _ => Step::none(),
        })
        .await
    }

    /// The reservation's time is up: an order with no payment decision is cancelled and its
    /// stock released. (A paid order is left to its commit, which inventory arbitrates.)
    async fn expire(&self, m: &Message, c: &OrderCommand) -> Result<Handled, ConsumeError> {
        let unpaid =
            |row: &OrderRow| row.status == OrderStatus::Created && row.payment_id.is_none();
        let row = match self.pending(m, &c.order_id).await? {
            Some(row) if unpaid(&row) => row,
            _ => return self.record(m, &c.order_id, |_| Step::none()).await,
        };
        let (reservation, outcome) = self.release_held(&row).await?;
        self.record(m, &c.order_id, |row| match outcome {
            Transition::Done if row.status == OrderStatus::Created => Step::cancel(
                &reservation,
                "reservation expired",
                CancelReason::PaymentTimeout,
                "no payment decision before the reservation expired".to_owned(),
            ),
            _ => Step::none(),
        })
        .await
    }

    /// Gives the order's held stock back (a failure is retried by the relay).
    async fn release_held(&self, row: &OrderRow) -> Result<(String, Transition), ConsumeError> {
        let reservation = row.created.reservation_id.clone();
        let outcome = self
            .downstream
            .release(&reservation, CallKind::Idempotent)
            .await
            .map_err(retry)?;
        Ok((reservation, outcome))
    }

    /// Releases a reservation no order holds (its answer was lost, or its order could not
    /// be written). Idempotent at inventory, so it needs no inbox.
    async fn release_orphan(&self, o: &OrphanReservation) -> Result<Handled, ConsumeError> {
        if self
            .store
            .holds_reservation(&o.reservation_id)
            .await
            .map_err(|e| retry(e.into()))?
        {
            return Ok(Handled::Processed);
        }
        match self
            .downstream
            .release(&o.reservation_id, CallKind::Compensation)
            .await
            .map_err(retry)?
        {
            Transition::Done => {
                tracing::info!({ attr::reservation::ID } = %o.reservation_id, "Released a reservation no order holds (compensation)")
            }
            Transition::Refused(why) => {
                tracing::error!({ attr::reservation::ID } = %o.reservation_id, why, "A reservation no order holds could not be released")
            }
        }
        Ok(Handled::Processed)
    }

    /// The order if it still waits on the saga and `m` is new to it; `None` otherwise (then
    /// the message is only recorded).
    async fn pending(&self, m: &Message, order_id: &str) -> Result<Option<OrderRow>, ConsumeError> {
        if self.store.seen(&m.id).await? {
            return Ok(None);
        }
        let row = self.store.get(order_id).await?;
        Ok(row.filter(|r| r.status == OrderStatus::Created))
    }

    /// Records `m` and what `decide` makes of the order as it stands, in one transaction
    /// ([`OrderStore::record`]); a final event is measured as the saga's end.
    async fn record(
        &self,
        m: &Message,
        order_id: &str,
        decide: impl FnOnce(&OrderRow) -> Step + Send,
    ) -> Result<Handled, ConsumeError> {
        let trace_id = tracemart_telemetry::current_trace_id();
        let span = Span::current();
        span.set_attribute(KeyValue::new(attr::order::ID, order_id.to_owned()));
        let recorded = self
            .store
            .record(&self.outbox, m, order_id, trace_id.as_deref(), decide)
            .await?;
        let (row, finished, events) = match recorded {
            Recorded::Duplicate => return Ok(Handled::Duplicate),
            Recorded::NoOrder => return Err(ConsumeError::Reject(format!("no order {order_id}"))),
            Recorded::Settled {
                row,
                finished,
                events,
            } => (row, finished, events),
        };
        span.set_attribute(KeyValue::new(attr::order::STATUS, row.status.as_str()));
        for event in &events {
            let (event_type, _) = event.to_columns();
            OrderEventAppended {
                event_type: &event_type,
            }
            .emit();
        }
        if finished {
            self.saga_ended(&row, trace_id.as_deref());
        }
        Ok(Handled::Processed)
    }

    fn saga_ended(&self, row: &OrderRow, trace_id: Option<&str>) {
        let outcome = match row.status {
            OrderStatus::Confirmed => SagaOutcome::Confirmed,
            _ => SagaOutcome::Cancelled,
        };
        let reason = row.cancellation_reason.map_or("", CancelReason::as_str);
        let elapsed = chrono::DateTime::parse_from_rfc3339(&row.created.created_at)
            .ok()
            .and_then(|t| {
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
                    .to_std()
                    .ok()
            })
            .unwrap_or(Duration::ZERO);
        self.metrics
            .saga_completed(OrderOutcome { outcome, reason }, elapsed, trace_id);
        tracing::info!({ attr::order::ID } = %row.created.order_id, status = row.status.as_str(), reason, saga_ms = elapsed.as_millis() as u64, "Order saga finished");
    }
}
