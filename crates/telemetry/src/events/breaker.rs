//! A circuit breaker changed state: the gauge, an event on the span of the call that caused
//! the change, and a log line saying what callers will see.

use opentelemetry::KeyValue;

use super::{BusinessEvent, span_event};
use crate::metrics::{CircuitState, Metrics};
use crate::names::attr::resilience::TARGET_SERVICE;
use crate::names::event;

/// The breaker in front of `service` is now `state`.
pub struct CircuitStateChanged<'a> {
    pub metrics: &'a Metrics,
    pub service: &'static str,
    pub state: CircuitState,
}

impl BusinessEvent for CircuitStateChanged<'_> {
    fn emit(self) {
        self.metrics.circuit_state(self.service, self.state);
        let name = match self.state {
            CircuitState::Open => event::CIRCUIT_OPENED,
            CircuitState::HalfOpen => event::CIRCUIT_HALF_OPENED,
            CircuitState::Closed => event::CIRCUIT_CLOSED,
        };
        span_event(name, vec![KeyValue::new(TARGET_SERVICE, self.service)]);
        match self.state {
            CircuitState::Open => tracing::warn!(
                { TARGET_SERVICE } = self.service,
                "Circuit breaker opened: calls are refused until a trial call succeeds"
            ),
            CircuitState::HalfOpen => tracing::info!(
                { TARGET_SERVICE } = self.service,
                "Circuit breaker half-open: letting trial calls through"
            ),
            CircuitState::Closed => tracing::info!(
                { TARGET_SERVICE } = self.service,
                "Circuit breaker closed: calls go through again"
            ),
        }
    }
}
