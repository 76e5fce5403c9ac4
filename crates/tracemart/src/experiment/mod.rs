//! `tracemart experiment propagation|availability`: the same open-loop load and the same fault
//! timeline, twice, each on a fresh shop: resilience off (the seed's plain calls), then on
//! (today's defaults). Prints a table (or the JSON), and writes the JSON and an SVG chart to
//! the output directory.

mod ledger;
mod measure;
mod plan;
mod report;
mod shop;
mod svg;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use tracemart_loadgen::{LoadArgs, Sample};
use tracemart_platform::Resilience;

pub use plan::Experiment;

use crate::fault_admin::Operator;
use plan::Plan;
use report::{Report, Run};
use shop::Shop;

/// Flags of `tracemart experiment`.
#[derive(Debug, clap::Args)]
pub struct ExperimentArgs {
    /// Which experiment.
    #[arg(value_enum)]
    pub experiment: Experiment,
    /// Print the JSON report on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Load duration of each run (e.g. 60s, 2m), split among the phases in the same
    /// proportions [default: 100s propagation, 90s availability; 30s with --short].
    #[arg(long, value_name = "DURATION", value_parser = tracemart_loadgen::parse_duration)]
    pub duration: Option<Duration>,
    /// CI mode: 30 s of load per run, a 30 s drain deadline.
    #[arg(long)]
    pub short: bool,
    /// Open-loop rate in requests per second [default: 50 propagation, 25 availability].
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// Directory the JSON report and the SVG chart are written to (created if missing).
    #[arg(long, value_name = "DIR", default_value = "experiments")]
    pub out: PathBuf,
}

/// The operator token outlives any run (load, drain, books).
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// Runs the experiment; 0 when both runs completed and the files were written, 1 otherwise.
pub(crate) async fn run(args: ExperimentArgs) -> u8 {
    match execute(&args).await {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            } else {
                print!("{}", report::table(&report));
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

async fn execute(args: &ExperimentArgs) -> anyhow::Result<Report> {
    if args.duration.is_some_and(|d| d < Duration::from_secs(5)) {
        anyhow::bail!("--duration must be at least 5s");
    }
    if args
        .rate
        .is_some_and(|r| !(r.is_finite() && r > 0.0 && r <= 10_000.0))
    {
        anyhow::bail!("--rate must be above 0 and at most 10000");
    }
    let plan = Plan::new(args.experiment, args.short, args.duration, args.rate);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let machine = report::Machine::here();
    let started_at = chrono_now();
    let mut runs = Vec::new();
    for resilience in [Resilience::Off, Resilience::On] {
        eprintln!(
            "{}: resilience {resilience}: starting a fresh shop",
            plan.experiment.name()
        );
        let shop = Shop::start(resilience).await?;
        let outcome = one_run(&plan, &shop, resilience).await;
        shop.stop().await;
        runs.push(outcome?);
    }
    let report = Report::new(plan, machine, started_at, runs);
    let name = report.plan.experiment.name();
    let json = args.out.join(format!("{name}.json"));
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write {}", json.display()))?;
    let chart = args.out.join(format!("{name}.svg"));
    std::fs::write(&chart, report::chart(&report))
        .with_context(|| format!("cannot write {}", chart.display()))?;
    eprintln!("wrote {} and {}", json.display(), chart.display());
    Ok(report)
}

/// One run: the load and the timeline at once, then the drain and the books.
async fn one_run(plan: &Plan, shop: &Shop, resilience: Resilience) -> anyhow::Result<Run> {
    let admin = Operator::new(&shop.config, TOKEN_TTL).map_err(anyhow::Error::msg)?;
    let load = load_args(plan, shop, admin.token())?;
    eprintln!(
        "{}: resilience {resilience}: {} requests over {} s",
        plan.experiment.name(),
        plan.requests(),
        plan.duration_s
    );
    let (report, boundaries) = tokio::join!(
        tracemart_loadgen::execute(&load),
        play(plan, &admin, Instant::now())
    );
    let report = report.map_err(|e| anyhow::anyhow!("the load failed: {e}"))?;
    let boundaries = boundaries?;
    clear_all(&admin).await?;
    let books = ledger::check(
        &shop.config,
        admin.token(),
        Duration::from_secs(plan.drain_deadline_s),
    )
    .await
    .context("cannot check the books")?;
    let samples: &[Sample] = &report.samples;
    Ok(Run {
        resilience,
        scheduled: report.requests.scheduled,
        dropped: report.requests.dropped,
        phases: measure::by_phase(plan, &boundaries, samples),
        overall: measure::overall(plan, samples),
        books,
    })
}

/// The load generator's flags: every request kept as a sample, so that each can be put in
/// its phase.
fn load_args(plan: &Plan, shop: &Shop, token: &str) -> anyhow::Result<LoadArgs> {
    use tracemart_platform::ServiceName::{Order, Product, User};
    let url = |s| shop.config.url_of(s);
    let flags = [
        url(Order),
        "--product-url".into(),
        url(Product),
        "--user-url".into(),
        url(User),
        "--rate".into(),
        plan.rate.to_string(),
        "--duration".into(),
        format!("{}s", plan.duration_s),
        "--mix".into(),
        plan.mix.into(),
        "--seed".into(),
        plan.seed.to_string(),
        "--timeout".into(),
        format!("{}s", plan.client_timeout_s),
        "--samples".into(),
        (plan.requests() + 1).to_string(),
        "--token".into(),
        token.into(),
        "--quiet".into(),
    ];
    LoadArgs::try_parse_from(flags).context("load generator flags")
}

/// Sets each phase's faults at its time; returns when each phase's faults were in place
/// (µs since the Unix epoch).
async fn play(plan: &Plan, admin: &Operator<'_>, start: Instant) -> anyhow::Result<Vec<u64>> {
    let mut boundaries = Vec::new();
    for phase in &plan.phases {
        tokio::time::sleep_until((start + Duration::from_secs_f64(phase.start_s)).into()).await;
        clear_all(admin).await?;
        for fault in &phase.faults {
            admin
                .inject(fault.service, &fault.spec)
                .await
                .map_err(anyhow::Error::msg)?;
        }
        boundaries.push(epoch_us());
        eprintln!("  phase {}: {}", phase.name, phase.about);
    }
    Ok(boundaries)
}

async fn clear_all(admin: &Operator<'_>) -> anyhow::Result<()> {
    for s in tracemart_platform::ServiceName::ALL {
        admin.clear(s).await.map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

fn epoch_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Now, as RFC 3339 UTC to the second.
fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
