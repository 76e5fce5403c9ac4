//! Payment's part in the order saga: it decides on every `order.created` (authorised up to
//! the limit, declined above it, or declined on purpose by a `decline` fault), publishing the
//! decision from its own outbox in the same transaction as the payment; and it voids an
//! authorisation when `order.cancelled` comes.

use async_trait::async_trait;
use opentelemetry::KeyValue;
use tracemart_contracts::events::{OrderCancelled, OrderCreated, PaymentDecided, topic};
use tracemart_contracts::{Money, Payment, UserId, minor_to_decimal};
use tracemart_events::{ConsumeError, Consumer, Handled, Message, Outbox};
use tracemart_platform::faults::{Fault, FaultTarget, Faults};
use tracemart_telemetry::names::attr::{self, payment};
use tracemart_telemetry::names::span as span_name;
use tracemart_telemetry::{Metrics, Span};

use crate::store::{Decision, PaymentStore, StoredPayment, Voided};

/// Decides payments: amounts above `decline_over_minor` are declined, and the share a
/// `decline` fault in `faults` draws.
#[derive(Clone)]
pub struct PaymentSaga {
    pub store: PaymentStore,
    pub outbox: Outbox,
    pub decline_over_minor: i64,
    pub faults: Faults,
    pub metrics: Metrics,
}

/// The reason of a payment a `decline` fault declined.
const DECLINED_ON_PURPOSE: &str = "declined on purpose (fault injected)";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[async_trait]
impl Consumer for PaymentSaga {
    async fn handle(&self, message: &Message) -> Result<Handled, ConsumeError> {
        match message.topic.as_str() {
            topic::ORDER_CREATED => {
                let order: OrderCreated = message
                    .payload()
                    .map_err(|e| ConsumeError::unreadable(&message.topic, &e))?;
                self.decide(message, &order).await
            }
            topic::ORDER_CANCELLED => {
                let cancelled: OrderCancelled = message
                    .payload()
                    .map_err(|e| ConsumeError::unreadable(&message.topic, &e))?;
                self.void(message, &cancelled).await
            }
            other => Err(ConsumeError::unknown_topic(other)),
        }
    }
}

impl PaymentSaga {
    /// The payment of a new order and its announcement, in one transaction.
    async fn decide(
        &self,
        message: &Message,
        order: &OrderCreated,
    ) -> Result<Handled, ConsumeError> {
        let span = Span::internal(
            tracemart_telemetry::span_site!("tracemart::payment"),
            span_name::AUTHORIZE_PAYMENT,
        )
        .attributes([
            KeyValue::new(attr::order::ID, order.order_id.clone()),
            KeyValue::new(payment::AMOUNT, order.total.to_decimal()),
            KeyValue::new(payment::CURRENCY, order.currency.clone()),
        ])
        .start();
        // Inside the span: the payment's database spans and log line belong to it.
        let decided = span
            .instrument(async {
                let (new, forced) = self.new_payment(order);
                let payment_id = new.payment.payment_id.clone();
                let decision = self.store.decide(&self.outbox, message, new).await?;
                if let Decision::Decided(payment) = &decision {
                    let p = &payment.payment;
                    // Recorded once the declined payment is the one stored (not an earlier
                    // decision of the same order).
                    if let Some(fault) = forced.as_ref().filter(|_| p.payment_id == payment_id) {
                        fault.record(&self.metrics, &message.topic, "payment declined");
                    }
                    span.set_attribute(KeyValue::new(payment::STATUS, p.status.clone()));
                    tracing::info!({ attr::order::ID } = %p.order_id, { payment::STATUS } = %p.status, amount = p.amount, "Payment decided");
                }
                Ok::<_, ConsumeError>(decision)
            })
            .await?;
        Ok(match decided {
            Decision::Duplicate => Handled::Duplicate,
            Decision::Decided(_) => Handled::Processed,
        })
    }

    /// The payment `order` gets, and the `decline` fault that declined it, if one did.
    fn new_payment(&self, order: &OrderCreated) -> (StoredPayment, Option<Fault>) {
        let amount_minor = order.total.minor();
        let mut forced = None;
        let (status, reason) = if amount_minor > self.decline_over_minor {
            (
                "declined",
                Some(format!(
                    "amount {} over the authorisation limit of {}",
                    minor_to_decimal(amount_minor),
                    minor_to_decimal(self.decline_over_minor)
                )),
            )
        } else if let Some(fault) = self.faults.draw(FaultTarget::Payment, "").pop() {
            forced = Some(fault);
            ("declined", Some(DECLINED_ON_PURPOSE.to_owned()))
        } else {
            ("authorized", None)
        };
        let payment = StoredPayment {
            payment: Payment {
                payment_id: uuid::Uuid::now_v7().to_string(),
                order_id: order.order_id.clone(),
                user_id: order.user_id.0,
                amount: minor_to_decimal(amount_minor),
                currency: order.currency.clone(),
                status: status.to_owned(),
                reason,
                created_at: now(),
            },
            amount_minor,
        };
        (payment, forced)
    }

    /// Voids the authorisation of a cancelled order (nothing to do if it was declined).
    async fn void(
        &self,
        message: &Message,
        cancelled: &OrderCancelled,
    ) -> Result<Handled, ConsumeError> {
        match self
            .store
            .void(message, &cancelled.order_id, &cancelled.reason)
            .await?
        {
            Voided::Duplicate => Ok(Handled::Duplicate),
            Voided::Handled(voided) => {
                if voided {
                    tracing::info!({ attr::order::ID } = %cancelled.order_id, reason = %cancelled.reason, "Payment voided: its order was cancelled");
                }
                Ok(Handled::Processed)
            }
        }
    }
}

/// What a decided payment announces: its topic and message; nothing for a voided one (its
/// order was cancelled already).
pub(crate) fn announcement(payment: &StoredPayment) -> Option<(&'static str, PaymentDecided)> {
    let p = &payment.payment;
    let topic = match p.status.as_str() {
        "authorized" => topic::PAYMENT_AUTHORIZED,
        "declined" => topic::PAYMENT_DECLINED,
        _ => return None,
    };
    let decided = PaymentDecided {
        payment_id: p.payment_id.clone(),
        order_id: p.order_id.clone(),
        user_id: UserId(p.user_id),
        amount: Money::from_minor(payment.amount_minor),
        currency: p.currency.clone(),
        status: p.status.clone(),
        reason: p.reason.clone(),
        decided_at: now(),
    };
    Some((topic, decided))
}
