//! Shop configuration: defaults, then `tracemart.toml`, then `TRACEMART_*` variables, then flags.
//! Everything is validated before any port binds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::breaker::BreakerSettings;
use crate::client::CallPolicy;
use crate::database_url::DatabaseUrl;

/// Products in the demo catalogue (ids 1..=100); inventory stocks the same ids.
pub const DEMO_PRODUCTS: i64 = 100;

/// The five services of the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceName {
    Order,
    User,
    Product,
    Inventory,
    Payment,
}

impl ServiceName {
    pub const ALL: [ServiceName; 5] = [
        Self::User,
        Self::Product,
        Self::Inventory,
        Self::Payment,
        Self::Order,
    ];

    /// Short name, as on the command line (`tracemart serve order`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::User => "user",
            Self::Product => "product",
            Self::Inventory => "inventory",
            Self::Payment => "payment",
        }
    }

    /// `service.name` in telemetry, as the seed names them.
    pub fn service_name(self) -> &'static str {
        match self {
            Self::Order => "order-service",
            Self::User => "user-service",
            Self::Product => "product-service",
            Self::Inventory => "inventory-service",
            Self::Payment => "payment-service",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Order => 8080,
            Self::User => 8081,
            Self::Product => 8082,
            Self::Inventory => 8083,
            Self::Payment => 8084,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.as_str() == s)
    }
}

impl std::fmt::Display for ServiceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The timeout of the seed's calls between services, which resilience off restores.
pub const SEED_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether calls between services are guarded (`on`, the default: the timeout, bulkhead,
/// retries and circuit breaker the settings give) or made as the seed made them (`off`: plain
/// calls with a 10 s timeout, no bulkhead, no retries, no circuit breaker), whatever the
/// five settings say. One switch, so that an experiment compares exactly two shops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resilience {
    #[default]
    On,
    Off,
}

impl Resilience {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "on",
            Self::Off => "off",
        }
    }
}

impl std::fmt::Display for Resilience {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Resilience {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(format!("expected on or off, got {other:?}")),
        }
    }
}

/// Where one service listens, where others reach it, and where it keeps its data.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceEndpoint {
    pub port: u16,
    /// Base URL other services call; empty means `http://{host}:{port}`.
    pub url: String,
    /// The service's database ([`DatabaseUrl`]); empty means `DATA_DIR/<service>.db`.
    pub database_url: String,
}

/// Ports, retention and size limits of the embedded console.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    pub ui_port: u16,
    pub otlp_grpc_port: u16,
    pub otlp_http_port: u16,
    /// Traces older than this many seconds are deleted.
    pub retention_max_age_secs: u64,
    /// The store is trimmed, oldest traces first, to stay under this size.
    pub retention_max_bytes: u64,
    /// How often retention runs, in seconds.
    pub retention_interval_secs: u64,
    /// Spans stored per trace at most; later spans of the trace are dropped and counted.
    pub max_spans_per_trace: u64,
    /// Spans accepted per export request at most; the rest are refused (partial success).
    pub max_spans_per_request: usize,
    /// Spans one answer of the trace APIs returns at most, the earliest first.
    pub max_spans_per_answer: usize,
    /// `NAME=VALUE`: OTLP exports must carry this header (else 401 / UNAUTHENTICATED); `up`
    /// gives it to the services it starts. Empty: ingest is open.
    pub otlp_header: String,
    /// How often the console scrapes every service's `/metrics`, in seconds; 0 turns scraping
    /// off.
    pub metrics_scrape_interval_secs: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            ui_port: 16686,
            otlp_grpc_port: 4317,
            otlp_http_port: 4318,
            retention_max_age_secs: 24 * 3600,
            retention_max_bytes: 1 << 30,
            retention_interval_secs: 60,
            // The console's own defaults, which say why.
            max_spans_per_trace: 10_000,
            max_spans_per_request: 10_000,
            max_spans_per_answer: 5_000,
            otlp_header: String::new(),
            // Prometheus's default scrape interval.
            metrics_scrape_interval_secs: 15,
        }
    }
}

/// The whole shop's configuration; `tracemart.example.toml` lists every key with its default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShopConfig {
    /// Directory for every service's SQLite database and the console's store.
    pub data_dir: PathBuf,
    /// Address every service binds.
    pub host: String,
    /// `deployment.environment` resource attribute.
    pub environment: String,
    /// `json` (the seed's fields) or `pretty`.
    pub log_format: String,
    /// A log file (`--log-file`, and each child's file under `up`) is rotated once it holds
    /// this many bytes; 0 never rotates.
    pub log_file_max_bytes: u64,
    /// Rotated log files kept beside the current one (`name.log.1` newest).
    pub log_files_kept: u32,
    /// A client must send a request's headers within this many milliseconds of opening the
    /// connection or of its previous answer (so it is also the idle keep-alive timeout);
    /// else the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Connections a service holds open at most (lowered to fit its open-file limit). At the
    /// limit, the oldest connection that has not sent a whole request yet is closed to make
    /// room; if every one has, the newcomer is answered 503 and closed.
    pub max_connections: usize,
    /// `off`: calls between services as the seed made them, ignoring the five settings below
    /// (see [`Resilience`]).
    pub resilience: Resilience,
    /// Timeout of every call to another service, in milliseconds (the seed: 10 s).
    pub downstream_timeout_ms: u64,
    /// Bulkhead: calls in flight to each other service at most; further calls wait for a slot
    /// (within their timeout), so a slow service cannot take every connection and thread.
    pub downstream_concurrency: usize,
    /// Idempotent calls that found no connection or got a 502/503/504 are tried again up to
    /// this many times (with jittered exponential backoff from 50 ms), within their timeout.
    pub downstream_retries: u32,
    /// Circuit breaker: this many failed calls in a row to a service (no answer, or a 5xx)
    /// open its circuit; 0 turns the breaker off.
    pub circuit_failure_threshold: u32,
    /// The longest an open circuit refuses calls before trial calls go through, in
    /// milliseconds (the first opening lasts 250 ms, each reopening twice the last).
    pub circuit_open_ms: u64,
    /// Initial stock of each demo product.
    pub demo_stock: i64,
    /// Payments above this amount (in currency units) are declined.
    pub payment_decline_over: f64,
    /// Seconds an order's reservation holds its stock; an order still unpaid then is cancelled
    /// (the seed: 15 minutes).
    pub reservation_ttl_secs: u64,
    /// Failed deliveries of an event that reached its consumer, after which it is moved to
    /// the dead-letter table. Deliveries that find no consumer do not count.
    pub event_max_failures: u32,
    /// First retry delay of a failed delivery, in milliseconds; it doubles up to
    /// `event_retry_max_ms`, with jitter.
    pub event_retry_base_ms: u64,
    pub event_retry_max_ms: u64,
    /// How often a relay looks for due events when no commit woke it, in milliseconds.
    pub event_poll_ms: u64,
    /// Directory of the principals' key pairs (`<name>.key`, `<name>.pub`); empty means
    /// `DATA_DIR/keys`.
    pub keys_dir: String,
    /// Internal endpoints and personal data need a token. `false` lets calls without one
    /// through, for peers that cannot send tokens (the seed's own Python services); a token
    /// that is sent is still checked.
    pub require_tokens: bool,
    /// The admin endpoints (`/admin/*`, faults included) answer clients on other machines
    /// too. Off by default: they answer loopback peers only (403 for the rest), whatever
    /// address the service binds, so that binding beyond loopback does not open them.
    pub admin_remote: bool,
    /// OTLP endpoint the services export to; empty means the embedded console (under `up`).
    pub otlp_endpoint: String,
    /// Connections each service keeps to PostgreSQL at most (SQLite has one writer and a few
    /// readers of its own).
    pub database_pool_size: u32,
    /// The RabbitMQ broker that carries events between services
    /// (`amqp://user:password@host:5672/vhost`); empty means the embedded transport (each
    /// relay calls its consumer's `POST /events`).
    pub broker_url: String,
    pub order: ServiceEndpoint,
    pub user: ServiceEndpoint,
    pub product: ServiceEndpoint,
    pub inventory: ServiceEndpoint,
    pub payment: ServiceEndpoint,
    pub console: ConsoleSettings,
}

impl Default for ShopConfig {
    fn default() -> Self {
        let ep = |s: ServiceName| ServiceEndpoint {
            port: s.default_port(),
            ..ServiceEndpoint::default()
        };
        Self {
            data_dir: PathBuf::from(".tracemart"),
            host: "127.0.0.1".into(),
            environment: "development".into(),
            log_format: "json".into(),
            log_file_max_bytes: 64 << 20,
            log_files_kept: 3,
            header_read_timeout_ms: 10_000,
            max_connections: 1024,
            resilience: Resilience::On,
            downstream_timeout_ms: 10_000,
            downstream_concurrency: 32,
            downstream_retries: 2,
            circuit_failure_threshold: 5,
            circuit_open_ms: 5_000,
            demo_stock: 1_000_000,
            payment_decline_over: 10_000.0,
            reservation_ttl_secs: 15 * 60,
            event_max_failures: 8,
            event_retry_base_ms: 500,
            event_retry_max_ms: 30_000,
            event_poll_ms: 1_000,
            keys_dir: String::new(),
            require_tokens: true,
            admin_remote: false,
            otlp_endpoint: String::new(),
            database_pool_size: 10,
            broker_url: String::new(),
            order: ep(ServiceName::Order),
            user: ep(ServiceName::User),
            product: ep(ServiceName::Product),
            inventory: ep(ServiceName::Inventory),
            payment: ep(ServiceName::Payment),
            console: ConsoleSettings::default(),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Value {
        key: String,
        value: String,
        reason: String,
    },
    /// A misspelt variable would otherwise be ignored in silence, and the setting it meant
    /// left at its default: refused, as unknown keys in the file are.
    #[error("unknown environment variable {key}{}", hint(.suggestion))]
    UnknownVariable {
        key: String,
        suggestion: Option<String>,
    },
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!(" (did you mean {s}?)"))
        .unwrap_or_default()
}

/// Every variable `apply_env` reads, for suggestions.
fn known_variables() -> Vec<String> {
    let mut names: Vec<String> = [
        "DATA_DIR",
        "HOST",
        "ENVIRONMENT",
        "LOG_FORMAT",
        "LOG_FILE_MAX_BYTES",
        "LOG_FILES_KEPT",
        "HEADER_READ_TIMEOUT_MS",
        "MAX_CONNECTIONS",
        "RESILIENCE",
        "DOWNSTREAM_TIMEOUT_MS",
        "DOWNSTREAM_CONCURRENCY",
        "DOWNSTREAM_RETRIES",
        "CIRCUIT_FAILURE_THRESHOLD",
        "CIRCUIT_OPEN_MS",
        "DEMO_STOCK",
        "PAYMENT_DECLINE_OVER",
        "RESERVATION_TTL_SECS",
        "EVENT_MAX_FAILURES",
        "EVENT_RETRY_BASE_MS",
        "EVENT_RETRY_MAX_MS",
        "EVENT_POLL_MS",
        "OTLP_ENDPOINT",
        "KEYS_DIR",
        "REQUIRE_TOKENS",
        "ADMIN_REMOTE",
        "DATABASE_POOL_SIZE",
        "BROKER_URL",
        "CONSOLE_UI_PORT",
        "CONSOLE_OTLP_GRPC_PORT",
        "CONSOLE_OTLP_HTTP_PORT",
        "CONSOLE_RETENTION_MAX_AGE_SECS",
        "CONSOLE_RETENTION_MAX_BYTES",
        "CONSOLE_RETENTION_INTERVAL_SECS",
        "CONSOLE_MAX_SPANS_PER_TRACE",
        "CONSOLE_MAX_SPANS_PER_REQUEST",
        "CONSOLE_MAX_SPANS_PER_ANSWER",
        "CONSOLE_OTLP_HEADER",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for s in ServiceName::ALL {
        let service = s.as_str().to_ascii_uppercase();
        names.push(format!("{service}_PORT"));
        names.push(format!("{service}_URL"));
        names.push(format!("{service}_DATABASE_URL"));
    }
    names
}

fn unknown_variable(key: &str) -> ConfigError {
    let name = key.trim_start_matches("TRACEMART_");
    let suggestion = known_variables()
        .into_iter()
        .map(|known| (edit_distance(name, &known), known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| format!("TRACEMART_{known}"));
    ConfigError::UnknownVariable {
        key: key.to_owned(),
        suggestion,
    }
}

/// Levenshtein distance, for "did you mean"; names are short, so the plain table will do.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn parse_var<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Value {
            key: key.into(),
            value: value.into(),
            reason: e.to_string(),
        })
}

impl ShopConfig {
    /// Reads `path` if given, else `./tracemart.toml` if present, else the defaults.
    pub fn load_file(path: Option<&Path>) -> Result<Self, ConfigError> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("tracemart.toml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path,
            message: e.to_string(),
        })
    }

    /// Applies `TRACEMART_*` variables from the process environment.
    #[allow(clippy::disallowed_methods)] // the one place TRACEMART_* variables are read
    pub fn apply_process_env(&mut self) -> Result<(), ConfigError> {
        let vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TRACEMART_"))
            .collect();
        self.apply_env(&vars)
    }

    /// Applies `TRACEMART_*` variables from a map.
    pub fn apply_env(&mut self, vars: &HashMap<String, String>) -> Result<(), ConfigError> {
        for (key, value) in vars {
            let Some(name) = key.strip_prefix("TRACEMART_") else {
                continue;
            };
            match name {
                "DATA_DIR" => self.data_dir = PathBuf::from(value),
                "HOST" => self.host = value.clone(),
                "ENVIRONMENT" => self.environment = value.clone(),
                "LOG_FORMAT" => self.log_format = value.clone(),
                "LOG_FILE_MAX_BYTES" => self.log_file_max_bytes = parse_var(key, value)?,
                "LOG_FILES_KEPT" => self.log_files_kept = parse_var(key, value)?,
                "HEADER_READ_TIMEOUT_MS" => self.header_read_timeout_ms = parse_var(key, value)?,
                "MAX_CONNECTIONS" => self.max_connections = parse_var(key, value)?,
                "RESILIENCE" => self.resilience = parse_var(key, value)?,
                "DOWNSTREAM_TIMEOUT_MS" => self.downstream_timeout_ms = parse_var(key, value)?,
                "DOWNSTREAM_CONCURRENCY" => self.downstream_concurrency = parse_var(key, value)?,
                "DOWNSTREAM_RETRIES" => self.downstream_retries = parse_var(key, value)?,
                "CIRCUIT_FAILURE_THRESHOLD" => {
                    self.circuit_failure_threshold = parse_var(key, value)?
                }
                "CIRCUIT_OPEN_MS" => self.circuit_open_ms = parse_var(key, value)?,
                "DEMO_STOCK" => self.demo_stock = parse_var(key, value)?,
                "PAYMENT_DECLINE_OVER" => self.payment_decline_over = parse_var(key, value)?,
                "RESERVATION_TTL_SECS" => self.reservation_ttl_secs = parse_var(key, value)?,
                "EVENT_MAX_FAILURES" => self.event_max_failures = parse_var(key, value)?,
                "EVENT_RETRY_BASE_MS" => self.event_retry_base_ms = parse_var(key, value)?,
                "EVENT_RETRY_MAX_MS" => self.event_retry_max_ms = parse_var(key, value)?,
                "EVENT_POLL_MS" => self.event_poll_ms = parse_var(key, value)?,
                "OTLP_ENDPOINT" => self.otlp_endpoint = value.clone(),
                "KEYS_DIR" => self.keys_dir = value.clone(),
                "REQUIRE_TOKENS" => self.require_tokens = parse_var(key, value)?,
                "ADMIN_REMOTE" => self.admin_remote = parse_var(key, value)?,
                "DATABASE_POOL_SIZE" => self.database_pool_size = parse_var(key, value)?,
                "BROKER_URL" => self.broker_url = value.clone(),
                "CONSOLE_UI_PORT" => self.console.ui_port = parse_var(key, value)?,
                "CONSOLE_OTLP_GRPC_PORT" => self.console.otlp_grpc_port = parse_var(key, value)?,
                "CONSOLE_OTLP_HTTP_PORT" => self.console.otlp_http_port = parse_var(key, value)?,
                "CONSOLE_RETENTION_MAX_AGE_SECS" => {
                    self.console.retention_max_age_secs = parse_var(key, value)?
                }
                "CONSOLE_RETENTION_MAX_BYTES" => {
                    self.console.retention_max_bytes = parse_var(key, value)?
                }
                "CONSOLE_RETENTION_INTERVAL_SECS" => {
                    self.console.retention_interval_secs = parse_var(key, value)?
                }
                "CONSOLE_MAX_SPANS_PER_TRACE" => {
                    self.console.max_spans_per_trace = parse_var(key, value)?
                }
                "CONSOLE_MAX_SPANS_PER_REQUEST" => {
                    self.console.max_spans_per_request = parse_var(key, value)?
                }
                "CONSOLE_MAX_SPANS_PER_ANSWER" => {
                    self.console.max_spans_per_answer = parse_var(key, value)?
                }
                "CONSOLE_OTLP_HEADER" => self.console.otlp_header = value.clone(),
                "CONSOLE_METRICS_SCRAPE_INTERVAL_SECS" => {
                    self.console.metrics_scrape_interval_secs = parse_var(key, value)?
                }
                other => {
                    if let Some((svc, field)) = other.split_once('_')
                        && let Some(s) = ServiceName::parse(&svc.to_ascii_lowercase())
                    {
                        match field {
                            "PORT" => self.endpoint_mut(s).port = parse_var(key, value)?,
                            "URL" => self.endpoint_mut(s).url = value.clone(),
                            "DATABASE_URL" => self.endpoint_mut(s).database_url = value.clone(),
                            _ => return Err(unknown_variable(key)),
                        }
                    } else {
                        return Err(unknown_variable(key));
                    }
                }
            }
        }
        Ok(())
    }

    /// Rejects values no service could run with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, reason: &str| {
            Err(ConfigError::Value {
                key: key.into(),
                value,
                reason: reason.into(),
            })
        };
        if self.demo_stock < 0 {
            return bad(
                "demo_stock",
                self.demo_stock.to_string(),
                "must be 0 or more",
            );
        }
        if self.downstream_timeout_ms == 0 {
            return bad("downstream_timeout_ms", "0".into(), "must be at least 1");
        }
        if self.header_read_timeout_ms == 0 {
            return bad("header_read_timeout_ms", "0".into(), "must be at least 1");
        }
        if self.max_connections < 2 {
            return bad(
                "max_connections",
                self.max_connections.to_string(),
                "must be at least 2",
            );
        }
        if self.downstream_concurrency == 0 {
            return bad("downstream_concurrency", "0".into(), "must be at least 1");
        }
        if self.circuit_failure_threshold > 0 && self.circuit_open_ms == 0 {
            return bad(
                "circuit_open_ms",
                "0".into(),
                "must be at least 1 while the circuit breaker is on",
            );
        }
        if !(self.payment_decline_over.is_finite() && self.payment_decline_over >= 0.0) {
            return bad(
                "payment_decline_over",
                self.payment_decline_over.to_string(),
                "must be a non-negative number",
            );
        }
        if !(1..=24 * 3600).contains(&self.reservation_ttl_secs) {
            return bad(
                "reservation_ttl_secs",
                self.reservation_ttl_secs.to_string(),
                "must be from 1 to 86400",
            );
        }
        if self.event_max_failures == 0 {
            return bad("event_max_failures", "0".into(), "must be at least 1");
        }
        if self.event_retry_base_ms == 0 || self.event_retry_max_ms < self.event_retry_base_ms {
            return bad(
                "event_retry_max_ms",
                self.event_retry_max_ms.to_string(),
                "event_retry_base_ms must be at least 1 and event_retry_max_ms at least that",
            );
        }
        if self.event_poll_ms == 0 {
            return bad("event_poll_ms", "0".into(), "must be at least 1");
        }
        if self.database_pool_size == 0 {
            return bad("database_pool_size", "0".into(), "must be at least 1");
        }
        self.broker()?;
        for s in ServiceName::ALL {
            self.database_url(s)?;
        }
        if !matches!(self.log_format.as_str(), "json" | "pretty") {
            return bad(
                "log_format",
                self.log_format.clone(),
                "expected json or pretty",
            );
        }
        if self.host.parse::<std::net::IpAddr>().is_err() && self.host != "localhost" {
            return bad("host", self.host.clone(), "expected an IP address");
        }
        let console = &self.console;
        for (key, value) in [
            (
                "console.retention_max_age_secs",
                console.retention_max_age_secs,
            ),
            (
                "console.retention_interval_secs",
                console.retention_interval_secs,
            ),
            ("console.max_spans_per_trace", console.max_spans_per_trace),
            (
                "console.max_spans_per_request",
                u64::try_from(console.max_spans_per_request).unwrap_or(u64::MAX),
            ),
            (
                "console.max_spans_per_answer",
                u64::try_from(console.max_spans_per_answer).unwrap_or(u64::MAX),
            ),
        ] {
            if value == 0 {
                return bad(key, "0".into(), "must be at least 1");
            }
        }
        if !console.otlp_header.is_empty() && self.otlp_header().is_none() {
            return bad(
                "console.otlp_header",
                console.otlp_header.clone(),
                "expected NAME=VALUE: a header name (letters, digits, -) and a value",
            );
        }
        Ok(())
    }

    /// The header OTLP exports to the console must carry (`console.otlp_header`), lower-case
    /// name and value; `None` when ingest is open or the setting is not `NAME=VALUE`.
    pub fn otlp_header(&self) -> Option<(String, String)> {
        let (name, value) = self.console.otlp_header.split_once('=')?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let value_ok = !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
        (name_ok && value_ok && !value.contains(',')).then(|| (name, value.to_owned()))
    }

    pub fn endpoint(&self, s: ServiceName) -> &ServiceEndpoint {
        match s {
            ServiceName::Order => &self.order,
            ServiceName::User => &self.user,
            ServiceName::Product => &self.product,
            ServiceName::Inventory => &self.inventory,
            ServiceName::Payment => &self.payment,
        }
    }

    pub fn endpoint_mut(&mut self, s: ServiceName) -> &mut ServiceEndpoint {
        match s {
            ServiceName::Order => &mut self.order,
            ServiceName::User => &mut self.user,
            ServiceName::Product => &mut self.product,
            ServiceName::Inventory => &mut self.inventory,
            ServiceName::Payment => &mut self.payment,
        }
    }

    /// Base URL at which `s` is reached.
    pub fn url_of(&self, s: ServiceName) -> String {
        let ep = self.endpoint(s);
        if ep.url.is_empty() {
            format!("http://{}:{}", self.host, ep.port)
        } else {
            ep.url.trim_end_matches('/').to_owned()
        }
    }

    /// How long a call to another service may take: `downstream_timeout_ms`, or the seed's
    /// 10 s with resilience off.
    pub fn downstream_timeout(&self) -> Duration {
        match self.resilience {
            Resilience::On => Duration::from_millis(self.downstream_timeout_ms),
            Resilience::Off => SEED_TIMEOUT,
        }
    }

    /// How every call to another service is bounded: timeout, bulkhead, retries, circuit
    /// breaker; with resilience off, by the seed's timeout alone.
    pub fn call_policy(&self) -> CallPolicy {
        if self.resilience == Resilience::Off {
            return CallPolicy::seed();
        }
        CallPolicy {
            timeout: self.downstream_timeout(),
            max_in_flight: self.downstream_concurrency,
            breaker: (self.circuit_failure_threshold > 0).then(|| BreakerSettings {
                failure_threshold: self.circuit_failure_threshold,
                open_for: Duration::from_millis(self.circuit_open_ms),
            }),
            retries: self.downstream_retries,
        }
    }

    /// The SQLite file a service uses when no database URL is set.
    pub fn database_path(&self, s: ServiceName) -> PathBuf {
        self.data_dir.join(format!("{}.db", s.as_str()))
    }

    /// A service's database: its `database_url`, or its SQLite file in the data directory.
    pub fn database_url(&self, s: ServiceName) -> Result<DatabaseUrl, ConfigError> {
        let raw = &self.endpoint(s).database_url;
        if raw.trim().is_empty() {
            return Ok(DatabaseUrl::Sqlite(self.database_path(s)));
        }
        raw.parse().map_err(
            |e: crate::database_url::DatabaseUrlError| ConfigError::Value {
                key: format!("{s}.database_url"),
                value: crate::database_url::redact_password(raw),
                reason: e.to_string(),
            },
        )
    }

    /// The broker URL, if events travel through a broker. Only plain `amqp://` is built in
    /// (no TLS library in the build), so `amqps://` is refused before the service starts.
    pub fn broker(&self) -> Result<Option<&str>, ConfigError> {
        let raw = self.broker_url.trim();
        if raw.is_empty() {
            return Ok(None);
        }
        let reason = match raw.split_once("://") {
            Some(("amqp", rest)) if !rest.is_empty() => return Ok(Some(raw)),
            Some(("amqps", _)) => "amqps:// is not supported: this build speaks plain amqp:// only",
            _ => "expected amqp://user:password@host:5672/vhost",
        };
        Err(ConfigError::Value {
            key: "broker_url".into(),
            value: crate::database_url::redact_password(raw),
            reason: reason.into(),
        })
    }

    /// Where the principals' keys are.
    pub fn keys_dir(&self) -> PathBuf {
        if self.keys_dir.is_empty() {
            self.data_dir.join("keys")
        } else {
            PathBuf::from(&self.keys_dir)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_file_values() {
        let mut c: ShopConfig =
            toml::from_str("demo_stock = 5\n[order]\nport = 9000\n").unwrap_or_default();
        assert_eq!(c.demo_stock, 5);
        let vars = [
            ("TRACEMART_DEMO_STOCK", "7"),
            ("TRACEMART_USER_URL", "http://users:80/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        assert_eq!(c.demo_stock, 7);
        assert_eq!(c.order.port, 9000);
        assert_eq!(c.url_of(ServiceName::User), "http://users:80");
        assert_eq!(c.url_of(ServiceName::Order), "http://127.0.0.1:9000");
    }

    #[test]
    fn each_service_takes_its_database_url_from_the_file_or_the_environment() {
        let mut c: ShopConfig =
            toml::from_str("[product]\ndatabase_url = \"sqlite:///srv/product.db\"\n")
                .unwrap_or_default();
        let vars = [
            (
                "TRACEMART_USER_DATABASE_URL",
                "postgres://postgres@127.0.0.1/tracemart_user",
            ),
            ("TRACEMART_DATABASE_POOL_SIZE", "4"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        assert!(c.validate().is_ok());
        assert_eq!(c.database_pool_size, 4);
        assert_eq!(
            c.database_url(ServiceName::User).ok(),
            Some(DatabaseUrl::Postgres(
                "postgres://postgres@127.0.0.1/tracemart_user".into()
            ))
        );
        assert_eq!(
            c.database_url(ServiceName::Product).ok(),
            Some(DatabaseUrl::Sqlite("/srv/product.db".into()))
        );
        assert_eq!(
            c.database_url(ServiceName::Order).ok(),
            Some(DatabaseUrl::Sqlite(c.data_dir.join("order.db")))
        );
    }

    #[test]
    fn a_database_url_of_another_engine_is_refused_before_start() {
        let mut c = ShopConfig::default();
        c.order.database_url = "mysql://root:hunter2@localhost/shop".into();
        let err = c.validate().expect_err("refused").to_string();
        assert!(err.contains("order.database_url"), "{err}");
        assert!(err.contains("unsupported database scheme"), "{err}");
        assert!(!err.contains("hunter2"), "the password is not shown: {err}");
    }

    #[test]
    fn every_service_takes_a_postgresql_url() {
        let mut c = ShopConfig::default();
        for s in ServiceName::ALL {
            c.endpoint_mut(s).database_url = format!("postgres://postgres@127.0.0.1/tracemart_{s}");
        }
        assert!(c.validate().is_ok(), "{:?}", c.validate());
        assert!(matches!(
            c.database_url(ServiceName::Order),
            Ok(DatabaseUrl::Postgres(url)) if url.ends_with("/tracemart_order")
        ));
        c.order.database_url = "sqlite:///srv/order.db".into();
        assert!(c.validate().is_ok(), "and a SQLite file as before");
        assert_eq!(
            c.database_url(ServiceName::Order).ok(),
            Some(DatabaseUrl::Sqlite(PathBuf::from("/srv/order.db")))
        );
    }

    #[test]
    fn the_circuit_breaker_and_log_rotation_are_set_from_the_environment() {
        let mut c = ShopConfig::default();
        let vars = [
            ("TRACEMART_CIRCUIT_FAILURE_THRESHOLD", "0"),
            ("TRACEMART_CIRCUIT_OPEN_MS", "250"),
            ("TRACEMART_LOG_FILE_MAX_BYTES", "1048576"),
            ("TRACEMART_LOG_FILES_KEPT", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        assert_eq!(
            c.call_policy().breaker,
            None,
            "a threshold of 0 turns it off"
        );
        assert_eq!((c.log_file_max_bytes, c.log_files_kept), (1 << 20, 1));
        c.circuit_failure_threshold = 3;
        assert_eq!(
            c.call_policy().breaker,
            Some(BreakerSettings {
                failure_threshold: 3,
                open_for: Duration::from_millis(250),
            })
        );
        c.circuit_open_ms = 0;
        let err = c
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("circuit_open_ms"), "{err}");
    }

    #[test]
    fn resilience_off_is_the_seeds_plain_calls_whatever_the_five_settings_say() {
        let mut c = ShopConfig::default();
        assert_eq!(c.resilience, Resilience::On);
        let on = c.call_policy();
        assert_eq!((on.max_in_flight, on.retries), (32, 2));
        assert!(on.breaker.is_some());
        let vars = [
            ("TRACEMART_RESILIENCE", "off"),
            ("TRACEMART_DOWNSTREAM_TIMEOUT_MS", "500"),
            ("TRACEMART_DOWNSTREAM_RETRIES", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        assert_eq!(c.resilience, Resilience::Off);
        assert_eq!(c.call_policy(), CallPolicy::seed());
        assert_eq!(c.call_policy().timeout, Duration::from_secs(10));
        assert_eq!(c.call_policy().breaker, None);
        assert_eq!(c.call_policy().retries, 0);
        assert_eq!(c.downstream_timeout(), SEED_TIMEOUT);
        let parsed: ShopConfig = toml::from_str("resilience = \"off\"").unwrap_or_default();
        assert_eq!(parsed.resilience, Resilience::Off);
        let bad = HashMap::from([("TRACEMART_RESILIENCE".to_owned(), "maybe".to_owned())]);
        let err = c.apply_env(&bad).expect_err("refused").to_string();
        assert!(err.contains("TRACEMART_RESILIENCE"), "{err}");
    }

    #[test]
    fn the_console_settings_are_set_from_the_environment_and_checked() {
        let mut c = ShopConfig::default();
        let vars = [
            ("TRACEMART_CONSOLE_RETENTION_MAX_AGE_SECS", "5"),
            ("TRACEMART_CONSOLE_RETENTION_MAX_BYTES", "1048576"),
            ("TRACEMART_CONSOLE_RETENTION_INTERVAL_SECS", "1"),
            ("TRACEMART_CONSOLE_MAX_SPANS_PER_TRACE", "100"),
            ("TRACEMART_CONSOLE_MAX_SPANS_PER_REQUEST", "50"),
            ("TRACEMART_CONSOLE_MAX_SPANS_PER_ANSWER", "20"),
            ("TRACEMART_CONSOLE_METRICS_SCRAPE_INTERVAL_SECS", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        let console = &c.console;
        assert_eq!(
            (console.retention_max_age_secs, console.retention_max_bytes),
            (5, 1 << 20)
        );
        assert_eq!(console.retention_interval_secs, 1);
        assert_eq!(console.metrics_scrape_interval_secs, 3);
        assert_eq!(
            (
                console.max_spans_per_trace,
                console.max_spans_per_request,
                console.max_spans_per_answer
            ),
            (100, 50, 20)
        );
        assert!(c.validate().is_ok());
        c.console.max_spans_per_answer = 0;
        let err = c
            .validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("console.max_spans_per_answer"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = ShopConfig::default();
        let vars = [("TRACEMART_DEMO_STOCK", "lots")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let err = c
            .apply_env(&vars)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("TRACEMART_DEMO_STOCK"), "{err}");
        let c = ShopConfig {
            demo_stock: -1,
            ..ShopConfig::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn the_broker_url_comes_from_the_environment_and_only_amqp_is_accepted() {
        let mut c = ShopConfig::default();
        assert_eq!(c.broker().ok(), Some(None), "no broker by default");
        let vars = [(
            "TRACEMART_BROKER_URL".to_owned(),
            "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned(),
        )]
        .into_iter()
        .collect();
        assert!(c.apply_env(&vars).is_ok());
        assert_eq!(
            c.broker().ok().flatten(),
            Some("amqp://guest:guest@127.0.0.1:5672/%2f")
        );
        for (raw, reason) in [
            ("amqps://guest:secret@broker/%2f", "plain amqp:// only"),
            ("http://guest:secret@broker", "expected amqp://"),
            ("amqp://", "expected amqp://"),
        ] {
            c.broker_url = raw.into();
            let err = c
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("broker_url") && err.contains(reason),
                "{raw}: {err}"
            );
            assert!(!err.contains("secret"), "the password is not shown: {err}");
        }
    }

    #[test]
    fn the_example_file_lists_the_defaults() {
        let text = include_str!("../../../tracemart.example.toml");
        let parsed: ShopConfig = toml::from_str(text).expect("example parses");
        assert_eq!(parsed, ShopConfig::default());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(toml::from_str::<ShopConfig>("no_such_key = 1").is_err());
    }

    #[test]
    fn unknown_variables_are_refused_with_the_name_they_probably_meant() {
        for (key, meant) in [
            (
                "TRACEMART_DOWNSTREM_TIMEOUT_MS",
                Some("TRACEMART_DOWNSTREAM_TIMEOUT_MS"),
            ),
            ("TRACEMART_ORDER_PROT", Some("TRACEMART_ORDER_PORT")),
            ("TRACEMART_NO_SUCH_SETTING", None),
        ] {
            let vars = HashMap::from([(key.to_owned(), "1".to_owned())]);
            let err = ShopConfig::default().apply_env(&vars).expect_err("refused");
            let message = err.to_string();
            assert!(message.contains(key), "{message}");
            match meant {
                Some(m) => assert!(message.contains(&format!("did you mean {m}?")), "{message}"),
                None => assert!(!message.contains("did you mean"), "{message}"),
            }
        }
    }
}
