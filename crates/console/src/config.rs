//! Typed configuration of the console; the binary fills it from its layered configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::duration::parse_duration;

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
