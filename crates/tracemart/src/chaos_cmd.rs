//! `tracemart chaos`: sets, lists and clears the faults of running services through their
//! `/admin/faults`, with an operator token signed from the keys directory, and plays scenario
//! files (`chaos run`).

use std::time::Duration;

use tracemart_platform::ServiceName;
use tracemart_platform::faults::FaultSpec;

use crate::chaos_scenario::{self, Action, Scenario};
use crate::cli::{ChaosAction, ChaosArgs, ServiceArg};
use crate::fault_admin::Operator;
use crate::settings;

/// Exit code for a fault (or a scenario file) that cannot be used as written.
const BAD_FAULT: u8 = 2;
/// Exit code of a scenario stopped by Ctrl-C (128 + SIGINT).
const INTERRUPTED: u8 = 130;
/// The operator token lives only as long as the command.
const TOKEN_TTL: Duration = Duration::from_secs(300);

pub(crate) async fn run(args: ChaosArgs) -> u8 {
    let config = match settings::resolve(&args.data.shop()) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    // A bad fault or scenario is refused before anything is sent.
    let scenario = match &args.action {
        ChaosAction::Inject { service, fault } => {
            let checked = FaultSpec::parse(fault)
                .and_then(|spec| spec.validate_for(ServiceName::from(*service)));
            if let Err(e) = checked {
                eprintln!("error: {e}");
                return BAD_FAULT;
            }
            None
        }
        ChaosAction::Run { file, .. } => match chaos_scenario::load(file) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return BAD_FAULT;
            }
        },
        _ => None,
    };
    if let (ChaosAction::Run { check: true, .. }, Some(scenario)) = (&args.action, &scenario) {
        print_timeline(scenario);
        return 0;
    }
    let admin = match Operator::new(&config, TOKEN_TTL) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match args.action {
        ChaosAction::Inject { service, fault } => inject(&admin, service, &fault).await,
        ChaosAction::List { service, json } => list(&admin, service, json).await,
        ChaosAction::Clear { service } => clear(&admin, service).await,
        ChaosAction::Run { .. } => match scenario {
            Some(scenario) => play(&admin, &scenario).await,
            None => BAD_FAULT,
        },
    }
}

fn services(only: Option<ServiceArg>) -> Vec<ServiceName> {
    match only {
        Some(s) => vec![s.into()],
        None => ServiceName::ALL.to_vec(),
    }
}

async fn inject(admin: &Operator<'_>, service: ServiceArg, words: &[String]) -> u8 {
    let service = ServiceName::from(service);
    // Parsed in `run` already.
    let Ok(spec) = FaultSpec::parse(words) else {
        return BAD_FAULT;
    };
    match admin.inject(service, &spec).await {
        Ok(fault) => {
            println!("{service}: fault {} set: {}", fault.id, fault.spec);
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn list(admin: &Operator<'_>, only: Option<ServiceArg>, json: bool) -> u8 {
    let mut code = 0;
    for service in services(only) {
        match admin.list(service).await {
            Ok(list) if json => println!(
                "{}",
                serde_json::json!({"service": service.as_str(), "faults": list.faults})
            ),
            Ok(list) if list.faults.is_empty() => println!("{service}: no faults"),
            Ok(list) => {
                for fault in list.faults {
                    println!("{service}: fault {}: {}", fault.id, fault.spec);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    code
}

async fn clear(admin: &Operator<'_>, only: Option<ServiceArg>) -> u8 {
    let mut code = 0;
    for service in services(only) {
        match admin.clear(service).await {
            Ok(c) => println!("{service}: {} fault(s) cleared", c.cleared),
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    code
}

/// Prints what a scenario will do, without doing it (`chaos run --check`).
fn print_timeline(scenario: &Scenario) {
    println!(
        "{}: {} step(s) over {}",
        scenario.name.as_deref().unwrap_or("scenario"),
        scenario.steps.len(),
        seconds(scenario.duration).trim_start()
    );
    for step in &scenario.steps {
        println!("[{}] {}", seconds(step.at), what(&step.action));
    }
}

fn what(action: &Action) -> String {
    match action {
        Action::Inject { service, spec } => format!("{service}: set {spec}"),
        Action::Clear(services) if services.len() == ServiceName::ALL.len() => {
            "clear every service".to_owned()
        }
        Action::Clear(services) => format!(
            "clear {}",
            services
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `12.5s`, right-aligned so that a timeline's lines line up.
fn seconds(d: Duration) -> String {
    format!("{:>6.1}s", d.as_secs_f64())
}

/// Plays `scenario`: each step at its time, printed as it happens; at the end (or on Ctrl-C,
/// or when a step fails) removes every fault the run set that is still there.
async fn play(admin: &Operator<'_>, scenario: &Scenario) -> u8 {
    let interrupted = crate::shutdown::signal_received();
    tokio::pin!(interrupted);
    println!(
        "{}: playing {} step(s) over {} (Ctrl-C stops and clears)",
        scenario.name.as_deref().unwrap_or("scenario"),
        scenario.steps.len(),
        seconds(scenario.duration).trim_start()
    );
    let start = tokio::time::Instant::now();
    let mut set: Vec<(ServiceName, u64)> = Vec::new();
    let mut code = 0;
    let timeline = scenario
        .steps
        .iter()
        .map(|s| (s.at, Some(&s.action)))
        .chain([(scenario.duration, None)]);
    for (at, action) in timeline {
        tokio::select! {
            () = &mut interrupted => {
                println!("[{}] interrupted", seconds(start.elapsed()));
                code = INTERRUPTED;
                break;
            }
            () = tokio::time::sleep_until(start + at) => {}
        }
        let Some(action) = action else {
            break;
        };
        let when = seconds(start.elapsed());
        match step(admin, action, &mut set).await {
            Ok(done) => {
                for line in done {
                    println!("[{when}] {line}");
                }
            }
            Err(e) => {
                eprintln!("error: [{when}] {e}; stopping the scenario");
                code = 1;
                break;
            }
        }
    }
    let cleared = clear_set(admin, &set).await;
    println!(
        "[{}] end: {cleared} fault(s) this run set were still there and are cleared",
        seconds(start.elapsed())
    );
    code
}

/// Does one step; says what it did, a line per service.
async fn step(
    admin: &Operator<'_>,
    action: &Action,
    set: &mut Vec<(ServiceName, u64)>,
) -> Result<Vec<String>, String> {
    match action {
        Action::Inject { service, spec } => {
            let fault = admin.inject(*service, spec).await?;
            set.push((*service, fault.id));
            Ok(vec![format!(
                "{service}: fault {} set: {}",
                fault.id, fault.spec
            )])
        }
        Action::Clear(services) => {
            let mut done = Vec::with_capacity(services.len());
            for &service in services {
                let cleared = admin.clear(service).await?;
                done.push(format!("{service}: {} fault(s) cleared", cleared.cleared));
            }
            Ok(done)
        }
    }
}

/// Removes each fault in `set` that is still there; how many were. Failures are reported and
/// skipped: the others are cleared all the same.
async fn clear_set(admin: &Operator<'_>, set: &[(ServiceName, u64)]) -> usize {
    let mut cleared = 0;
    for &(service, id) in set {
        match admin.remove(service, id).await {
            Ok(true) => cleared += 1,
            // Cleared by a step (or by hand) already.
            Ok(false) => {}
            Err(e) => eprintln!("error: {e}"),
        }
    }
    cleared
}
