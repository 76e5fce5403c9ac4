//! The experiment's report: the plan, the machine, the settings of both shops, each run's
//! figures per phase and its books; as JSON, as a table, as an SVG chart.

use std::fmt::Write;

use serde::Serialize;
use tracemart_platform::{CallPolicy, Resilience};

use super::ledger::Books;
use super::measure::PhaseFigures;
use super::plan::{Experiment, Plan};
use super::svg::{self, Panel};

/// Where the experiment ran.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Machine {
    pub(super) cpu_model: String,
    /// Cores this process may use.
    pub(super) cores: usize,
    /// `/proc/loadavg`'s one-minute figure at the start: how busy the machine already was.
    pub(super) load_average_1m: Option<f64>,
    pub(super) os: &'static str,
    /// The tracemart version that ran, and whether it was an optimised build.
    pub(super) version: &'static str,
    pub(super) release_build: bool,
}

impl Machine {
    pub(super) fn here() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let load_average_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok());
        Self {
            cpu_model,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            load_average_1m,
            os: std::env::consts::OS,
            version: env!("CARGO_PKG_VERSION"),
            release_build: !cfg!(debug_assertions),
        }
    }
}

/// How each shop's calls between services were bounded.
#[derive(Debug, Clone, Serialize)]
pub(super) struct CallSettings {
    pub(super) resilience: Resilience,
    pub(super) timeout_ms: u128,
    /// `null`: no bulkhead.
    pub(super) bulkhead: Option<usize>,
    pub(super) retries: u32,
    /// `null`: no circuit breaker.
    pub(super) breaker_failures_in_a_row: Option<u32>,
    pub(super) breaker_longest_open_ms: Option<u128>,
}

impl CallSettings {
    fn of(resilience: Resilience) -> Self {
        let policy: CallPolicy = super::shop::shop_config(resilience).call_policy();
        Self {
            resilience,
            timeout_ms: policy.timeout.as_millis(),
            bulkhead: (policy.max_in_flight < CallPolicy::seed().max_in_flight)
                .then_some(policy.max_in_flight),
            retries: policy.retries,
            breaker_failures_in_a_row: policy.breaker.map(|b| b.failure_threshold),
            breaker_longest_open_ms: policy.breaker.map(|b| b.open_for.as_millis()),
        }
    }
}

/// One run: resilience off or on.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Run {
    pub(super) resilience: Resilience,
    /// Requests that came due, and those not sent because too many were outstanding.
    pub(super) scheduled: u64,
    pub(super) dropped: u64,
    pub(super) phases: Vec<PhaseFigures>,
    pub(super) overall: PhaseFigures,
    pub(super) books: Books,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct Report {
    pub(super) experiment: Experiment,
    pub(super) started_at: String,
    pub(super) machine: Machine,
    pub(super) plan: Plan,
    pub(super) settings: Vec<CallSettings>,
    pub(super) runs: Vec<Run>,
}

impl Report {
    pub(super) fn new(plan: Plan, machine: Machine, started_at: String, runs: Vec<Run>) -> Self {
        Self {
            experiment: plan.experiment,
            started_at,
            machine,
            settings: runs
                .iter()
                .map(|r| CallSettings::of(r.resilience))
                .collect(),
            plan,
            runs,
        }
    }

    fn run(&self, resilience: Resilience) -> Option<&Run> {
        self.runs.iter().find(|r| r.resilience == resilience)
    }
}

fn pair<T>(report: &Report, f: impl Fn(&Run) -> T) -> Option<(T, T)> {
    Some((
        f(report.run(Resilience::Off)?),
        f(report.run(Resilience::On)?),
    ))
}

/// The table printed on stdout.
pub(super) fn table(report: &Report) -> String {
    let plan = &report.plan;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "experiment {}: {} req/s open loop for {} s per run (mix {}), resilience off then on, each on a fresh shop",
        plan.experiment.name(),
        plan.rate,
        plan.duration_s,
        plan.mix
    );
    let _ = writeln!(
        out,
        "objectives: reads {} ms, orders {} ms (later, or not 2xx/3xx, is bad). Machine: {} ({} cores){}",
        plan.read_slo_ms,
        plan.order_slo_ms,
        report.machine.cpu_model,
        report.machine.cores,
        if report.machine.release_build {
            ""
        } else {
            ", debug build"
        }
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<10} {:<55} {:>17} {:>17} {:>17} {:>21}",
        "phase", "faults", "reads bad off→on", "orders bad", "orders ok", "order p99 ms"
    );
    let phases = report.runs.first().map_or(0, |r| r.phases.len());
    let rows = (0..phases)
        .map(|i| {
            let about = plan.phases.get(i).map_or("", |p| p.about);
            (about, pair(report, |r| r.phases[i].clone()))
        })
        .chain(std::iter::once((
            "whole run",
            pair(report, |r| r.overall.clone()),
        )));
    for (about, figures) in rows {
        let Some((off, on)) = figures else { continue };
        let _ = writeln!(
            out,
            "{:<10} {:<55} {:>17} {:>17} {:>17} {:>21}",
            off.name,
            about,
            format!("{:.1}% → {:.1}%", off.reads.bad_pct, on.reads.bad_pct),
            format!("{:.1}% → {:.1}%", off.orders.bad_pct, on.orders.bad_pct),
            format!(
                "{:.1}% → {:.1}%",
                off.orders.success_pct, on.orders.success_pct
            ),
            format!("{:.0} → {:.0}", off.orders.p99_ms, on.orders.p99_ms),
        );
    }
    let _ = writeln!(out);
    for run in &report.runs {
        let b = &run.books;
        let _ = writeln!(
            out,
            "books, resilience {}: {} orders stored, {} confirmed, {} cancelled, {} still created ({:.2}% settled, {} in {:.1} s); {}/{} products add up, {} units held, {} units off",
            run.resilience,
            b.orders,
            b.confirmed,
            b.cancelled,
            b.pending,
            b.settled_pct,
            if b.drained { "drained" } else { "not drained" },
            b.drain_s,
            b.products_consistent,
            b.products,
            b.units_held,
            b.units_off
        );
    }
    out
}

/// The SVG chart written next to the JSON.
pub(super) fn chart(report: &Report) -> String {
    let series = |f: &dyn Fn(&Run) -> Vec<f64>| {
        let mut s = Vec::new();
        if let Some(r) = report.run(Resilience::Off) {
            s.push(("resilience off", svg::OFF, f(r)));
        }
        if let Some(r) = report.run(Resilience::On) {
            s.push(("resilience on", svg::ON, f(r)));
        }
        s
    };
    let plan = &report.plan;
    let title = format!(
        "tracemart experiment {}: {} req/s, {} s per run{}",
        plan.experiment.name(),
        plan.rate,
        plan.duration_s,
        if plan.short { " (short)" } else { "" }
    );
    let panels = match plan.experiment {
        Experiment::Propagation => {
            let phases: Vec<String> = plan.phases.iter().map(|p| p.name.to_owned()).collect();
            vec![
                Panel {
                    title: format!(
                        "Reads (orders, products, users; no inventory): failed or over {} ms",
                        plan.read_slo_ms
                    ),
                    unit: "% of reads",
                    max: Some(100.0),
                    categories: phases.clone(),
                    series: series(&|r| r.phases.iter().map(|p| p.reads.bad_pct).collect()),
                },
                Panel {
                    title: format!("Orders: failed or over {} ms", plan.order_slo_ms),
                    unit: "% of orders",
                    max: Some(100.0),
                    categories: phases.clone(),
                    series: series(&|r| r.phases.iter().map(|p| p.orders.bad_pct).collect()),
                },
                Panel {
                    title: "Orders: p99 latency (answer or failure)".into(),
                    unit: "ms",
                    max: None,
                    categories: phases,
                    series: series(&|r| r.phases.iter().map(|p| p.orders.p99_ms).collect()),
                },
            ]
        }
        Experiment::Availability => vec![
            Panel {
                title: "Orders answered 201, sagas settled, products whose stock adds up".into(),
                unit: "%",
                max: Some(100.0),
                categories: vec![
                    "orders succeeded".into(),
                    "orders settled".into(),
                    "stock adds up".into(),
                ],
                series: series(&|r| {
                    let b = &r.books;
                    vec![
                        r.overall.orders.success_pct,
                        b.settled_pct,
                        if b.products == 0 {
                            0.0
                        } else {
                            100.0 * b.products_consistent as f64 / b.products as f64
                        },
                    ]
                }),
            },
            Panel {
                title: "Order latency (answer or failure)".into(),
                unit: "ms",
                max: None,
                categories: vec!["p50".into(), "p99".into()],
                series: series(&|r| vec![r.overall.orders.p50_ms, r.overall.orders.p99_ms]),
            },
        ],
    };
    svg::render(&title, &panels)
}
