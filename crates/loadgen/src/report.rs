//! The run's figures as one serialisable document, and its rendering as a table or JSON.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::args::ScenarioKind;
use crate::scenario::{Mix, RequestKind};
use crate::schedule::{Mode, Summary};
use crate::slo::SloResult;
use crate::stats::{Sample, Stats, is_success};
use crate::trace_join::ServerSide;

mod table;

pub use table::render_table;

/// Everything a run measured; `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Order service base URL.
    pub target: String,
    /// Product service base URL.
    pub product_url: String,
    /// `order`, `get-order`, `browse` or `mix`.
    pub scenario: &'static str,
    /// The weights actually used.
    pub mix: Mix,
    /// `open` or `closed`.
    pub mode: &'static str,
    /// Open loop: requests per second scheduled.
    pub rate: Option<f64>,
    /// Closed loop: concurrent clients.
    pub connections: Option<usize>,
    /// Start of the load phase, microseconds since the Unix epoch.
    pub started_at: u64,
    /// The run was ended early by Ctrl-C: the figures cover the requests sent until then.
    pub interrupted: bool,
    /// From the start until the last answer, in seconds.
    pub elapsed_s: f64,
    /// What was scheduled, sent, answered.
    pub requests: Counts,
    /// Answered requests per second over `elapsed_s`.
    pub throughput_rps: f64,
    /// Latency of answered requests (any status), in microseconds; open loop measures from
    /// the scheduled time.
    pub latency_us: Latency,
    /// Latency per route.
    pub by_request: BTreeMap<RequestKind, RouteLatency>,
    /// Answers per HTTP status.
    pub status_counts: BTreeMap<u16, u64>,
    /// Everything that was not a 2xx/3xx answer.
    pub errors: Errors,
    /// `errors.total / (requests.sent + requests.dropped)`, a fraction.
    pub error_rate: f64,
    /// A uniform random sample of requests (reservoir), for joins with server spans.
    pub samples: Vec<Sample>,
    /// Server-side latency from the console, with `--console`.
    pub server_side: Option<ServerSide>,
    /// One entry per `--slo` objective.
    pub slo: Vec<SloResult>,
    /// Whether every objective was met (true without objectives).
    pub slo_met: bool,
    /// The exit code `run` returns: 0, 3 when an objective was missed, 130 when interrupted.
    pub exit_code: u8,
}

/// Request counts.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Came due (open loop) or were started (closed loop).
    pub scheduled: u64,
    /// Actually sent.
    pub sent: u64,
    /// Got an HTTP answer, whatever its status.
    pub completed: u64,
    /// Got a 2xx or 3xx answer.
    pub ok: u64,
    /// Open loop: not sent because `--max-in-flight` requests were outstanding.
    pub dropped: u64,
    /// Open loop: sent more than 10 ms after their due time (latency still counts from it).
    pub late: u64,
}

/// Latency figures in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Latency {
    /// How many requests these figures cover.
    pub count: u64,
    /// Fastest.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
}

impl Latency {
    fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self {
                count: 0,
                min: 0,
                mean: 0.0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
            };
        }
        Self {
            count: histogram.len(),
            min: histogram.min(),
            mean: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }
}

/// Latency of one route, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RouteLatency {
    /// Answered requests.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// Errors, by kind.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Errors {
    /// Answers other than 2xx/3xx, per status.
    pub by_status: BTreeMap<u16, u64>,
    /// The connection could not be made.
    pub connect: u64,
    /// No complete answer within `--timeout`.
    pub timeout: u64,
    /// Other transport failures (reset, malformed answer).
    pub other: u64,
    /// Open loop: not sent (see `requests.dropped`).
    pub dropped: u64,
    /// Sum of all of the above.
    pub total: u64,
}

/// Inputs of [`Report::build`] that describe the run rather than its results.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub(crate) target: String,
    pub(crate) product_url: String,
    pub(crate) scenario: ScenarioKind,
    pub(crate) mix: Mix,
    pub(crate) mode: Mode,
    pub(crate) started_at: u64,
}

impl Report {
    pub(crate) fn build(info: RunInfo, summary: Summary, stats: Stats) -> Self {
        let status_counts = stats.statuses.clone();
        let completed: u64 = status_counts.values().sum();
        let ok: u64 = status_counts
            .iter()
            .filter(|(status, _)| is_success(**status))
            .map(|(_, n)| n)
            .sum();
        let failure = |name: &str| stats.failures.get(name).copied().unwrap_or(0);
        let by_status: BTreeMap<u16, u64> = status_counts
            .iter()
            .filter(|(status, _)| !is_success(**status))
            .map(|(status, n)| (*status, *n))
            .collect();
        let mut errors = Errors {
            total: 0,
            connect: failure("connect"),
            timeout: failure("timeout"),
            other: failure("other"),
            dropped: summary.dropped,
            by_status,
        };
        errors.total = errors.by_status.values().sum::<u64>()
            + errors.connect
            + errors.timeout
            + errors.other
            + errors.dropped;
        let attempted = summary.sent + summary.dropped;
        let error_rate = if attempted == 0 {
            0.0
        } else {
            errors.total as f64 / attempted as f64
        };
        let elapsed_s = summary.elapsed.as_secs_f64();
        let by_request = stats
            .by_kind
            .iter()
            .filter(|(_, k)| k.count > 0)
            .map(|(kind, k)| {
                let latency = Latency::of(&k.latency);
                let route = RouteLatency {
                    count: k.count,
                    p50_us: latency.p50,
                    p99_us: latency.p99,
                };
                (*kind, route)
            })
            .collect();
        let (mode, rate, connections) = match info.mode {
            Mode::Open { rate, .. } => ("open", Some(rate), None),
            Mode::Closed { connections, .. } => ("closed", None, Some(connections)),
        };
        let latency_us = Latency::of(&stats.latency);
        Self {
            target: info.target,
            product_url: info.product_url,
            scenario: scenario_name(info.scenario),
            mix: info.mix,
            mode,
            rate,
            connections,
            started_at: info.started_at,
            interrupted: false,
            elapsed_s,
            requests: Counts {
                scheduled: summary.scheduled,
                sent: summary.sent,
                completed,
                ok,
                dropped: summary.dropped,
                late: summary.late,
            },
            throughput_rps: if elapsed_s > 0.0 {
                completed as f64 / elapsed_s
            } else {
                0.0
            },
            latency_us,
            by_request,
            status_counts,
            errors,
            error_rate,
            samples: stats.into_samples(),
            server_side: None,
            slo: Vec::new(),
            slo_met: true,
            exit_code: 0,
        }
    }
}

fn scenario_name(kind: ScenarioKind) -> &'static str {
    match kind {
        ScenarioKind::Order => "order",
        ScenarioKind::GetOrder => "get-order",
        ScenarioKind::Browse => "browse",
        ScenarioKind::Mix => "mix",
    }
}

/// `850µs`, `12.34ms` or `1.50s`.
pub fn format_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// The report as one pretty-printed JSON document.
pub fn render_json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_in_a_readable_unit() {
        assert_eq!(format_us(850), "850µs");
        assert_eq!(format_us(12_345), "12.35ms");
        assert_eq!(format_us(1_500_000), "1.50s");
    }
}
