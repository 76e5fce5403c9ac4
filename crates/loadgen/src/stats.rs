//! What the run measured: HDR latency histograms, status and error counts, and a reservoir of
//! per-request samples (trace id, schedule, latency, status) for joining with server spans.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;

use crate::client::{Failure, TraceContext};
use crate::error::LoadError;
use crate::scenario::RequestKind;

/// Highest latency the histograms track exactly (one hour); longer ones are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// One finished request, as sent by the task that ran it.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) kind: RequestKind,
    pub(crate) trace: TraceContext,
    /// When the request was due (open loop) or started (closed loop).
    pub(crate) scheduled_at: Instant,
    /// From `scheduled_at` to the last byte of the answer (or the failure).
    pub(crate) latency: Duration,
    pub(crate) result: Result<u16, Failure>,
}

/// Maps the monotonic clock to wall-clock time, for samples a later step joins with span times.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    start_epoch_us: u64,
}

impl Clock {
    pub(crate) fn now() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start: Instant::now(),
            start_epoch_us: u64::try_from(epoch.as_micros()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    pub(crate) fn start_epoch_us(&self) -> u64 {
        self.start_epoch_us
    }

    /// Microseconds since the Unix epoch at `at`.
    pub(crate) fn epoch_us(&self, at: Instant) -> u64 {
        let offset = at.saturating_duration_since(self.start).as_micros();
        self.start_epoch_us
            .saturating_add(u64::try_from(offset).unwrap_or(u64::MAX))
    }
}

/// One request of the reservoir, in the JSON report's `samples` list.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sample {
    /// The trace id the request carried in `traceparent` (32 hex digits).
    pub trace_id: String,
    /// The parent span id it carried (16 hex digits): the server's root span points to it.
    pub span_id: String,
    /// When the request was due, in microseconds since the Unix epoch.
    pub scheduled_at: u64,
    /// Client-side latency from the scheduled time, in microseconds.
    pub latency_us: u64,
    /// HTTP status, or `null` when no answer came.
    pub status: Option<u16>,
    /// `connect`, `timeout` or `other` when no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    /// The request's route, e.g. `POST /orders`.
    pub request: RequestKind,
}

/// A uniform random sample of fixed size over a stream (Vitter's algorithm R).
#[derive(Debug)]
pub(crate) struct Reservoir {
    capacity: usize,
    seen: u64,
    items: Vec<Sample>,
    rng: StdRng,
}

impl Reservoir {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: 0,
            items: Vec::with_capacity(capacity.min(10_000)),
            rng: StdRng::from_os_rng(),
        }
    }

    /// Offers the `seen`-th item; `make` runs only when it is kept.
    pub(crate) fn offer(&mut self, make: impl FnOnce() -> Sample) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(make());
            return;
        }
        let slot = self.rng.random_range(0..self.seen);
        if let Some(item) = usize::try_from(slot)
            .ok()
            .and_then(|s| self.items.get_mut(s))
        {
            *item = make();
        }
    }

    pub(crate) fn into_items(self) -> Vec<Sample> {
        self.items
    }
}

/// Latency histogram of one request kind, and how many of them there were.
#[derive(Debug)]
pub(crate) struct KindStats {
    pub(crate) count: u64,
    pub(crate) latency: Histogram<u64>,
}

/// Everything recorded about completed requests.
#[derive(Debug)]
pub(crate) struct Stats {
    clock: Clock,
    /// Latency of every request that got an HTTP answer, in microseconds.
    pub(crate) latency: Histogram<u64>,
    pub(crate) by_kind: BTreeMap<RequestKind, KindStats>,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) failures: BTreeMap<&'static str, u64>,
    pub(crate) finished: u64,
    reservoir: Reservoir,
    /// Latency since the last progress tick, for the live p99.
    window: Histogram<u64>,
    window_finished: u64,
}

fn histogram() -> Result<Histogram<u64>, LoadError> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, SIGNIFICANT_DIGITS)
        .map_err(|e| LoadError::Internal(format!("histogram: {e:?}")))
}

impl Stats {
    pub(crate) fn new(clock: Clock, samples: usize) -> Result<Self, LoadError> {
        let mut by_kind = BTreeMap::new();
        for kind in RequestKind::ALL {
            by_kind.insert(
                kind,
                KindStats {
                    count: 0,
                    latency: histogram()?,
                },
            );
        }
        Ok(Self {
            clock,
            latency: histogram()?,
            by_kind,
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            finished: 0,
            reservoir: Reservoir::new(samples),
            window: histogram()?,
            window_finished: 0,
        })
    }

    pub(crate) fn record(&mut self, outcome: &Outcome) {
        let micros = u64::try_from(outcome.latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.finished += 1;
        self.window_finished += 1;
        match outcome.result {
            Ok(status) => {
                self.latency.saturating_record(micros);
                self.window.saturating_record(micros);
                *self.statuses.entry(status).or_default() += 1;
                if let Some(kind) = self.by_kind.get_mut(&outcome.kind) {
                    kind.count += 1;
                    kind.latency.saturating_record(micros);
                }
            }
            Err(failure) => *self.failures.entry(failure.as_str()).or_default() += 1,
        }
        let clock = self.clock;
        self.reservoir.offer(|| Sample {
            trace_id: outcome.trace.trace_id_hex(),
            span_id: outcome.trace.span_id_hex(),
            scheduled_at: clock.epoch_us(outcome.scheduled_at),
            latency_us: micros,
            status: outcome.result.ok(),
            error: outcome.result.err().map(Failure::as_str),
            request: outcome.kind,
        });
    }

    /// Answers and p99 (µs) since the last call, then starts a new window.
    pub(crate) fn take_window(&mut self) -> (u64, u64) {
        let taken = (self.window_finished, self.window.value_at_quantile(0.99));
        self.window.reset();
        self.window_finished = 0;
        taken
    }

    /// Requests that got no 2xx/3xx answer so far.
    pub(crate) fn errors(&self) -> u64 {
        let bad_status: u64 = self
            .statuses
            .iter()
            .filter(|(status, _)| !is_success(**status))
            .map(|(_, n)| n)
            .sum();
        bad_status + self.failures.values().sum::<u64>()
    }

    pub(crate) fn into_samples(self) -> Vec<Sample> {
        self.reservoir.into_items()
    }
}

/// 2xx and 3xx count as served; anything else is an error in the report.
pub(crate) fn is_success(status: u16) -> bool {
    (200..400).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> Sample {
        Sample {
            trace_id: n.to_string(),
            span_id: String::new(),
            scheduled_at: n,
            latency_us: n,
            status: Some(200),
            error: None,
            request: RequestKind::CreateOrder,
        }
    }

    #[test]
    fn the_reservoir_keeps_at_most_its_capacity_from_the_whole_stream() {
        let mut reservoir = Reservoir::new(100);
        for n in 0..10_000 {
            reservoir.offer(|| sample(n));
        }
        let items = reservoir.into_items();
        assert_eq!(items.len(), 100);
        assert!(
            items.iter().any(|s| s.scheduled_at >= 5_000),
            "later items must get a chance"
        );
    }

    #[test]
    fn answers_and_failures_are_counted_apart() {
        let clock = Clock::now();
        let mut stats = Stats::new(clock, 10).unwrap();
        let trace = TraceContext::random();
        for result in [
            Ok(201),
            Ok(409),
            Ok(201),
            Err(Failure::Timeout),
            Err(Failure::Connect),
        ] {
            stats.record(&Outcome {
                kind: RequestKind::CreateOrder,
                trace,
                scheduled_at: clock.start(),
                latency: Duration::from_millis(3),
                result,
            });
        }
        assert_eq!(stats.statuses.get(&201), Some(&2));
        assert_eq!(stats.statuses.get(&409), Some(&1));
        assert_eq!(stats.failures.get("timeout"), Some(&1));
        assert_eq!(stats.failures.get("connect"), Some(&1));
        assert_eq!(stats.latency.len(), 3);
        assert_eq!(stats.errors(), 3);
    }
}
