//! Metrics of the event pipeline (outbox, relay, consumers, dead letters) and of the order
//! saga, registered in each service's registry beside the seed's metrics.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Buckets, Histograms, Metrics, exemplar};
use crate::names::metric;

/// How a saga ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SagaOutcome {
    Confirmed,
    Cancelled,
}

impl SagaOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An order's final status and, when cancelled, why (a short, bounded code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderOutcome {
    pub outcome: SagaOutcome,
    /// e.g. `payment_declined`; empty when confirmed.
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    topic: String,
    destination: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumedLabels {
    topic: String,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SagaLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CompletedLabels {
    status: &'static str,
    reason: &'static str,
}

/// From a few milliseconds (a saga on an idle shop) to the 15 minutes a reservation is held.
const SAGA_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

pub(super) struct MessagingMetrics {
    published: Family<TopicLabels, Counter>,
    delivered: Family<DeliveryLabels, Counter>,
    delivery_failed: Family<DeliveryLabels, Counter>,
    dead_lettered: Family<DeliveryLabels, Counter>,
    consumed: Family<ConsumedLabels, Counter>,
    relay_lag: Gauge<f64, AtomicU64>,
    outbox_pending: Gauge,
    dead_letters: Gauge,
    saga_duration: Histograms<SagaLabels>,
    orders_completed: Family<CompletedLabels, Counter>,
}

impl MessagingMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let m = Self {
            published: Family::default(),
            delivered: Family::default(),
            delivery_failed: Family::default(),
            dead_lettered: Family::default(),
            consumed: Family::default(),
            relay_lag: Gauge::default(),
            outbox_pending: Gauge::default(),
            dead_letters: Gauge::default(),
            saga_duration: Histograms::new_with_constructor(Buckets(SAGA_BUCKETS)),
            orders_completed: Family::default(),
        };
        registry.register(
            metric::EVENTS_PUBLISHED,
            "Events written to the outbox, by topic",
            m.published.clone(),
        );
        registry.register(
            metric::EVENTS_DELIVERED,
            "Events a consumer acknowledged, by topic and destination",
            m.delivered.clone(),
        );
        registry.register(
            metric::EVENTS_DELIVERY_FAILED,
            "Failed delivery attempts (each retried later), by topic and destination",
            m.delivery_failed.clone(),
        );
        registry.register(
            metric::EVENTS_DEAD_LETTERED,
            "Events moved to the dead-letter table after their last failed attempt",
            m.dead_lettered.clone(),
        );
        registry.register(
            metric::EVENTS_CONSUMED,
            "Events handled by this service: processed, duplicate, failed or rejected",
            m.consumed.clone(),
        );
        registry.register(
            metric::EVENT_RELAY_LAG_SECONDS,
            "Age of the oldest outbox event due for delivery and not yet acknowledged",
            m.relay_lag.clone(),
        );
        registry.register(
            metric::EVENT_OUTBOX_PENDING,
            "Outbox events due for delivery and not yet acknowledged",
            m.outbox_pending.clone(),
        );
        registry.register(
            metric::EVENT_DEAD_LETTERS,
            "Events in the dead-letter table",
            m.dead_letters.clone(),
        );
        registry.register(
            metric::SAGA_DURATION_SECONDS,
            "Time from an order's creation to its confirmation or cancellation",
            m.saga_duration.clone(),
        );
        registry.register(
            metric::ORDERS_COMPLETED,
            "Orders that reached a final status, by status and cancellation reason",
            m.orders_completed.clone(),
        );
        m
    }
}

fn delivery(topic: &str, destination: &str) -> DeliveryLabels {
    DeliveryLabels {
        topic: topic.to_owned(),
        destination: destination.to_owned(),
    }
}

impl Metrics {
    fn messaging(&self) -> &MessagingMetrics {
        &self.inner.messaging
    }

    /// An event was written to the outbox.
    pub fn event_published(&self, topic: &str) {
        self.messaging()
            .published
            .get_or_create(&TopicLabels {
                topic: topic.to_owned(),
            })
            .inc();
    }

    /// `destination` acknowledged an event.
    pub fn event_delivered(&self, topic: &str, destination: &str) {
        self.messaging()
            .delivered
            .get_or_create(&delivery(topic, destination))
            .inc();
    }

    /// A delivery attempt failed and will be tried again.
    pub fn event_delivery_failed(&self, topic: &str, destination: &str) {
        self.messaging()
            .delivery_failed
            .get_or_create(&delivery(topic, destination))
            .inc();
    }

    /// An event was moved to the dead-letter table.
    pub fn event_dead_lettered(&self, topic: &str, destination: &str) {
        self.messaging()
            .dead_lettered
            .get_or_create(&delivery(topic, destination))
            .inc();
    }

    /// This service handled a delivered event; `result` is `processed`, `duplicate`,
    /// `failed` or `rejected`.
    pub fn event_consumed(&self, topic: &str, result: &'static str) {
        self.messaging()
            .consumed
            .get_or_create(&ConsumedLabels {
                topic: topic.to_owned(),
                result,
            })
            .inc();
    }

    /// The relay's view of its outbox: events due and unacknowledged, the age of the oldest,
    /// and the dead letters.
    pub fn outbox_state(&self, pending: i64, oldest_age: Duration, dead_letters: i64) {
        let m = self.messaging();
        m.outbox_pending.set(pending);
        m.relay_lag.set(oldest_age.as_secs_f64());
        m.dead_letters.set(dead_letters);
    }

    /// An order's saga ended `elapsed` after the order was created.
    pub fn saga_completed(&self, outcome: OrderOutcome, elapsed: Duration, trace_id: Option<&str>) {
        let m = self.messaging();
        m.saga_duration
            .get_or_create(&SagaLabels {
                outcome: outcome.outcome.as_str(),
            })
            .observe(elapsed.as_secs_f64(), exemplar(trace_id), None);
        m.orders_completed
            .get_or_create(&CompletedLabels {
                status: outcome.outcome.as_str(),
                reason: outcome.reason,
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_pipeline_and_the_saga_are_counted_by_topic_and_outcome() {
        let metrics = Metrics::new("order-service");
        metrics.event_published("order.created");
        metrics.event_delivered("order.created", "payment-service");
        metrics.event_delivery_failed("order.created", "payment-service");
        metrics.event_consumed("payment.authorized", "duplicate");
        metrics.outbox_state(3, Duration::from_millis(1500), 1);
        metrics.saga_completed(
            OrderOutcome {
                outcome: SagaOutcome::Cancelled,
                reason: "payment_declined",
            },
            Duration::from_millis(40),
            None,
        );
        let text = metrics.render(false).unwrap();
        for want in [
            r#"events_published_total{topic="order.created"} 1"#,
            r#"events_delivered_total{topic="order.created",destination="payment-service"} 1"#,
            r#"events_delivery_failed_total{topic="order.created",destination="payment-service"} 1"#,
            r#"events_consumed_total{topic="payment.authorized",result="duplicate"} 1"#,
            "event_outbox_pending 3",
            "event_relay_lag_seconds 1.5",
            "event_dead_letters 1",
            r#"saga_duration_seconds_bucket{outcome="cancelled",le="0.05"} 1"#,
            r#"orders_completed_total{status="cancelled",reason="payment_declined"} 1"#,
        ] {
            assert!(text.contains(want), "no {want} in\n{text}");
        }
    }
}
