//! `tracemart serve <service>`: one service in this process.

use tokio::net::TcpListener;
use tracemart_platform::{ServiceName, ShopConfig};
use tracemart_telemetry::{LogFile, LogFormat, TelemetryConfig};

use crate::cli::ServeArgs;
use crate::settings;

/// Telemetry settings of one service: the shop's, then the OTEL_* variables; an endpoint
/// given to tracemart itself wins over OTEL_EXPORTER_OTLP_ENDPOINT.
pub(crate) fn telemetry_config(
    name: &str,
    config: &ShopConfig,
    log_file: Option<LogFile>,
) -> TelemetryConfig {
    let mut t = TelemetryConfig::new(name, env!("CARGO_PKG_VERSION"));
    t.environment = config.environment.clone();
    t.log_file = log_file;
    t.log_format = if config.log_format == "pretty" {
        LogFormat::Pretty
    } else {
        LogFormat::Json
    };
    let mut t = t.with_env();
    if !config.otlp_endpoint.is_empty() {
        t.otlp_endpoint = Some(config.otlp_endpoint.trim_end_matches('/').to_owned());
    }
    t
}

pub(crate) async fn run(args: ServeArgs) -> u8 {
    let name = ServiceName::from(args.service);
    let config = match settings::resolve(&args.shop).and_then(|mut config| {
        if let Some(url) = &args.database_url {
            config.endpoint_mut(name).database_url = url.clone();
            config.validate()?;
        }
        Ok(config)
    }) {
        Ok(c) => c,
        Err(e) => return settings::config_failure(&e),
    };
    let log_file = settings::log_file(&config, &args.output);
    let telemetry = match tracemart_telemetry::init(&telemetry_config(
        name.service_name(),
        &config,
        log_file,
    )) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let port = args.port.unwrap_or(config.endpoint(name).port);
    let addr = format!("{}:{port}", config.host);
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {name} cannot listen on {addr}: {e}");
            return 1;
        }
    };
    let local = listener.local_addr().map(|a| a.to_string()).unwrap_or(addr);
    let database = config
        .database_url(name)
        .map(|url| url.to_string())
        .unwrap_or_default();
    tracing::info!(service = name.service_name(), address = %local, data_dir = %config.data_dir.display(), database = %database, "Service listening");
    let shutdown = crate::shutdown::signal_or_orphaned();
    let result = match name {
        ServiceName::Order => tracemart_order::run(&config, listener, shutdown).await,
        ServiceName::User => tracemart_user::run(&config, listener, shutdown).await,
        ServiceName::Product => tracemart_product::run(&config, listener, shutdown).await,
        ServiceName::Inventory => tracemart_inventory::run(&config, listener, shutdown).await,
        ServiceName::Payment => tracemart_payment::run(&config, listener, shutdown).await,
    };
    let code = match result {
        Ok(()) => {
            tracing::info!(service = name.service_name(), "Service stopped");
            0
        }
        Err(e) => {
            tracing::error!(service = name.service_name(), error = %e, "Service failed");
            eprintln!("error: {name}: {e}");
            1
        }
    };
    // Exporting blocks on its own threads; do it off the async workers.
    let _ = tokio::task::spawn_blocking(move || drop(telemetry)).await;
    code
}
