//! `tracemart console`: the embedded telemetry backend in this process.

use tokio::net::TcpListener;
use tracemart_console::{ConsoleConfig, ConsoleListeners};

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
    let console_config = ConsoleConfig {
        data_dir: config.data_dir.clone(),
        ..ConsoleConfig::default()
    };
    match tracemart_console::run(
        console_config,
        listeners,
        crate::shutdown::signal_or_orphaned(),
    )
    .await
    {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: console: {e}");
            1
        }
    }
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
