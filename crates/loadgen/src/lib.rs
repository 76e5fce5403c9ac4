//! `tracemart load`: a load generator for the shop that cannot be fooled by a stalled server.
//!
//! Open loop (`--rate`) starts requests on a fixed timetable and measures each latency from its
//! scheduled time, as wrk2 does, so queueing shows up (no coordinated omission); closed loop
//! (`--connections`) runs N clients back to back. Every request carries
//! `baggage: synthetic_request=true` and its own sampled W3C `traceparent`, and a reservoir of
//! (trace id, schedule, latency, status) samples lets the report put the server's own span
//! durations (`--console`) beside the client's view.
//!
//! The binary owns the command line; this crate offers [`LoadArgs`] to flatten into it,
//! [`run`] for the whole command, and [`execute`] for a [`Report`] without printing.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod base_url;
mod client;
mod config;
mod error;
mod order_body;
mod progress;
pub mod report;
mod scenario;
mod schedule;
pub mod slo;
mod stats;
pub mod trace_join;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

pub use crate::args::{
    DEFAULT_DURATION, DEFAULT_PRODUCT_URL, DEFAULT_TARGET, DEFAULT_USER_URL, LoadArgs,
    ScenarioKind, parse_duration,
};
pub use crate::base_url::BaseUrl;
pub use crate::client::{Failure, SYNTHETIC_BAGGAGE, TraceContext};
pub use crate::error::LoadError;
pub use crate::order_body::{OrderBody, OrderItem, PRODUCTS, ShippingAddress, USERS, order_body};
pub use crate::report::Report;
pub use crate::scenario::{Mix, RequestKind};
pub use crate::schedule::LATE_AFTER;
pub use crate::stats::Sample;

use crate::client::LoadClient;
use crate::config::Config;
use crate::progress::Progress;
use crate::report::RunInfo;
use crate::scenario::{OrderIds, Planner, Targets};
use crate::schedule::{Driver, EarlyStop};
use crate::stats::{Clock, Stats};
use crate::trace_join::ServerSide;

/// Exit code: the run finished and every objective was met.
pub const EXIT_OK: u8 = 0;
/// Exit code: bad arguments, or the target did not answer the pre-flight request.
pub const EXIT_UNUSABLE: u8 = 2;
/// Exit code: an `--slo` objective was missed.
pub const EXIT_SLO_MISSED: u8 = 3;
/// Exit code: the run was ended early by Ctrl-C (128 + SIGINT, as shells report it); the
/// report of what was measured until then is still printed.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Orders the get-order scenario tries to create before the run, when it has none to read.
const SEED_ORDER_ATTEMPTS: usize = 10;
/// Enough distinct ids to spread reads over.
const SEED_ORDERS_WANTED: usize = 5;

/// Runs `tracemart load`: the load, then the table (or `--json` document) on stdout, notes and
/// errors on stderr. Returns the exit code: 0 ok, 2 unreachable target or bad arguments,
/// 3 SLO missed, 130 ended early by Ctrl-C. `Err` only for failures of the generator itself.
///
/// The first Ctrl-C ends the load early: requests in flight finish and the report covers what
/// was sent. A second Ctrl-C quits at once, without a report.
pub async fn run(args: LoadArgs) -> anyhow::Result<u8> {
    match execute_until(&args, first_interrupt()?).await {
        Ok(report) => {
            if args.json {
                println!("{}", report::render_json(&report)?);
                if let Some(ServerSide::Skipped { console, reason }) = &report.server_side {
                    eprintln!("note: server-side comparison skipped ({console}: {reason})");
                }
                for missed in report.slo.iter().filter(|r| !r.met) {
                    eprintln!(
                        "SLO missed: {} (actual {} {})",
                        missed.objective, missed.actual, missed.unit
                    );
                }
            } else {
                print!("{}", report::render_table(&report));
            }
            Ok(report.exit_code)
        }
        Err(LoadError::Internal(message)) => Err(anyhow::anyhow!(message)),
        Err(error) => {
            eprintln!("error: {error}");
            Ok(error.exit_code())
        }
    }
}

/// Resolves on the first SIGINT; the second one ends the process with [`EXIT_INTERRUPTED`].
/// Listening starts at the call, so that no Ctrl-C meets the default disposition mid-run.
fn first_interrupt() -> anyhow::Result<impl Future<Output = ()>> {
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))?;
    Ok(async move {
        interrupts.recv().await;
        eprintln!("\nstopping: waiting for the requests in flight (Ctrl-C again to quit at once)");
        tokio::spawn(async move {
            interrupts.recv().await;
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        });
    })
}

/// Runs the load and returns its report without printing it (the progress bar still shows
/// unless `--quiet` or stderr is not a terminal).
pub async fn execute(args: &LoadArgs) -> Result<Report, LoadError> {
    execute_until(args, std::future::pending()).await
}

/// As [`execute`], but the load phase ends early once `stop` resolves: no new request starts,
/// those in flight finish, and the report (marked `interrupted`) covers what was sent.
pub async fn execute_until(
    args: &LoadArgs,
    stop: impl Future<Output = ()>,
) -> Result<Report, LoadError> {
    let config = Config::from_args(args)?;
    let ids = OrderIds::default();
    let client = LoadClient::new(config.timeout, ids.clone(), config.authorization.clone());
    if config.mix.uses_orders() {
        client.probe(&config.target).await?;
    }
    if config.mix.uses_products() && !(config.mix.uses_orders() && config.products == config.target)
    {
        client.probe(&config.products).await?;
    }
    if config.mix.uses_users() {
        client.probe(&config.users).await?;
    }
    let targets = Targets {
        orders: config.target.clone(),
        products: config.products.clone(),
        users: config.users.clone(),
    };
    let planner = Planner::new(config.mix, targets, ids);
    let driver = Arc::new(Driver {
        client: client.clone(),
        planner,
        seed: config.seed,
    });
    if config.mix.get > 0 {
        seed_orders(&driver, &config).await?;
    }

    let clock = Clock::now();
    let stats = Stats::new(clock, config.samples)?;
    let progress = Progress::new(config.quiet, config.bound(), clock.start());
    let (outcomes, received) = mpsc::unbounded_channel();
    let collector = tokio::spawn(schedule::collect(received, stats, progress));
    let (request_stop, stop_requested) = watch::channel(false);
    let drive = schedule::drive(
        driver,
        config.mode,
        outcomes,
        clock.start(),
        EarlyStop::new(stop_requested),
    );
    let mut drive = std::pin::pin!(drive);
    let mut stop = std::pin::pin!(stop);
    let (summary, interrupted) = tokio::select! {
        summary = &mut drive => (summary, false),
        () = &mut stop => {
            let _ = request_stop.send(true);
            (drive.await, true)
        }
    };
    let stats = collector
        .await
        .map_err(|e| LoadError::Internal(format!("stats collector failed: {e}")))?;

    let info = RunInfo {
        target: config.target.to_string(),
        product_url: config.products.to_string(),
        scenario: config.scenario,
        mix: config.mix,
        mode: config.mode,
        started_at: clock.start_epoch_us(),
    };
    let mut report = Report::build(info, summary, stats);
    report.interrupted = interrupted;
    if let Some(console) = &config.console {
        let joined =
            trace_join::join(&client, console, &report.samples, config.console_traces).await;
        report.server_side = Some(joined);
    }
    report.slo = slo::check(&config.slo, &report.latency_us, report.error_rate);
    report.slo_met = report.slo.iter().all(|r| r.met);
    report.exit_code = if interrupted {
        EXIT_INTERRUPTED
    } else if report.slo_met {
        EXIT_OK
    } else {
        EXIT_SLO_MISSED
    };
    Ok(report)
}

/// Creates a few orders (not counted in the report) so that reads have ids to use.
async fn seed_orders(driver: &Driver, config: &Config) -> Result<(), LoadError> {
    let ids = driver.planner.order_ids();
    let mut rng = driver.rng(u64::MAX);
    let mut last = String::from("no attempt");
    for _ in 0..SEED_ORDER_ATTEMPTS {
        if ids.len() >= SEED_ORDERS_WANTED {
            break;
        }
        let spec = driver.planner.create_order(&mut rng);
        last = match driver.client.send(&spec, &TraceContext::random()).await {
            Ok(status) => format!("last answer was HTTP {status}"),
            Err(failure) => format!("last attempt failed ({failure})"),
        };
    }
    if ids.is_empty() && config.mix.order == 0 {
        return Err(LoadError::NoOrders {
            url: config.target.join("/orders"),
            reason: format!("{last}, expected 201 with an order_id"),
        });
    }
    Ok(())
}
