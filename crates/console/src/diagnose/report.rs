//! The diagnosis as the API answers it: the culprit, the ranked candidates and their evidence.

use serde::Serialize;

use crate::percentile::nearest_rank;

/// The answer of `GET /api/diagnose`.
#[derive(Debug, Serialize)]
pub(crate) struct Diagnosis {
    pub(crate) window: Window,
    pub(crate) traces: TraceCounts,
    /// Whether anything stands out (then `culprit` is the first candidate).
    pub(crate) found: bool,
    pub(crate) culprit: Option<Candidate>,
    pub(crate) candidates: Vec<Candidate>,
}

/// The window judged and the baseline it is compared with (µs since the epoch).
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Window {
    pub(crate) start_us: i64,
    pub(crate) end_us: i64,
    pub(crate) baseline_start_us: i64,
    pub(crate) baseline_end_us: i64,
    /// Messages published this close to the end are not yet expected to be consumed.
    pub(crate) settle_us: i64,
}

/// Traces read in each window.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct TraceCounts {
    pub(crate) window: usize,
    pub(crate) window_failing: usize,
    pub(crate) baseline: usize,
    pub(crate) baseline_failing: usize,
    /// 1 when every trace was read; `k` when one in `k` was (a busy window).
    pub(crate) sampled_one_in: i64,
}

/// What points at a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Signal {
    /// Failing traces start failing here.
    Errors,
    /// Its own time grew against the baseline.
    Latency,
    /// Messages to it wait longer (or are not consumed).
    Messages,
}

/// A service and operation that may be the culprit, with why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Candidate {
    pub(crate) rank: usize,
    pub(crate) service: String,
    pub(crate) operation: String,
    pub(crate) signal: Signal,
    /// One sentence with the figures.
    pub(crate) summary: String,
    /// Traces that show it, newest or worst first.
    pub(crate) example_traces: Vec<String>,
    /// `errors`, `latency` or `messages`: the figures.
    #[serde(flatten)]
    pub(crate) evidence: Evidence,
}

impl Candidate {
    pub(crate) fn new(
        service: String,
        operation: String,
        summary: String,
        evidence: Evidence,
    ) -> Self {
        Self {
            rank: 0,
            service,
            operation,
            signal: match evidence {
                Evidence::Errors(_) => Signal::Errors,
                Evidence::Latency(_) => Signal::Latency,
                Evidence::Messages(_) => Signal::Messages,
            },
            summary,
            example_traces: Vec::new(),
            evidence,
        }
    }
}

/// The figures behind a candidate, by signal.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Evidence {
    Errors(ErrorEvidence),
    Latency(LatencyEvidence),
    Messages(MessageEvidence),
}

/// A candidate with its strength (to rank it among its kind) and its example traces' numbers.
pub(crate) type Ranked = (f64, Candidate, Vec<i64>);

#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorEvidence {
    /// Failing traces of the window whose failure starts here.
    pub(crate) failing_traces: usize,
    /// Their share of the window's failing traces.
    pub(crate) share_of_failing: f64,
    /// The same count in the baseline (as long as the window).
    pub(crate) baseline_failing_traces: f64,
    /// How the failure shows: the callee's own failed span, or a caller's failed client span
    /// with nothing failing below it (a timeout, a dropped connection, an open circuit).
    pub(crate) seen_as: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct LatencyEvidence {
    pub(crate) self_ms: Change,
    pub(crate) duration_ms: Change,
    pub(crate) seen_as: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MessageEvidence {
    /// The producer span's service and operation.
    pub(crate) producer: String,
    /// From the producer span's end to the consumer span's start; for a message not consumed
    /// yet, to the window's end.
    pub(crate) wait_ms: Change,
    /// Messages of the window not consumed by its end.
    pub(crate) unconsumed: usize,
}

/// A distribution in the baseline and in the window.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Change {
    pub(crate) baseline: Dist,
    pub(crate) window: Dist,
}

impl Change {
    pub(crate) fn of(baseline: &[i64], window: &[i64]) -> Self {
        Self {
            baseline: Dist::of(baseline),
            window: Dist::of(window),
        }
    }

    /// "p50 A -> B, p99 C -> D".
    pub(crate) fn percentiles(&self) -> String {
        format!(
            "p50 {} -> {}, p99 {} -> {}",
            show_ms(self.baseline.p50),
            show_ms(self.window.p50),
            show_ms(self.baseline.p99),
            show_ms(self.window.p99)
        )
    }

    /// Growth of the mean, in ms.
    pub(crate) fn growth_ms(&self) -> f64 {
        self.window.mean - self.baseline.mean
    }

    /// Whether it grew enough to stand out from the noise of a busy machine: by
    /// [`SLOWER_BY_MS`] and by half again, and to a mean above the baseline's p99 (what only
    /// the slowest hundredth took before is now typical; a short stall of the machine, which
    /// the baseline had too, is not).
    pub(crate) fn grew(&self) -> bool {
        self.growth_ms() >= SLOWER_BY_MS
            && self.window.mean >= self.baseline.mean * SLOWER_RATIO
            && self.window.mean > self.baseline.p99
    }
}

/// A mean that grows by less than this is noise (a loaded machine's scheduling, a cache).
const SLOWER_BY_MS: f64 = 50.0;
const SLOWER_RATIO: f64 = 1.5;

/// Count, mean and percentiles (nearest rank) of durations, in ms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Dist {
    pub(crate) count: usize,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

impl Dist {
    pub(crate) fn of(us: &[i64]) -> Self {
        if us.is_empty() {
            return Self::default();
        }
        let mut sorted = us.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let pct = |p: f64| ms(nearest_rank(&sorted, p) as f64);
        Self {
            count: n,
            mean: ms(sorted.iter().map(|&d| d as f64).sum::<f64>() / n as f64),
            p50: pct(0.50),
            p99: pct(0.99),
        }
    }
}

/// µs to ms, to a tenth.
fn ms(us: f64) -> f64 {
    (us / 100.0).round() / 10.0
}

/// A duration in ms as a person reads it.
pub(crate) fn show_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else {
        format!("{ms:.1} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_use_nearest_rank_in_ms() {
        let us: Vec<i64> = (1..=100).map(|ms| ms * 1000).collect();
        let d = Dist::of(&us);
        assert_eq!(d.count, 100);
        assert!((d.p50 - 50.0).abs() < f64::EPSILON);
        assert!((d.p99 - 99.0).abs() < f64::EPSILON);
        assert!((d.mean - 50.5).abs() < f64::EPSILON);
    }

    #[test]
    fn only_a_clear_growth_counts() {
        let before = [2_000; 10];
        assert!(Change::of(&before, &[402_000; 10]).grew());
        assert!(!Change::of(&before, &[40_000; 10]).grew(), "38 ms is noise");
        assert!(
            !Change::of(&[400_000; 10], &[440_000; 10]).grew(),
            "10 % is noise"
        );
        let mut stalls = vec![2_000; 98];
        stalls.extend([300_000, 300_000]);
        assert!(
            !Change::of(&stalls, &[100_000; 10]).grew(),
            "the baseline's slowest were as slow"
        );
    }
}
