//! How a relay delivers: retries, dead-lettering, batching and its fallback poll.

use std::time::Duration;

use tracemart_platform::ShopConfig;

/// Delivery settings of one service's relay.
#[derive(Debug, Clone, PartialEq)]
pub struct RelaySettings {
    /// Failed attempts that reached the consumer after which a message is dead-lettered.
    /// Attempts that found no consumer (no connection, a timeout, 502/503/504) do not count:
    /// a consumer that is down is waited for, not given up on.
    pub max_failures: u32,
    /// Backoff after the first failed attempt; it doubles each time, up to `retry_max`, and
    /// each delay is jittered to between half and one and a half times itself.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How often the relay looks for due messages when nothing woke it: for scheduled
    /// messages, retries, and rows written by another process. Commits wake it at once.
    pub poll_interval: Duration,
    /// Most messages read per round, and sent per request.
    pub batch_size: usize,
    /// Bound on one delivery request.
    pub delivery_timeout: Duration,
    /// Acknowledged rows are deleted after this long.
    pub published_retention: Duration,
    /// Inbox entries are deleted after this long. A message comes again only while its
    /// producer has not seen it acknowledged: within a retry or two of its handling (the answer
    /// was lost), far less than this.
    pub inbox_retention: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self::from_config(&ShopConfig::default())
    }
}

impl RelaySettings {
    pub fn from_config(config: &ShopConfig) -> Self {
        Self {
            max_failures: config.event_max_failures,
            retry_base: Duration::from_millis(config.event_retry_base_ms),
            retry_max: Duration::from_millis(config.event_retry_max_ms),
            poll_interval: Duration::from_millis(config.event_poll_ms),
            batch_size: 256,
            delivery_timeout: config.downstream_timeout(),
            published_retention: Duration::from_secs(600),
            inbox_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }

    /// How long a relay on PostgreSQL holds the messages it claimed for a round: longer than
    /// the round's deliveries can take (they run concurrently, each bounded by
    /// `delivery_timeout`), so no other relay sends them meanwhile; a relay that died
    /// mid-round leaves them to the others after it.
    pub fn claim(&self) -> Duration {
        self.delivery_timeout
            .saturating_mul(2)
            .max(Duration::from_secs(10))
    }

    /// The delay before attempt `attempts + 1`, given `jitter` in `[0, 1)`.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let doublings = attempts.saturating_sub(1).min(30);
        let delay = self
            .retry_base
            .saturating_mul(1 << doublings)
            .min(self.retry_max);
        delay.mul_f64(0.5 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_within_its_jitter() {
        let s = RelaySettings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..RelaySettings::default()
        };
        let cases = [
            (1, 0.5, 100),
            (2, 0.5, 200),
            (3, 0.5, 400),
            (5, 0.5, 1000),
            (40, 0.5, 1000),
            (1, 0.0, 50),
            (1, 0.999, 149),
        ];
        for (attempts, jitter, want_ms) in cases {
            assert_eq!(
                s.backoff(attempts, jitter).as_millis(),
                want_ms,
                "attempt {attempts}, jitter {jitter}"
            );
        }
    }
}
