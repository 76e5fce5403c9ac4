//! A fault injected on purpose touched a request, a database operation, a payment or a
//! message: marked on the span it touched (attributes and an event), counted, and logged
//! once, so nobody mistakes it for a real failure.

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;

use super::{BusinessEvent, span_event};
use crate::metrics::Metrics;
use crate::names::attr::fault::{ID, INJECTED, TYPE};
use crate::names::event;

/// Fault `id` of `kind` (`latency`, `db_latency`, `event_loss`, ...) touched something at
/// `endpoint`.
pub struct FaultInjected<'a> {
    pub metrics: &'a Metrics,
    pub id: u64,
    pub kind: &'static str,
    /// The route template (axum's `MatchedPath`; empty for a path no route matched), the
    /// database operation (`SELECT stock`) or the message's topic: a bounded set.
    pub endpoint: &'a str,
    /// What it did, for the log line (e.g. `added 800 ms`, `answered 503`).
    pub effect: &'a str,
}

impl BusinessEvent for FaultInjected<'_> {
    fn emit(self) {
        let endpoint = match self.endpoint {
            "" => crate::server::UNMATCHED_ROUTE,
            template => crate::intern::route(template),
        };
        self.metrics.fault_injected(self.kind, endpoint);
        let id = i64::try_from(self.id).unwrap_or(i64::MAX);
        opentelemetry::Context::map_current(|cx| {
            let span = cx.span();
            span.set_attribute(KeyValue::new(INJECTED, true));
            span.set_attribute(KeyValue::new(TYPE, self.kind));
        });
        span_event(
            event::FAULT_INJECTED,
            vec![KeyValue::new(TYPE, self.kind), KeyValue::new(ID, id)],
        );
        tracing::warn!(
            { INJECTED } = true,
            { TYPE } = self.kind,
            { ID } = self.id,
            endpoint,
            "Fault injected on purpose: {}",
            self.effect
        );
    }
}
