//! Telemetry settings: the caller's values, overridden by the standard `OTEL_*` variables.

use std::collections::HashMap;

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
    /// `OTEL_SDK_DISABLED=true`: no spans, no OTLP logs; metrics and stdout logs stay.
    pub sdk_disabled: bool,
    /// Ratio for `traceidratio` samplers; `1.0` samples everything.
    pub sampler: SamplerSetting,
    pub extra_resource: Vec<(String, String)>,
    pub log_format: LogFormat,
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
            sdk_disabled: false,
            sampler: SamplerSetting::ParentBasedAlwaysOn,
            extra_resource: Vec::new(),
            log_format: LogFormat::Json,
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
}
