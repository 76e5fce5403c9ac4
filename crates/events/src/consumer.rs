//! Consuming messages: the CONSUMER span each handled message gets (the root of a new trace,
//! linked to the span that published it), its metric and log line, and `POST /events`, where
//! a relay delivers batches.
//!
//! Why a link and not a parent: a message may be handled long after it was published (after
//! retries, or a dead-letter replay days later), and a saga step is work of its own. As the
//! producer's child it would stretch the request's trace over all of that and bury the
//! request's latency; as a new trace linked to its producer it keeps each trace one piece of
//! work, and the console follows the links to show an order's whole saga.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::post;
use opentelemetry::KeyValue;
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::TraceContextExt;
use tracemart_platform::faults::{Fault, FaultKind, FaultTarget, Faults};
use tracemart_platform::{ApiJson, DbError, ServiceName, identity};
use tracemart_telemetry::events::{BusinessEvent, EventConsumed, Failure};
use tracemart_telemetry::names::{attr, baggage, messaging, route};
use tracemart_telemetry::{Metrics, Span, SpanKind};

use crate::message::{Batch, BatchReply, Message, Outcome, Receipt};

/// Largest batch `POST /events` accepts (a relay sends at most [`crate::MAX_BATCH_BYTES`]).
const MAX_BATCH_BODY: usize = 4 * crate::MAX_BATCH_BYTES;

/// What a service does with the messages delivered to it.
#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Handles one message, inside its CONSUMER span. The effect and
    /// [`crate::inbox::claim`] belong in one transaction.
    async fn handle(&self, message: &Message) -> Result<Handled, ConsumeError>;
}

/// A message handled without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Its effect happened now.
    Processed,
    /// It had been handled before: nothing was done.
    Duplicate,
}

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// A later attempt may succeed (a service or the database was unavailable).
    #[error("{0}")]
    Retry(String),
    /// It can never be handled (unknown topic, unreadable payload): dead-letter it.
    #[error("{0}")]
    Reject(String),
}

impl From<DbError> for ConsumeError {
    fn from(e: DbError) -> Self {
        Self::Retry(e.to_string())
    }
}

impl ConsumeError {
    /// A payload that does not parse as its topic's type.
    pub fn unreadable(topic: &str, e: &serde_json::Error) -> Self {
        Self::Reject(format!("unreadable {topic} payload: {e}"))
    }

    /// A topic this consumer does not handle.
    pub fn unknown_topic(topic: &str) -> Self {
        Self::Reject(format!("no handler for topic {topic}"))
    }
}

/// The CONSUMER span of `message`, delivered by `system` (`messaging.system`): a new trace
/// linked to its producer, carrying the producer's baggage (the order's correlation id becomes
/// the log lines' `request_id`).
fn consumer_span(message: &Message, service: &str, system: &'static str) -> Span {
    let producer = tracemart_telemetry::context_from_carrier(&message.headers);
    let bag = producer.baggage();
    let correlation = bag.get(baggage::ORDER_CORRELATION_ID).map(|v| v.as_str());
    let mut attributes = vec![
        KeyValue::new(attr::messaging::SYSTEM, system),
        KeyValue::new(
            attr::messaging::OPERATION_TYPE,
            messaging::OPERATION_PROCESS,
        ),
        KeyValue::new(attr::messaging::OPERATION_NAME, "process"),
        KeyValue::new(attr::messaging::DESTINATION_NAME, message.topic.clone()),
        KeyValue::new(attr::messaging::CONSUMER_GROUP_NAME, service.to_owned()),
        KeyValue::new(attr::messaging::MESSAGE_ID, message.id.clone()),
        KeyValue::new(
            attr::messaging::MESSAGE_BODY_SIZE,
            message.payload.get().len() as i64,
        ),
        KeyValue::new(
            attr::messaging::DELIVERY_ATTEMPT,
            i64::from(message.attempt),
        ),
    ];
    if let Some(key) = &message.key {
        attributes.push(KeyValue::new(
            attr::messaging::MESSAGE_CONVERSATION_ID,
            key.clone(),
        ));
    }
    if let Some(correlation) = &correlation {
        attributes.push(KeyValue::new(attr::request::ID, correlation.to_string()));
    }
    attributes.extend(tracemart_telemetry::order_baggage_attributes(bag));
    // The producer's baggage without its span: the span starts a trace of its own. (Not the
    // producer's context with an empty span in it: a parent-based sampler would read that as
    // an unsampled parent and drop the span.)
    let baggage: Vec<KeyValue> = bag
        .iter()
        .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
        .collect();
    let parent = tracemart_telemetry::detached_context(baggage, correlation);
    Span::build(
        tracemart_telemetry::span_site!("tracemart::events"),
        SpanKind::Consumer,
        format!("process {}", message.topic),
    )
    .attributes(attributes)
    .link(producer.span().span_context().clone())
    .start_in(&parent)
}

/// A service's consumer as its transports hand it messages: with the service's metrics and
/// its faults, so that event faults (delivered twice, delayed, lost before acknowledgement)
/// act here once, for every transport. Cheap to clone.
#[derive(Clone)]
pub struct Inbound {
    consumer: Arc<dyn Consumer>,
    metrics: Metrics,
    faults: Faults,
}

impl Inbound {
    pub fn new(consumer: Arc<dyn Consumer>, metrics: Metrics, faults: Faults) -> Self {
        Self {
            consumer,
            metrics,
            faults,
        }
    }
}

/// Handles `message` inside its CONSUMER span; counts and logs the outcome.
pub async fn consume(inbound: &Inbound, message: &Message) -> Receipt {
    consume_from(messaging::SYSTEM_EMBEDDED, inbound, message).await
}

/// [`consume`] for a message that `system` delivered, with the event faults drawn for it.
pub(crate) async fn consume_from(
    system: &'static str,
    inbound: &Inbound,
    message: &Message,
) -> Receipt {
    let drawn = inbound.faults.draw(FaultTarget::Event, "");
    let receipt = deliver(system, inbound, message, &drawn, None).await;
    let duplicate = drawn
        .iter()
        .find(|f| f.spec.kind == FaultKind::EventDuplicate);
    if let Some(fault) = duplicate
        && receipt.outcome.is_acknowledged()
    {
        // Delivered again, as a transport does when an acknowledgement is lost: a delivery of
        // its own (span, metric, log line). Its effect must be none; the first receipt stands.
        let again = Message {
            attempt: message.attempt.saturating_add(1),
            ..message.clone()
        };
        deliver(system, inbound, &again, &[], Some(fault)).await;
    }
    receipt
}

/// One delivery of `message`, inside its CONSUMER span, with the event faults `drawn` for
/// it recorded there: lost (not handled, answered as failed, so that its transport delivers
/// it again) or delayed; `again` marks the second delivery a duplicate fault made.
async fn deliver(
    system: &'static str,
    inbound: &Inbound,
    message: &Message,
    drawn: &[Fault],
    again: Option<&Fault>,
) -> Receipt {
    let metrics = &inbound.metrics;
    let span = consumer_span(message, metrics.service(), system);
    let topic = message.topic.as_str();
    let lost = drawn.iter().find(|f| f.spec.kind == FaultKind::EventLoss);
    let result = match lost {
        Some(fault) => {
            span.in_scope(|| fault.record(metrics, topic, "message dropped unacknowledged"));
            Err(ConsumeError::Retry(LOST.to_owned()))
        }
        None => {
            span.instrument(async {
                if let Some(fault) = again {
                    fault.record(metrics, topic, "delivered again");
                }
                for fault in drawn {
                    if let Some(delay) = fault.spec.kind.delay() {
                        let effect = format!("delayed {} ms", delay.as_millis());
                        fault.record(metrics, topic, &effect);
                        tokio::time::sleep(delay).await;
                    }
                }
                inbound.consumer.handle(message).await
            })
            .await
        }
    };
    let (outcome, error) = match result {
        Ok(Handled::Processed) => (Outcome::Processed, None),
        Ok(Handled::Duplicate) => (Outcome::Duplicate, None),
        Err(ConsumeError::Retry(e)) => (Outcome::Failed, Some(e)),
        Err(ConsumeError::Reject(e)) => (Outcome::Rejected, Some(e)),
    };
    let failure = error.as_deref().map(|e| match outcome {
        Outcome::Rejected => Failure::Reject(e),
        _ => Failure::Retry(e),
    });
    span.in_scope(|| {
        EventConsumed {
            metrics,
            topic,
            message_id: &message.id,
            attempt: message.attempt,
            outcome: outcome.as_str(),
            failure,
        }
        .emit();
    });
    Receipt {
        id: message.id.clone(),
        outcome,
        error,
    }
}

/// The error of a message an `event-loss` fault dropped.
const LOST: &str = "lost before acknowledgement (fault injected on purpose)";

/// `POST /events`: where another service's relay delivers batches of messages; answers a
/// receipt per message.
pub fn router(inbound: Inbound, producers: &'static [ServiceName]) -> Router {
    let router = Router::new()
        .route(
            route::EVENTS,
            post(receive).layer(DefaultBodyLimit::max(MAX_BATCH_BODY)),
        )
        .with_state(inbound);
    // Only the services whose messages this one subscribes to may deliver.
    identity::restrict(
        router,
        identity::Allow {
            services: producers,
            admin: false,
        },
    )
}

async fn receive(
    State(inbound): State<Inbound>,
    ApiJson(batch): ApiJson<Batch>,
) -> ApiJson<BatchReply> {
    // A relay sends at most one message per key in a batch, so handling them concurrently
    // keeps each key's order, and a handler that calls another service does not make the
    // rest of the batch wait for it.
    let handled = batch
        .messages
        .iter()
        .map(|message| consume(&inbound, message));
    let results = futures::future::join_all(handled).await;
    ApiJson(BatchReply { results })
}
