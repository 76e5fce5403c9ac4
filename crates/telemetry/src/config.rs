//! Telemetry settings: the caller's values, overridden by the standard `OTEL_*` variables.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// opentelemetry-otlp's export timeout when no variable sets one.
const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_secs(10);

/// How log lines are written to standard output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line (the seed's fields).
    #[default]
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

/// A file that takes this process's log lines, standard output and standard error, rotated by
/// size: `path` → `path.1` → … → `path.{keep}`, the oldest dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// Rotate once the file holds this many bytes; 0 never rotates.
    pub max_bytes: u64,
    /// Rotated files kept beside the current one.
    pub keep: u32,
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtlpProtocol {
    #[default]
    HttpProtobuf,
    HttpJson,
    Grpc,
}

/// Everything `init` needs. Build it with [`TelemetryConfig::new`] then [`TelemetryConfig::with_env`].
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    pub service_name: String,
    pub service_version: String,
    pub environment: String,
    /// Base OTLP endpoint (`http://host:4318` for HTTP, `http://host:4317` for gRPC); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    pub otlp_protocol: OtlpProtocol,
    /// Headers, timeout and compression of span exports (`OTEL_EXPORTER_OTLP_TRACES_*`).
    pub otlp_traces: OtlpExportSettings,
    /// The same for log record exports (`OTEL_EXPORTER_OTLP_LOGS_*`).
    pub otlp_logs: OtlpExportSettings,
    /// `OTEL_SDK_DISABLED=true`: no spans, no OTLP logs; metrics and stdout logs stay.
    pub sdk_disabled: bool,
    /// Ratio for `traceidratio` samplers; `1.0` samples everything.
    pub sampler: SamplerSetting,
    pub extra_resource: Vec<(String, String)>,
    pub log_format: LogFormat,
    /// Write logs (and standard output and error) to this file instead of standard output.
    /// JSON lines are rotated by size; pretty lines only go to the file.
    pub log_file: Option<LogFile>,
    /// `RUST_LOG`-style filter for stdout logs.
    pub log_filter: String,
    /// Upper bound of spans waiting for export; beyond it spans are dropped and counted.
    pub max_queue_size: usize,
}

/// The `OTEL_TRACES_SAMPLER` values we honour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl TelemetryConfig {
    pub fn new(service_name: impl Into<String>, service_version: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            service_version: service_version.into(),
            environment: "development".into(),
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            otlp_traces: OtlpExportSettings::default(),
            otlp_logs: OtlpExportSettings::default(),
            sdk_disabled: false,
            sampler: SamplerSetting::ParentBasedAlwaysOn,
            extra_resource: Vec::new(),
            log_format: LogFormat::Json,
            log_file: None,
            log_filter: "info".into(),
            max_queue_size: 8192,
        }
    }

    /// Applies the standard OpenTelemetry environment variables on top of the given values.
    #[allow(clippy::disallowed_methods)] // the one place the OTEL_* variables are read
    pub fn with_env(self) -> Self {
        let vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("OTEL_") || k == "RUST_LOG")
            .collect();
        self.with_vars(&vars)
    }

    /// Applies OTEL_* settings from a map (testable without touching the process environment).
    pub fn with_vars(mut self, vars: &HashMap<String, String>) -> Self {
        let get = |k: &str| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        if let Some(v) = get("OTEL_SERVICE_NAME") {
            self.service_name = v.to_owned();
        }
        if let Some(v) = get("OTEL_SDK_DISABLED") {
            self.sdk_disabled = v.eq_ignore_ascii_case("true");
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            self.otlp_endpoint = Some(v.trim_end_matches('/').to_owned());
        }
        if let Some(v) = get("OTEL_EXPORTER_OTLP_PROTOCOL") {
            self.otlp_protocol = match v {
                "grpc" => OtlpProtocol::Grpc,
                "http/json" => OtlpProtocol::HttpJson,
                _ => OtlpProtocol::HttpProtobuf,
            };
        }
        self.otlp_traces.apply_vars(vars, "TRACES");
        self.otlp_logs.apply_vars(vars, "LOGS");
        if let Some(v) = get("OTEL_BSP_MAX_QUEUE_SIZE").and_then(|v| v.parse().ok()) {
            self.max_queue_size = v;
        }
        let ratio = get("OTEL_TRACES_SAMPLER_ARG")
            .and_then(|v| v.parse::<f64>().ok())
            .map(|r| r.clamp(0.0, 1.0))
            .unwrap_or(1.0);
        if let Some(v) = get("OTEL_TRACES_SAMPLER") {
            self.sampler = match v {
                "always_on" => SamplerSetting::AlwaysOn,
                "always_off" => SamplerSetting::AlwaysOff,
                "traceidratio" => SamplerSetting::TraceIdRatio(ratio),
                "parentbased_always_off" => SamplerSetting::ParentBasedAlwaysOff,
                "parentbased_traceidratio" => SamplerSetting::ParentBasedTraceIdRatio(ratio),
                _ => SamplerSetting::ParentBasedAlwaysOn,
            };
        }
        if let Some(v) = get("OTEL_RESOURCE_ATTRIBUTES") {
            for pair in v.split(',') {
                if let Some((k, val)) = pair.split_once('=') {
                    let (k, val) = (k.trim(), val.trim());
                    if k == "deployment.environment" || k == "deployment.environment.name" {
                        self.environment = val.to_owned();
                    }
                    self.extra_resource.push((k.to_owned(), val.to_owned()));
                }
            }
        }
        if let Some(v) = get("RUST_LOG") {
            self.log_filter = v.to_owned();
        }
        self
    }
}

/// One signal's OTLP export settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpExportSettings {
    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`: sent with every
    /// OTLP/HTTP export (`k=v` pairs, values URL-decoded).
    pub headers: Vec<(String, String)>,
    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds).
    pub timeout: Duration,
    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION`, else `OTEL_EXPORTER_OTLP_COMPRESSION`, unless
    /// `none`: the signal is then exported by opentelemetry-otlp's exporter, which reads it.
    pub compression: Option<String>,
}

impl Default for OtlpExportSettings {
    fn default() -> Self {
        Self {
            headers: Vec::new(),
            timeout: DEFAULT_OTLP_TIMEOUT,
            compression: None,
        }
    }
}

impl OtlpExportSettings {
    /// Reads the variables as opentelemetry-otlp reads them: the signal's (`TRACES`, `LOGS`)
    /// before the general one, the headers variable used even when empty, a timeout only when
    /// it parses.
    fn apply_vars(&mut self, vars: &HashMap<String, String>, signal: &str) {
        let names = |name: &str| {
            [
                format!("OTEL_EXPORTER_OTLP_{signal}_{name}"),
                format!("OTEL_EXPORTER_OTLP_{name}"),
            ]
        };
        if let Some(v) = names("HEADERS").iter().find_map(|k| vars.get(k)) {
            self.headers = parse_headers(v);
        }
        if let Some(ms) = names("TIMEOUT")
            .iter()
            .find_map(|k| vars.get(k)?.parse().ok())
        {
            self.timeout = Duration::from_millis(ms);
        }
        if let Some(v) = names("COMPRESSION")
            .iter()
            .find_map(|k| vars.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()))
        {
            self.compression = (!v.eq_ignore_ascii_case("none")).then(|| v.to_owned());
        }
    }
}

/// `k1=v1,k2=v2` as opentelemetry-otlp parses `OTEL_EXPORTER_OTLP_HEADERS`: pairs trimmed,
/// values percent-decoded (kept as written when that is not UTF-8; a malformed escape stays as
/// it is), pairs with an empty side dropped.
fn parse_headers(value: &str) -> Vec<(String, String)> {
    value
        .split_terminator(',')
        .map(str::trim)
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decoded = percent_encoding::percent_decode_str(v.trim())
                .decode_utf8()
                .map_or_else(|_| v.to_owned(), Into::into);
            (k.trim().to_owned(), decoded)
        })
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otel_variables_override_the_given_values() {
        let vars: HashMap<String, String> = [
            ("OTEL_SERVICE_NAME", "renamed"),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=staging,team=shop",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let c = TelemetryConfig::new("order-service", "1").with_vars(&vars);
        assert_eq!(c.service_name, "renamed");
        assert!(c.sdk_disabled);
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(c.otlp_protocol, OtlpProtocol::Grpc);
        assert_eq!(c.sampler, SamplerSetting::ParentBasedTraceIdRatio(0.25));
        assert_eq!(c.environment, "staging");
        assert!(c.extra_resource.contains(&("team".into(), "shop".into())));
    }

    #[test]
    fn otlp_headers_timeout_and_compression_are_read_per_signal_as_opentelemetry_otlp_reads_them() {
        let vars = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let c = TelemetryConfig::new("s", "1").with_vars(&vars(&[
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                " api-key = a%20b%2Cc ,=x,empty=,bad=%zz",
            ),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]));
        assert_eq!(
            c.otlp_traces.headers,
            [
                ("api-key".into(), "a b,c".into()),
                ("bad".into(), "%zz".into())
            ]
        );
        assert_eq!(c.otlp_traces.timeout, Duration::from_millis(2500));
        assert_eq!(c.otlp_traces.compression.as_deref(), Some("gzip"));

        let c = TelemetryConfig::new("s", "1").with_vars(&vars(&[
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "b=2"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ]));
        assert_eq!(c.otlp_traces.headers, [("a".into(), "1".into())]);
        assert_eq!(c.otlp_traces.timeout, Duration::from_millis(700));
        assert_eq!(c.otlp_traces.compression, None);

        let c = TelemetryConfig::new("s", "1").with_vars(&vars(&[
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "l=1"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "b=2"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "900"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
        ]));
        assert_eq!(c.otlp_logs.headers, [("l".into(), "1".into())]);
        assert_eq!(c.otlp_logs.timeout, Duration::from_millis(900));
        assert_eq!(c.otlp_logs.compression.as_deref(), Some("gzip"));
        assert_eq!(c.otlp_traces.headers, [("b".into(), "2".into())]);
        assert_eq!(c.otlp_traces.timeout, Duration::from_secs(10));
        assert_eq!(c.otlp_traces.compression, None);

        let c = TelemetryConfig::new("s", "1").with_vars(&HashMap::new());
        assert!(c.otlp_traces.headers.is_empty());
        assert!(c.otlp_logs.headers.is_empty());
        assert_eq!(c.otlp_traces.timeout, Duration::from_secs(10));
    }
}
