//! The circuit breaker in front of each downstream service. After `failure_threshold` failed
//! calls in a row (no answer, or a 5xx) the circuit opens: calls are refused at once, without
//! waiting for a timeout or holding a connection, so a failing service costs its callers
//! nothing. After a while trial calls go through; the first success closes the circuit, a
//! failure opens it again. The first opening is short (a service restarting is back within a
//! second or so, and should not cost its callers the whole open time); each reopening doubles
//! it, up to `open_for`. Every change of state is a [`CircuitStateChanged`]: the
//! `circuit_breaker_state` gauge, an event on the span of the call that caused it, a log line.

use std::time::Duration;

use failsafe::failure_policy::{self, ConsecutiveFailures};
use failsafe::{Instrument, StateMachine};
use tracemart_telemetry::events::{BusinessEvent, CircuitStateChanged};
use tracemart_telemetry::{CircuitState, Metrics};

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed calls in a row that open the circuit.
    pub failure_threshold: u32,
    /// The longest an open circuit refuses calls before it lets trial calls through.
    pub open_for: Duration,
}

/// How long a circuit's first opening lasts (at most `open_for`).
const FIRST_OPEN: Duration = Duration::from_millis(250);

/// Open times: from [`FIRST_OPEN`], doubling up to a maximum; the breaker starts it afresh
/// when the circuit closes. failsafe's own exponential backoff starts at one second at least.
#[derive(Debug, Clone)]
struct Doubling {
    next: Duration,
    max: Duration,
}

impl Doubling {
    fn up_to(max: Duration) -> Self {
        Self {
            next: FIRST_OPEN.min(max),
            max,
        }
    }
}

impl Iterator for Doubling {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let now = self.next;
        self.next = (now * 2).min(self.max);
        Some(now)
    }
}

type Machine = StateMachine<ConsecutiveFailures<Doubling>, StateReporter>;

/// One downstream service's breaker; clones share its state. Without settings it lets every
/// call through.
#[derive(Clone)]
pub(crate) struct CircuitBreaker {
    machine: Option<Machine>,
}

impl CircuitBreaker {
    pub(crate) fn new(
        settings: Option<BreakerSettings>,
        service: &'static str,
        metrics: &Metrics,
    ) -> Self {
        metrics.circuit_state(service, CircuitState::Closed);
        let machine = settings.map(|s| {
            let policy = failure_policy::consecutive_failures(
                s.failure_threshold,
                Doubling::up_to(s.open_for),
            );
            let reporter = StateReporter {
                service,
                metrics: metrics.clone(),
            };
            StateMachine::new(policy, reporter)
        });
        Self { machine }
    }

    /// Whether a call may go out now; an open circuit whose time is up lets it through as a
    /// trial.
    pub(crate) fn permits_call(&self) -> bool {
        self.machine.as_ref().is_none_or(Machine::is_call_permitted)
    }

    /// The service answered (any status below 500).
    pub(crate) fn record_success(&self) {
        if let Some(machine) = &self.machine {
            machine.on_success();
        }
    }

    /// The service gave no answer, a 5xx, or a body it should not have sent.
    pub(crate) fn record_failure(&self) {
        if let Some(machine) = &self.machine {
            machine.on_error();
        }
    }
}

/// Emits each change of state while the call that caused it is the current span.
struct StateReporter {
    service: &'static str,
    metrics: Metrics,
}

impl StateReporter {
    fn report(&self, state: CircuitState) {
        CircuitStateChanged {
            metrics: &self.metrics,
            service: self.service,
            state,
        }
        .emit();
    }
}

impl Instrument for StateReporter {
    // Refused calls are counted by the caller, which knows their route.
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.report(CircuitState::Open);
    }

    fn on_half_open(&self) {
        self.report(CircuitState::HalfOpen);
    }

    fn on_closed(&self) {
        self.report(CircuitState::Closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_times_double_from_a_short_first_one_up_to_the_configured_one() {
        let times: Vec<u64> = Doubling::up_to(Duration::from_secs(5))
            .take(7)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .collect();
        assert_eq!(times, [250, 500, 1000, 2000, 4000, 5000, 5000]);
        let short: Vec<Duration> = Doubling::up_to(Duration::from_millis(100))
            .take(2)
            .collect();
        assert_eq!(short, [Duration::from_millis(100); 2]);
    }
}
