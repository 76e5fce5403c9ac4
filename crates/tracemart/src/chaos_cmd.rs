//! `tracemart chaos`: sets, lists and clears the faults of running services through their
//! `/admin/faults`, with an operator token signed from the keys directory.

use std::time::Duration;

use tracemart_platform::ServiceName;
use tracemart_platform::faults::{FaultKind, FaultSpec};

use crate::cli::{ChaosAction, ChaosArgs, ServiceArg};
use crate::fault_admin::Operator;
use crate::settings;

/// Exit code for a fault that cannot be set as written.
const BAD_FAULT: u8 = 2;
/// The operator token lives only as long as the command.
const TOKEN_TTL: Duration = Duration::from_secs(300);

pub(crate) async fn run(args: ChaosArgs) -> u8 {
    let config = match settings::resolve(&args.data.shop()) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    // A bad fault is refused before anything is sent.
    if let ChaosAction::Inject { fault, .. } = &args.action
        && let Err(e) = FaultSpec::parse(fault)
    {
        eprintln!("error: {e}");
        return BAD_FAULT;
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
            println!(
                "{service}: fault {} set: {}",
                fault.id,
                describe(&fault.spec)
            );
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
                    println!("{service}: fault {}: {}", fault.id, describe(&fault.spec));
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

/// A fault in the CLI's own words.
fn describe(spec: &FaultSpec) -> String {
    let what = match spec.kind {
        FaultKind::Latency {
            latency_ms,
            jitter_ms: 0,
        } => format!("latency={latency_ms}ms"),
        FaultKind::Latency {
            latency_ms,
            jitter_ms,
        } => format!("latency={latency_ms}ms jitter={jitter_ms}ms"),
        FaultKind::Error { status } => format!("error={status}"),
        FaultKind::Hang => "hang".to_owned(),
        FaultKind::Drop => "drop".to_owned(),
    };
    let route = spec
        .route
        .as_deref()
        .map(|r| format!(" route={r}"))
        .unwrap_or_default();
    format!("{what} rate={}%{route}", spec.rate * 100.0)
}
