//! Resolves the shop configuration: defaults, file, environment, then flags; validated.

use tracemart_platform::{ConfigError, ShopConfig};
use tracemart_telemetry::LogFile;

use crate::cli::{LogFormatArg, OutputFlags, ShopFlags};

pub(crate) fn resolve(flags: &ShopFlags) -> Result<ShopConfig, ConfigError> {
    let mut config = ShopConfig::load_file(flags.config.as_deref())?;
    config.apply_process_env()?;
    if let Some(v) = &flags.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &flags.host {
        config.host = v.clone();
    }
    if let Some(v) = flags.demo_stock {
        config.demo_stock = v;
    }
    if let Some(v) = flags.downstream_timeout_ms {
        config.downstream_timeout_ms = v;
    }
    if let Some(v) = flags.downstream_concurrency {
        config.downstream_concurrency = v;
    }
    if let Some(v) = flags.resilience {
        config.resilience = v;
    }
    if let Some(v) = flags.log_format {
        config.log_format = match v {
            LogFormatArg::Json => "json",
            LogFormatArg::Pretty => "pretty",
        }
        .into();
    }
    if let Some(v) = &flags.otlp_endpoint {
        config.otlp_endpoint = v.clone();
    }
    if let Some(v) = &flags.broker {
        config.broker_url = v.clone();
    }
    config.validate()?;
    Ok(config)
}

/// The log file `--log-file` names, rotated as the configuration says.
pub(crate) fn log_file(config: &ShopConfig, flags: &OutputFlags) -> Option<LogFile> {
    flags.log_file.as_ref().map(|path| LogFile {
        path: path.clone(),
        max_bytes: config.log_file_max_bytes,
        keep: config.log_files_kept,
    })
}

/// Prints a configuration error the way every command does, returning the exit code.
pub(crate) fn config_failure(e: &ConfigError) -> u8 {
    eprintln!("error: {e}");
    crate::EXIT_CONFIG
}
