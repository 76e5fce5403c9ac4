//! `tracemart chaos`: sets, lists and clears the faults of running services through their
//! `/admin/faults`, with an operator token signed from the keys directory.

use std::time::Duration;

use tracemart_platform::faults::{Cleared, Fault, FaultKind, FaultList, FaultSpec, ROUTE};
use tracemart_platform::identity::{Principal, ensure_keys, issue};
use tracemart_platform::{ServiceName, ShopConfig};

use crate::cli::{ChaosAction, ChaosArgs, ServiceArg};
use crate::settings;

/// Exit code for a fault that cannot be set as written.
const BAD_FAULT: u8 = 2;
/// The operator token lives only as long as the command.
const TOKEN_TTL: Duration = Duration::from_secs(300);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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
    let admin = match operator(&config) {
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

/// What every request needs: the services' addresses and the operator's token.
struct Operator<'a> {
    config: &'a ShopConfig,
    http: reqwest::Client,
    token: String,
}

fn operator(config: &ShopConfig) -> Result<Operator<'_>, String> {
    let dir = config.keys_dir();
    // The same keys `up` makes: created here if the shop has not run yet (the services will
    // then not know the key and refuse, which the error says).
    let token = ensure_keys(&dir)
        .and_then(|()| issue(&dir, Principal::Admin, "admin", TOKEN_TTL))
        .map_err(|e| format!("cannot sign an operator token: {e}"))?;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    Ok(Operator {
        config,
        http,
        token,
    })
}

impl Operator<'_> {
    fn url(&self, service: ServiceName) -> String {
        format!("{}{ROUTE}", self.config.url_of(service))
    }

    /// Sends `request` and reads the answer as `T`, or says what went wrong.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        service: ServiceName,
        request: reqwest::RequestBuilder,
    ) -> Result<T, String> {
        let url = self.url(service);
        let response =
            request.bearer_auth(&self.token).send().await.map_err(|e| {
                format!("{service}: cannot reach {url}: {e} (is the shop running?)")
            })?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| format!("{service}: {url} answered {status} without a body: {e}"))?;
        if !status.is_success() {
            return Err(format!("{service}: {url} answered {status}: {body}"));
        }
        serde_json::from_str(&body)
            .map_err(|e| format!("{service}: {url} answered an unreadable body: {e}"))
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
    let request = admin.http.post(admin.url(service)).json(&spec);
    match admin.send::<Fault>(service, request).await {
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
        let request = admin.http.get(admin.url(service));
        match admin.send::<FaultList>(service, request).await {
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
        let request = admin.http.delete(admin.url(service));
        match admin.send::<Cleared>(service, request).await {
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
