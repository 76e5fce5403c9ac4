//! What each experiment does: its load, its SLOs and its fault timeline. Both runs of an
//! experiment (resilience off, then on) follow the same plan.

use std::time::Duration;

use serde::Serialize;
use tracemart_platform::ServiceName;
use tracemart_platform::faults::{FaultKind, FaultSpec};

/// Which experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Experiment {
    /// Inventory slow, then failing: do reads that never need inventory suffer with it?
    Propagation,
    /// Every dependency fails now and then: how many orders succeed, and do all settle?
    Availability,
}

impl Experiment {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Propagation => "propagation",
            Self::Availability => "availability",
        }
    }
}

/// One fault of a phase, on one service.
#[derive(Debug, Clone, Serialize)]
pub(super) struct PlannedFault {
    pub(super) service: ServiceName,
    #[serde(flatten)]
    pub(super) spec: FaultSpec,
}

/// A stretch of the run with its faults (none: the shop as it is).
#[derive(Debug, Clone, Serialize)]
pub(super) struct Phase {
    pub(super) name: &'static str,
    /// What the phase does, in words.
    pub(super) about: &'static str,
    /// Offset from the start of the load, and length, in seconds.
    pub(super) start_s: f64,
    pub(super) duration_s: f64,
    pub(super) faults: Vec<PlannedFault>,
}

/// The load, the objectives and the timeline of one experiment.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Plan {
    pub(super) experiment: Experiment,
    pub(super) short: bool,
    /// Open loop: requests started per second, whatever the shop answers.
    pub(super) rate: f64,
    /// The load's duration, in seconds.
    pub(super) duration_s: f64,
    /// `tracemart load --mix` weights.
    pub(super) mix: &'static str,
    /// Seed of the request bodies and the mix, the same in both runs.
    pub(super) seed: u64,
    /// A request answered later than this (from its scheduled start) missed its objective.
    pub(super) read_slo_ms: u64,
    pub(super) order_slo_ms: u64,
    /// The load generator gives up on a request after this long (it then counts as failed);
    /// longer than the seed's 10 s timeout, so the shop's own answer arrives first.
    pub(super) client_timeout_s: u64,
    /// After the load (and with every fault cleared), how long the sagas get to settle
    /// before the books are checked.
    pub(super) drain_deadline_s: u64,
    pub(super) phases: Vec<Phase>,
}

/// Full runs: long enough for a breaker to open, and for hundreds of orders per phase.
const PROPAGATION_DURATION: Duration = Duration::from_secs(100);
const AVAILABILITY_DURATION: Duration = Duration::from_secs(90);
/// `--short`: each run about half a minute.
const SHORT_DURATION: Duration = Duration::from_secs(30);

fn fault(service: ServiceName, kind: FaultKind, rate: f64) -> PlannedFault {
    PlannedFault {
        service,
        spec: FaultSpec {
            kind,
            rate,
            route: None,
        },
    }
}

impl Plan {
    pub(super) fn new(
        experiment: Experiment,
        short: bool,
        duration: Option<Duration>,
        rate: Option<f64>,
    ) -> Self {
        let duration = duration.unwrap_or(match (short, experiment) {
            (true, _) => SHORT_DURATION,
            (false, Experiment::Propagation) => PROPAGATION_DURATION,
            (false, Experiment::Availability) => AVAILABILITY_DURATION,
        });
        let duration_s = duration.as_secs_f64();
        let (mix, default_rate, phases) = match experiment {
            // Reads of orders, products and users, none of which needs inventory, and orders,
            // which do; inventory slow, then failing a share of its requests, then not
            // answering at all.
            Experiment::Propagation => {
                let inventory = ServiceName::Inventory;
                let steps: [(&'static str, &'static str, Vec<PlannedFault>); 5] = [
                    ("baseline", "no fault", vec![]),
                    (
                        "slow",
                        "inventory answers after 1-1.5 s",
                        vec![fault(
                            inventory,
                            FaultKind::Latency {
                                latency_ms: 1000,
                                jitter_ms: 500,
                            },
                            1.0,
                        )],
                    ),
                    (
                        "flaky",
                        "inventory answers 503 to 30 % of its requests",
                        vec![fault(inventory, FaultKind::Error { status: 503 }, 0.3)],
                    ),
                    (
                        "down",
                        "inventory answers nothing (hangs)",
                        vec![fault(inventory, FaultKind::Hang, 1.0)],
                    ),
                    ("recovered", "faults cleared", vec![]),
                ];
                let share = duration_s / steps.len() as f64;
                let phases = steps
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, about, faults))| Phase {
                        name,
                        about,
                        start_s: i as f64 * share,
                        duration_s: share,
                        faults,
                    })
                    .collect();
                ("order=3,get=3,browse=2,user=2", 50.0, phases)
            }
            // Orders only; each of the four services an order depends on answers 503 to 5 %
            // of its requests and leaves 0.5 % unanswered.
            Experiment::Availability => {
                let faults = [
                    ServiceName::User,
                    ServiceName::Product,
                    ServiceName::Inventory,
                    ServiceName::Payment,
                ]
                .into_iter()
                .flat_map(|s| {
                    [
                        fault(s, FaultKind::Error { status: 503 }, 0.05),
                        fault(s, FaultKind::Hang, 0.005),
                    ]
                })
                .collect();
                let phases = vec![Phase {
                    name: "faulty",
                    about: "user, product, inventory, payment: 503 on 5 %, no answer on 0.5 %",
                    start_s: 0.0,
                    duration_s,
                    faults,
                }];
                ("order=1", 25.0, phases)
            }
        };
        Self {
            experiment,
            short,
            rate: rate.unwrap_or(default_rate),
            duration_s,
            mix,
            seed: 15,
            read_slo_ms: 300,
            order_slo_ms: 1000,
            client_timeout_s: 15,
            drain_deadline_s: if short { 30 } else { 60 },
            phases,
        }
    }

    /// Requests the run will schedule.
    pub(super) fn requests(&self) -> u64 {
        (self.rate * self.duration_s).ceil() as u64
    }
}
