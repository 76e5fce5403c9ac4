//! Typed configuration of the console; the binary fills it from its layered configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use tracemart_serve::{ConnectionLimits, fit_to_open_files};

use crate::duration::parse_duration;

/// Listeners sharing the open-file limit: UI, OTLP/gRPC, OTLP/HTTP.
const LISTENERS: usize = 3;
/// File descriptors kept for everything but inbound connections: the store's connections
/// (each holds the database, its WAL and its shared memory), the log file, the listeners.
const RESERVED_FILES: u64 = 64;

/// Everything `run` needs besides its listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Directory holding `console.db` (created if missing).
    pub data_dir: PathBuf,
    /// Traces older than this are deleted (`"24h"`, `"30m"` or seconds).
    #[serde(deserialize_with = "de_duration")]
    pub retention_max_age: Duration,
    /// The database is trimmed, oldest traces first, until it is below this size.
    pub retention_max_bytes: u64,
    /// How often retention runs.
    #[serde(deserialize_with = "de_duration")]
    pub retention_interval: Duration,
    /// Largest accepted OTLP request body (HTTP 413 / gRPC RESOURCE_EXHAUSTED beyond).
    pub max_request_bytes: usize,
    /// Export requests waiting for the writer; when full, senders get 503 / UNAVAILABLE.
    pub queue_capacity: usize,
    /// How long a request may wait for room in a full queue before it is refused.
    #[serde(deserialize_with = "de_duration")]
    pub enqueue_timeout: Duration,
    /// Connections used by queries (the writer has its own).
    pub read_connections: u32,
    /// Time a client has to send a request's headers (and its first request), from connecting
    /// or from its previous answer; also the idle keep-alive timeout.
    #[serde(deserialize_with = "de_duration")]
    pub header_read_timeout: Duration,
    /// Connections each of the three listeners holds at most, lowered to fit the open-file
    /// limit; at the cap the oldest connection without a whole request makes room, else the
    /// newcomer gets 503.
    pub max_connections: usize,
    /// Spans stored per trace at most; later spans of that trace are dropped and counted, and
    /// the trace is marked truncated.
    pub max_spans_per_trace: u64,
    /// Spans accepted per export request at most; the rest are refused as a partial success.
    pub max_spans_per_request: usize,
    /// Spans one API answer returns at most (per trace asked for, shared among the traces of a
    /// search): the earliest by start time, with a truncation marker.
    pub max_spans_per_answer: usize,
    /// The control API of the `tracemart up` this console runs under, for its Processes page.
    pub processes_url: Option<String>,
    /// How clients beyond loopback are checked on the UI port (open unless set).
    #[serde(skip)]
    pub access: crate::Access,
    /// A header (lower-case name, value) every OTLP export must carry; `None`: ingest is open.
    #[serde(skip)]
    pub otlp_header: Option<(String, String)>,
    /// The `/metrics` endpoints the console scrapes (none: no scraping).
    pub scrape_targets: Vec<ScrapeTarget>,
    /// How often each target is scraped.
    #[serde(deserialize_with = "de_duration")]
    pub scrape_interval: Duration,
}

/// A service whose metrics the console scrapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeTarget {
    /// The service's name, stored as the `job` label of its series.
    pub job: String,
    /// The full URL of its metrics, e.g. `http://127.0.0.1:8001/metrics`.
    pub url: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data/console"),
            retention_max_age: Duration::from_secs(24 * 3600),
            retention_max_bytes: 1 << 30,
            retention_interval: Duration::from_secs(60),
            max_request_bytes: 16 << 20,
            queue_capacity: 256,
            enqueue_timeout: Duration::from_millis(200),
            read_connections: 4,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            // A request of the shop makes 10 to 30 spans; 10,000 is far more than a waterfall
            // can show, yet bounds one trace to about 10 MB of store (Tempo's default per-trace
            // limit is 5 MB). Without it one runaway trace (a loop that opens a span per row)
            // took every answer about it to gigabytes.
            max_spans_per_trace: 10_000,
            // OpenTelemetry SDKs export 512 spans per request and the Collector's batch
            // processor 8,192: honest senders stay below, and one request's decoded spans stay
            // a few megabytes however small each span is.
            max_spans_per_request: 10_000,
            // 5,000 spans are about 2 MB of Jaeger JSON, drawn by a browser in well under a
            // second; 100,000 were 33 MB and two seconds, and eight such answers at once held
            // 1.6 GB.
            max_spans_per_answer: 5_000,
            processes_url: None,
            access: crate::Access::default(),
            otlp_header: None,
            scrape_targets: Vec::new(),
            // Prometheus's default scrape interval.
            scrape_interval: Duration::from_secs(15),
        }
    }
}

impl ConsoleConfig {
    /// A default configuration storing its database under `data_dir`.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    /// Path of the SQLite database inside the data directory.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("console.db")
    }

    /// The limits of each listener: `max_connections`, lowered so that the three listeners
    /// together fit the open-file limit.
    pub(crate) fn connection_limits(&self) -> ConnectionLimits {
        let all = fit_to_open_files(
            self.max_connections.saturating_mul(LISTENERS),
            RESERVED_FILES,
        );
        ConnectionLimits::new(self.header_read_timeout, all / LISTENERS)
    }
}

/// Accepts `"90s"`, `"1.5h"`, `"7d"` or a plain number of seconds.
fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_accept_text_and_seconds() {
        let c: ConsoleConfig =
            serde_json::from_str(r#"{"retention_max_age":"2h","retention_interval":30}"#).unwrap();
        assert_eq!(c.retention_max_age, Duration::from_secs(7200));
        assert_eq!(c.retention_interval, Duration::from_secs(30));
        assert_eq!(c.retention_max_bytes, 1 << 30);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        assert!(serde_json::from_str::<ConsoleConfig>(r#"{"nope":1}"#).is_err());
    }
}
