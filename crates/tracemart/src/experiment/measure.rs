//! From the load generator's samples (every request: when it was due, how long it took, what
//! it got) to figures per phase: for reads (requests that never need inventory) and for
//! orders, how many failed or missed their objective, and the latency percentiles.

use serde::Serialize;
use tracemart_loadgen::{RequestKind, Sample};

use super::plan::Plan;

/// Requests of one kind in one phase.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub(super) struct Group {
    pub(super) requests: u64,
    /// Got a 2xx or 3xx answer.
    pub(super) succeeded: u64,
    /// Got another answer, or none.
    pub(super) failed: u64,
    /// Succeeded, but later than the objective.
    pub(super) slow: u64,
    /// `succeeded / requests`, in percent.
    pub(super) success_pct: f64,
    /// `(failed + slow) / requests`, in percent: the requests a user would call broken.
    pub(super) bad_pct: f64,
    /// Latency from the scheduled start to the answer or the failure, in milliseconds.
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
}

impl Group {
    fn of(samples: &[&Sample], slo_ms: u64) -> Self {
        let requests = samples.len() as u64;
        let ok = |s: &Sample| s.status.is_some_and(|c| (200..400).contains(&c));
        let succeeded = samples.iter().filter(|s| ok(s)).count() as u64;
        let slow = samples
            .iter()
            .filter(|s| ok(s) && s.latency_us > slo_ms * 1000)
            .count() as u64;
        let failed = requests - succeeded;
        let mut latencies: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
        latencies.sort_unstable();
        let pct = |n: u64| {
            if requests == 0 {
                0.0
            } else {
                round2(100.0 * n as f64 / requests as f64)
            }
        };
        Self {
            requests,
            succeeded,
            failed,
            slow,
            success_pct: pct(succeeded),
            bad_pct: pct(failed + slow),
            p50_ms: quantile_ms(&latencies, 0.50),
            p99_ms: quantile_ms(&latencies, 0.99),
        }
    }
}

/// The figures of one phase.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PhaseFigures {
    pub(super) name: &'static str,
    /// Reads of orders, products and users: nothing on their path calls inventory.
    pub(super) reads: Group,
    /// `POST /orders`.
    pub(super) orders: Group,
}

/// Whether a request kind's path avoids inventory.
fn is_read(kind: RequestKind) -> bool {
    kind != RequestKind::CreateOrder
}

/// Splits the samples by phase: a request belongs to the phase in force when it was due.
/// `boundaries[i]` is when phase `i`'s faults were in place (epoch µs); the first phase takes
/// everything before the second.
pub(super) fn by_phase(plan: &Plan, boundaries: &[u64], samples: &[Sample]) -> Vec<PhaseFigures> {
    plan.phases
        .iter()
        .enumerate()
        .map(|(i, phase)| {
            let from = if i == 0 { 0 } else { boundaries[i] };
            let to = boundaries.get(i + 1).copied().unwrap_or(u64::MAX);
            let within: Vec<&Sample> = samples
                .iter()
                .filter(|s| (from..to).contains(&s.scheduled_at))
                .collect();
            figures(phase.name, plan, &within)
        })
        .collect()
}

/// The figures of the whole run.
pub(super) fn overall(plan: &Plan, samples: &[Sample]) -> PhaseFigures {
    figures("all", plan, &samples.iter().collect::<Vec<_>>())
}

fn figures(name: &'static str, plan: &Plan, samples: &[&Sample]) -> PhaseFigures {
    let (reads, orders): (Vec<&Sample>, Vec<&Sample>) =
        samples.iter().copied().partition(|s| is_read(s.request));
    PhaseFigures {
        name,
        reads: Group::of(&reads, plan.read_slo_ms),
        orders: Group::of(&orders, plan.order_slo_ms),
    }
}

/// The `q` quantile of sorted latencies (µs), in milliseconds: the smallest value with at
/// least `q` of the values at or below it.
fn quantile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    round2(sorted_us[rank - 1] as f64 / 1000.0)
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: u64, latency_ms: u64, status: Option<u16>, request: RequestKind) -> Sample {
        Sample {
            trace_id: String::new(),
            span_id: String::new(),
            scheduled_at: at,
            latency_us: latency_ms * 1000,
            status,
            error: status.is_none().then_some("timeout"),
            request,
        }
    }

    #[test]
    fn a_request_is_bad_when_it_failed_or_answered_after_its_objective() {
        let samples = [
            sample(1, 10, Some(200), RequestKind::GetOrder),
            sample(2, 400, Some(200), RequestKind::GetProduct),
            sample(3, 5, Some(503), RequestKind::GetUser),
            sample(4, 15_000, None, RequestKind::ListProducts),
        ];
        let group = Group::of(&samples.iter().collect::<Vec<_>>(), 300);
        assert_eq!(
            (group.requests, group.succeeded, group.failed, group.slow),
            (4, 2, 2, 1)
        );
        assert_eq!((group.success_pct, group.bad_pct), (50.0, 75.0));
        assert_eq!((group.p50_ms, group.p99_ms), (10.0, 15_000.0));
    }

    #[test]
    fn each_request_counts_in_the_phase_in_force_when_it_was_due() {
        let plan = Plan::new(
            super::super::plan::Experiment::Propagation,
            true,
            None,
            None,
        );
        let boundaries = [0, 100, 200, 300, 400];
        let samples = [
            sample(50, 1, Some(201), RequestKind::CreateOrder),
            sample(100, 1, Some(200), RequestKind::GetOrder),
            sample(399, 1, Some(200), RequestKind::GetOrder),
            sample(400, 1, Some(503), RequestKind::CreateOrder),
        ];
        let phases = by_phase(&plan, &boundaries, &samples);
        let counts: Vec<(u64, u64)> = phases
            .iter()
            .map(|p| (p.reads.requests, p.orders.requests))
            .collect();
        assert_eq!(counts, [(0, 1), (1, 0), (0, 0), (1, 0), (0, 1)]);
        assert_eq!(phases[4].orders.failed, 1);
    }
}
