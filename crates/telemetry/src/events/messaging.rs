//! The facts of messaging: a relay could not deliver a message (the relay works outside any
//! request, so these have no span to mark: they are counted and logged), and a consumer
//! handled one, or failed to, inside its CONSUMER span.

use chrono::{DateTime, Utc};

use super::BusinessEvent;
use crate::metrics::Metrics;
use crate::names::attr::log;
use crate::span::Span;

/// One delivery of one message to one destination, as the relay tried it.
pub struct Delivery<'a> {
    pub topic: &'a str,
    pub destination: &'a str,
    pub message_id: &'a str,
    pub key: Option<&'a str>,
    pub attempt: u32,
    pub error: &'a str,
}

/// The delivery failed; the message is sent again at `next_attempt_at`.
pub struct EventDeliveryFailed<'a> {
    pub metrics: &'a Metrics,
    pub delivery: Delivery<'a>,
    pub next_attempt_at: DateTime<Utc>,
}

impl BusinessEvent for EventDeliveryFailed<'_> {
    fn emit(self) {
        let d = self.delivery;
        self.metrics.event_delivery_failed(d.topic, d.destination);
        tracing::warn!({ log::TOPIC } = d.topic, { log::DESTINATION } = d.destination, { log::MESSAGE_ID } = d.message_id, { log::KEY } = d.key, { log::ATTEMPT } = d.attempt, { log::NEXT_ATTEMPT_AT } = %self.next_attempt_at, { log::ERROR } = d.error, "Event delivery failed; retrying");
    }
}

/// The delivery failed for the last time (or cannot succeed): the message moved to the
/// dead-letter table. Counted as a failed delivery too, so that the failure rate sees it.
pub struct EventDeadLettered<'a> {
    pub metrics: &'a Metrics,
    pub delivery: Delivery<'a>,
}

impl BusinessEvent for EventDeadLettered<'_> {
    fn emit(self) {
        let d = self.delivery;
        self.metrics.event_delivery_failed(d.topic, d.destination);
        self.metrics.event_dead_lettered(d.topic, d.destination);
        tracing::error!(
            { log::TOPIC } = d.topic,
            { log::DESTINATION } = d.destination,
            { log::MESSAGE_ID } = d.message_id,
            { log::KEY } = d.key,
            { log::ATTEMPT } = d.attempt,
            { log::ERROR } = d.error,
            "Event moved to the dead-letter table"
        );
    }
}

/// A consumer is done with a delivered message, for now or for good. Emit inside the
/// message's CONSUMER span.
pub struct EventConsumed<'a> {
    pub metrics: &'a Metrics,
    pub topic: &'a str,
    pub message_id: &'a str,
    pub attempt: u32,
    /// As counted: `processed`, `duplicate`, `failed` or `rejected`.
    pub outcome: &'static str,
    pub failure: Option<Failure<'a>>,
}

/// Why a consumer did not handle a message.
pub enum Failure<'a> {
    /// Handling failed; the message is delivered again.
    Retry(&'a str),
    /// The message can never be handled.
    Reject(&'a str),
}

impl BusinessEvent for EventConsumed<'_> {
    fn emit(self) {
        let (topic, id) = (self.topic, self.message_id);
        match self.failure {
            None => {
                tracing::info!(
                    { log::TOPIC } = topic,
                    { log::MESSAGE_ID } = id,
                    { log::OUTCOME } = self.outcome,
                    "Event handled"
                );
            }
            Some(Failure::Reject(e)) => {
                Span::current().record_error("MessageRejected", &e);
                tracing::error!({ log::TOPIC } = topic, { log::MESSAGE_ID } = id, { log::ERROR } = %e, "Event rejected: it cannot be handled");
            }
            Some(Failure::Retry(e)) => {
                Span::current().record_error("MessageFailed", &e);
                tracing::warn!({ log::TOPIC } = topic, { log::MESSAGE_ID } = id, { log::ATTEMPT } = self.attempt, { log::ERROR } = %e, "Event handling failed; it will be delivered again");
            }
        }
        self.metrics.event_consumed(topic, self.outcome);
    }
}
