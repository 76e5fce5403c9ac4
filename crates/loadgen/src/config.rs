//! Turns the flags into a checked run configuration, once, before anything is sent.

use std::time::Duration;

use http::HeaderValue;

use crate::args::{DEFAULT_DURATION, LoadArgs, ScenarioKind};
use crate::base_url::BaseUrl;
use crate::error::LoadError;
use crate::progress::Bound;
use crate::scenario::Mix;
use crate::schedule::Mode;
use crate::slo::Objective;

/// Highest open-loop rate accepted, far above what one machine can send.
const MAX_RATE: f64 = 10_000_000.0;

/// A run configuration whose values have all been checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) target: BaseUrl,
    pub(crate) products: BaseUrl,
    pub(crate) users: BaseUrl,
    pub(crate) scenario: ScenarioKind,
    pub(crate) mix: Mix,
    pub(crate) mode: Mode,
    pub(crate) timeout: Duration,
    pub(crate) seed: Option<u64>,
    pub(crate) samples: usize,
    pub(crate) slo: Vec<Objective>,
    pub(crate) console: Option<BaseUrl>,
    pub(crate) console_traces: usize,
    pub(crate) quiet: bool,
    /// The `Authorization` header of every request.
    pub(crate) authorization: Option<HeaderValue>,
}

fn invalid(message: impl Into<String>) -> LoadError {
    LoadError::InvalidArgs(message.into())
}

impl Config {
    pub(crate) fn from_args(args: &LoadArgs) -> Result<Self, LoadError> {
        let target = BaseUrl::parse(&args.target).map_err(invalid)?;
        let products = BaseUrl::parse(&args.product_url).map_err(invalid)?;
        let users = BaseUrl::parse(&args.user_url).map_err(invalid)?;
        let console = args
            .console
            .as_deref()
            .map(BaseUrl::parse)
            .transpose()
            .map_err(invalid)?;
        let scenario = match (args.scenario, args.mix) {
            (Some(kind), None) => kind,
            (None | Some(ScenarioKind::Mix), Some(_)) => ScenarioKind::Mix,
            (None, None) => ScenarioKind::Order,
            (Some(_), Some(_)) => return Err(invalid("--mix only applies to --scenario mix")),
        };
        let mix = match scenario {
            ScenarioKind::Order => Mix::ORDER,
            ScenarioKind::GetOrder => Mix::GET,
            ScenarioKind::Browse => Mix::BROWSE,
            ScenarioKind::Mix => args.mix.unwrap_or_default(),
        };
        if args.requests == Some(0) {
            return Err(invalid("--requests must be at least 1"));
        }
        if args.duration.is_some_and(|d| d.is_zero()) {
            return Err(invalid("--duration must be positive"));
        }
        if args.timeout.is_zero() {
            return Err(invalid("--timeout must be positive"));
        }
        // Always bounded: with no bound given, run for the default duration.
        let duration = match (args.duration, args.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (duration, _) => duration,
        };
        let mode = match args.rate {
            Some(rate) => open_mode(rate, duration, args.requests, args.max_in_flight)?,
            None => {
                if args.connections == 0 {
                    return Err(invalid("--connections must be at least 1"));
                }
                Mode::Closed {
                    connections: args.connections,
                    requests: args.requests,
                    duration,
                }
            }
        };
        Ok(Self {
            target,
            products,
            users,
            scenario,
            mix,
            mode,
            timeout: args.timeout,
            seed: args.seed,
            samples: args.samples,
            slo: args.slo.clone(),
            console,
            console_traces: args.console_traces,
            quiet: args.quiet,
            authorization: args
                .token
                .as_deref()
                .map(|t| HeaderValue::from_str(&format!("Bearer {}", t.trim())))
                .transpose()
                .map_err(|_| invalid("--token must be printable ASCII"))?,
        })
    }

    /// What the progress bar counts towards.
    pub(crate) fn bound(&self) -> Bound {
        match self.mode {
            Mode::Open { total, .. } => Bound::Requests(total),
            Mode::Closed {
                requests: Some(n),
                duration: None,
                ..
            } => Bound::Requests(n),
            Mode::Closed { duration, .. } => Bound::Time(duration.unwrap_or(DEFAULT_DURATION)),
        }
    }
}

fn open_mode(
    rate: f64,
    duration: Option<Duration>,
    requests: Option<u64>,
    max_in_flight: usize,
) -> Result<Mode, LoadError> {
    if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
        return Err(invalid(format!("--rate must be in (0, {MAX_RATE}]")));
    }
    let max_in_flight = u32::try_from(max_in_flight)
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .ok_or_else(|| invalid("--max-in-flight must be between 1 and 1000000"))?;
    // Requests are due at i / rate for every i with i / rate < duration.
    let by_time = duration.map(|d| (rate * d.as_secs_f64() - 1e-9).ceil().max(0.0) as u64);
    let total = match (by_time, requests) {
        (Some(t), Some(r)) => t.min(r),
        (Some(t), None) => t,
        (None, Some(r)) => r,
        (None, None) => 0,
    };
    if total == 0 {
        return Err(invalid("--rate × --duration is less than one request"));
    }
    Ok(Mode::Open {
        rate,
        total,
        max_in_flight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(flags: &[&str]) -> Result<Config, LoadError> {
        Config::from_args(&LoadArgs::try_parse_from(flags).unwrap())
    }

    #[test]
    fn open_loop_plans_rate_times_duration_requests() {
        let cases = [
            (&["--rate", "200", "--duration", "1s"][..], 200),
            (
                &["--rate", "200", "--duration", "1s", "--requests", "50"][..],
                50,
            ),
            (&["--rate", "100", "--requests", "30"][..], 30),
            (&["--rate", "0.5", "--duration", "1s"][..], 1),
            (&["--rate", "3"][..], 30),
        ];
        for (flags, expected) in cases {
            match config(flags).unwrap().mode {
                Mode::Open { total, .. } => assert_eq!(total, expected, "{flags:?}"),
                other => panic!("{flags:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn closed_loop_is_always_bounded() {
        let mode = config(&[]).unwrap().mode;
        assert_eq!(
            mode,
            Mode::Closed {
                connections: 32,
                requests: None,
                duration: Some(DEFAULT_DURATION)
            }
        );
        let mode = config(&["--requests", "5"]).unwrap().mode;
        assert!(matches!(
            mode,
            Mode::Closed {
                requests: Some(5),
                duration: None,
                ..
            }
        ));
    }

    #[test]
    fn contradictions_and_nonsense_are_bad_arguments() {
        let cases: [&[&str]; 8] = [
            &["--rate", "0"],
            &["--rate=-5"],
            &["--rate", "NaN"],
            &["--connections", "0"],
            &["--requests", "0"],
            &["--scenario", "browse", "--mix", "order=1"],
            &["https://example.test"],
            &["--rate", "10", "--max-in-flight", "0"],
        ];
        for flags in cases {
            let error = config(flags).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{flags:?}");
        }
    }

    #[test]
    fn a_mix_implies_the_mix_scenario() {
        let config = config(&["--mix", "get=1,browse=1"]).unwrap();
        assert_eq!(config.scenario, ScenarioKind::Mix);
        assert_eq!(
            config.mix,
            Mix {
                order: 0,
                get: 1,
                browse: 1,
                user: 0
            }
        );
    }
}
