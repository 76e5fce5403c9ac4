//! Service level objectives: `--slo p99=50ms,error_rate=1%`, checked against the report.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::args::parse_duration;
use crate::report::{Latency, format_us};

/// A latency figure an objective can bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantile {
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 99th percentile.
    P99,
    /// 99.9th percentile.
    P999,
    /// Slowest answer.
    Max,
}

impl Quantile {
    fn key(self) -> &'static str {
        match self {
            Self::P50 => "p50",
            Self::P90 => "p90",
            Self::P99 => "p99",
            Self::P999 => "p999",
            Self::Max => "max",
        }
    }

    fn of(self, latency: &Latency) -> u64 {
        match self {
            Self::P50 => latency.p50,
            Self::P90 => latency.p90,
            Self::P99 => latency.p99,
            Self::P999 => latency.p999,
            Self::Max => latency.max,
        }
    }
}

/// One objective of `--slo`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// The latency figure must not exceed `limit`.
    Latency {
        /// Which figure.
        quantile: Quantile,
        /// Its upper bound.
        limit: Duration,
    },
    /// Errors (non-2xx/3xx answers, transport failures, dropped requests) must not exceed this
    /// share of all requests, in percent.
    ErrorRate {
        /// Upper bound in percent (1.0 is 1 %).
        max_percent: f64,
    },
}

impl Objective {
    /// Parses `p50|p90|p99|p999|p99.9|max=<duration>` or `error_rate=<percent>%`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (key, value) = text
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not key=value (e.g. p99=50ms or error_rate=1%)"))?;
        let quantile = match key.trim() {
            "p50" => Quantile::P50,
            "p90" => Quantile::P90,
            "p99" => Quantile::P99,
            "p999" | "p99.9" => Quantile::P999,
            "max" => Quantile::Max,
            "error_rate" => {
                let percent = value.trim().strip_suffix('%').ok_or_else(|| {
                    format!("write error_rate as a percentage, e.g. error_rate=1% (got `{value}`)")
                })?;
                let max_percent: f64 = percent
                    .trim()
                    .parse()
                    .map_err(|_| format!("`{value}` is not a percentage"))?;
                if !(0.0..=100.0).contains(&max_percent) {
                    return Err(format!("error_rate `{value}` must be between 0% and 100%"));
                }
                return Ok(Self::ErrorRate { max_percent });
            }
            other => {
                return Err(format!(
                    "unknown objective `{other}` (use p50, p90, p99, p999, max or error_rate)"
                ));
            }
        };
        Ok(Self::Latency {
            quantile,
            limit: parse_duration(value)?,
        })
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Latency { quantile, limit } => {
                write!(f, "{}<={}", quantile.key(), format_us(micros(*limit)))
            }
            Self::ErrorRate { max_percent } => write!(f, "error_rate<={max_percent}%"),
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// How the run did against one objective.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SloResult {
    /// The objective, e.g. `p99<=50.00ms`.
    pub objective: String,
    /// `p50`, `p90`, `p99`, `p999`, `max` or `error_rate`.
    pub key: &'static str,
    /// The bound, in `unit`.
    pub limit: f64,
    /// What the run measured, in `unit`.
    pub actual: f64,
    /// `us` for latency, `percent` for the error rate.
    pub unit: &'static str,
    /// Whether the objective was met.
    pub met: bool,
}

/// Checks every objective. A latency objective with no answered request is missed: there is no
/// evidence it was met.
pub fn check(objectives: &[Objective], latency: &Latency, error_rate: f64) -> Vec<SloResult> {
    objectives
        .iter()
        .map(|objective| match *objective {
            Objective::Latency { quantile, limit } => {
                let actual = quantile.of(latency);
                let limit_us = micros(limit);
                SloResult {
                    objective: objective.to_string(),
                    key: quantile.key(),
                    limit: limit_us as f64,
                    actual: actual as f64,
                    unit: "us",
                    met: latency.count > 0 && actual <= limit_us,
                }
            }
            Objective::ErrorRate { max_percent } => {
                let actual = error_rate * 100.0;
                SloResult {
                    objective: objective.to_string(),
                    key: "error_rate",
                    limit: max_percent,
                    actual,
                    unit: "percent",
                    met: actual <= max_percent,
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(p99: u64) -> Latency {
        Latency {
            count: 10,
            min: 1,
            mean: 1.0,
            p50: 1,
            p90: 1,
            p99,
            p999: p99,
            max: p99,
        }
    }

    #[test]
    fn objectives_parse_from_their_flag_spelling() {
        let cases = [
            (
                "p99=50ms",
                Objective::Latency {
                    quantile: Quantile::P99,
                    limit: Duration::from_millis(50),
                },
            ),
            (
                "p99.9=1s",
                Objective::Latency {
                    quantile: Quantile::P999,
                    limit: Duration::from_secs(1),
                },
            ),
            (
                "max=200ms",
                Objective::Latency {
                    quantile: Quantile::Max,
                    limit: Duration::from_millis(200),
                },
            ),
            ("error_rate=1%", Objective::ErrorRate { max_percent: 1.0 }),
            ("error_rate=0.5%", Objective::ErrorRate { max_percent: 0.5 }),
        ];
        for (text, expected) in cases {
            assert_eq!(Objective::parse(text), Ok(expected), "{text}");
        }
        for bad in [
            "p98=1ms",
            "p99",
            "p99=fast",
            "error_rate=0.01",
            "error_rate=120%",
        ] {
            assert!(Objective::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn objectives_are_met_only_within_their_bounds() {
        let p99 = Objective::parse("p99=50ms").unwrap();
        let errors = Objective::parse("error_rate=1%").unwrap();
        let met = check(&[p99, errors], &latency(50_000), 0.01);
        assert!(met.iter().all(|r| r.met), "{met:?}");
        let missed = check(&[p99, errors], &latency(50_001), 0.011);
        assert!(missed.iter().all(|r| !r.met), "{missed:?}");
    }

    #[test]
    fn a_latency_objective_without_any_answer_is_missed() {
        let mut none = latency(0);
        none.count = 0;
        let results = check(&[Objective::parse("p99=1s").unwrap()], &none, 1.0);
        assert!(!results[0].met);
    }
}
