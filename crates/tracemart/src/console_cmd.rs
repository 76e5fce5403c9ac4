//! `tracemart console`: the embedded telemetry backend in this process.

use std::time::Duration;

use tokio::net::TcpListener;
use tracemart_console::{ConsoleConfig, ConsoleListeners, ScrapeTarget};
use tracemart_platform::identity::{KeyRing, Principal, Verifier, ensure_keys, issue};
use tracemart_platform::{ServiceName, ShopConfig};

use crate::cli::ConsoleArgs;
use crate::settings;

async fn bind(host: &str, port: u16, what: &str) -> Result<TcpListener, String> {
    TcpListener::bind((host, port))
        .await
        .map_err(|e| format!("console cannot listen for {what} on {host}:{port}: {e}"))
}

pub(crate) async fn run(args: ConsoleArgs) -> u8 {
    let config = match settings::resolve(&args.shop) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    let _logs = match console_logging(settings::log_file(&config, &args.output)) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let ports = &config.console;
    let host = config.host.as_str();
    let listeners = async {
        Ok::<_, String>(ConsoleListeners {
            ui: bind(host, args.ui_port.unwrap_or(ports.ui_port), "the UI").await?,
            otlp_grpc: bind(
                host,
                args.otlp_grpc_port.unwrap_or(ports.otlp_grpc_port),
                "OTLP/gRPC",
            )
            .await?,
            otlp_http: bind(
                host,
                args.otlp_http_port.unwrap_or(ports.otlp_http_port),
                "OTLP/HTTP",
            )
            .await?,
        })
    }
    .await;
    let listeners = match listeners {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let mut console = console_config(&config);
    console.processes_url = args.processes_url.clone();
    console.otlp_header = config.otlp_header();
    match console_access(&config) {
        Ok(access) => console.access = access,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    }
    if !is_loopback(host) {
        match access_link(&config, args.ui_port.unwrap_or(ports.ui_port)) {
            Ok(link) => eprintln!(
                "console: clients beyond loopback need a token; open {link} (or send `Authorization: Bearer` with a token of `tracemart token admin`)"
            ),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }
    match tracemart_console::run(console, listeners, crate::shutdown::signal_or_orphaned()).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: console: {e}");
            1
        }
    }
}

/// How long the token printed at start is valid.
pub(crate) const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Whether `host` (the address the shop binds) is loopback only.
pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Clients beyond loopback need the operator's token: the one token scheme of the shop,
/// checked against the public keys in the keys directory.
fn console_access(config: &ShopConfig) -> Result<tracemart_console::Access, String> {
    let dir = config.keys_dir();
    ensure_keys(&dir).map_err(|e| e.to_string())?;
    let verifier = Verifier::new(KeyRing::open(&dir));
    Ok(tracemart_console::Access::token(move |token| {
        verifier.verify(token).is_ok_and(|c| c.sub == "admin")
    }))
}

/// A link to the console's UI that lets a browser in (`?token=`, which sets a cookie).
pub(crate) fn access_link(config: &ShopConfig, ui_port: u16) -> Result<String, String> {
    let dir = config.keys_dir();
    let token = ensure_keys(&dir)
        .and_then(|()| issue(&dir, Principal::Admin, "admin", ACCESS_TOKEN_TTL))
        .map_err(|e| format!("cannot sign the console's token: {e}"))?;
    Ok(format!("http://{}:{ui_port}/?token={token}", config.host))
}

/// The console's configuration from the shop's: its data directory, retention and size limits,
/// and the connection limits every server of the shop keeps.
fn console_config(config: &ShopConfig) -> ConsoleConfig {
    let c = &config.console;
    ConsoleConfig {
        data_dir: config.data_dir.clone(),
        retention_max_age: Duration::from_secs(c.retention_max_age_secs),
        retention_max_bytes: c.retention_max_bytes,
        retention_interval: Duration::from_secs(c.retention_interval_secs),
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        max_connections: config.max_connections,
        max_spans_per_trace: c.max_spans_per_trace,
        max_spans_per_request: c.max_spans_per_request,
        max_spans_per_answer: c.max_spans_per_answer,
        scrape_targets: scrape_targets(config),
        scrape_interval: Duration::from_secs(c.metrics_scrape_interval_secs),
        ..ConsoleConfig::default()
    }
}

/// Every service's `/metrics` at the URL the others call it by (its own address unless a URL
/// is configured, as in Kubernetes, where it is the Service's), unless scraping is off.
fn scrape_targets(config: &ShopConfig) -> Vec<ScrapeTarget> {
    if config.console.metrics_scrape_interval_secs == 0 {
        return Vec::new();
    }
    ServiceName::ALL
        .into_iter()
        .map(|s| ScrapeTarget {
            job: s.as_str().to_owned(),
            url: format!("{}/metrics", config.url_of(s)),
        })
        .collect()
}

/// The console logs JSON lines but never traces itself into itself.
fn console_logging(
    log_file: Option<tracemart_telemetry::LogFile>,
) -> Result<tracemart_telemetry::TelemetryGuard, tracemart_telemetry::TelemetryError> {
    let mut t =
        tracemart_telemetry::TelemetryConfig::new("tracemart-console", env!("CARGO_PKG_VERSION"))
            .with_env();
    t.sdk_disabled = true;
    t.log_file = log_file;
    tracemart_telemetry::init(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_setting_of_the_shop_reaches_the_console() {
        let mut shop = ShopConfig::default();
        shop.console.retention_max_age_secs = 5;
        shop.console.retention_max_bytes = 1 << 20;
        shop.console.retention_interval_secs = 2;
        shop.console.max_spans_per_trace = 100;
        shop.console.max_spans_per_request = 50;
        shop.console.max_spans_per_answer = 20;
        shop.console.metrics_scrape_interval_secs = 7;
        shop.order.port = 9101;
        shop.user.url = "http://user:8081/".into();
        shop.header_read_timeout_ms = 300;
        shop.max_connections = 64;

        let c = console_config(&shop);

        assert_eq!(c.data_dir, shop.data_dir);
        assert_eq!(c.retention_max_age, Duration::from_secs(5));
        assert_eq!(c.retention_max_bytes, 1 << 20);
        assert_eq!(c.retention_interval, Duration::from_secs(2));
        assert_eq!(
            (
                c.max_spans_per_trace,
                c.max_spans_per_request,
                c.max_spans_per_answer
            ),
            (100, 50, 20)
        );
        assert_eq!(c.scrape_interval, Duration::from_secs(7));
        assert_eq!(c.scrape_targets.len(), ServiceName::ALL.len());
        assert!(c.scrape_targets.contains(&ScrapeTarget {
            job: "order".into(),
            url: format!("http://{}:9101/metrics", shop.host),
        }));
        assert!(c.scrape_targets.contains(&ScrapeTarget {
            job: "user".into(),
            url: "http://user:8081/metrics".into(),
        }));
        shop.console.metrics_scrape_interval_secs = 0;
        assert!(console_config(&shop).scrape_targets.is_empty());
        assert_eq!(c.header_read_timeout, Duration::from_millis(300));
        assert_eq!(c.max_connections, 64);
    }
}
