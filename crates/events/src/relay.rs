//! The relay: delivers a service's outbox, at least once. A commit that wrote messages wakes
//! it (no poll delay on the hot path); it also polls, for scheduled messages and retries.
//! Each round reads the due messages (the next one of each key only, so a key's messages
//! arrive in order), sends them to their destinations in batches, and records the receipts:
//! acknowledged rows are marked published, failed ones retried with jittered backoff, and
//! those that failed at their consumer too often moved to the dead-letter table. On
//! PostgreSQL a round claims what it reads (see `outbox/postgres.rs`), so the relays of
//! several instances share one outbox without sending a row twice.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracemart_platform::DbError;
use tracemart_telemetry::events::{
    BusinessEvent, Delivery, EventDeadLettered, EventDeliveryFailed,
};

use crate::amqp::{AmqpTransport, Broker};
use crate::message::{Message, Outcome, Receipt};
use crate::outbox::{Outbox, Pending, Settled, Verdict};
use crate::settings::RelaySettings;
use crate::transport::{HttpTransport, Transport, TransportError};

/// How often the backlog gauges are refreshed, and acknowledged rows and old inbox entries
/// purged (the relay runs in every service that has an inbox).
const STATS_EVERY: Duration = Duration::from_secs(1);
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// A destination routed in the outbox without a transport to reach it.
#[derive(Debug, thiserror::Error)]
#[error("events for {0} have no transport")]
pub struct MissingTransport(pub &'static str);

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Scheduled messages that fell due and joined the outbox.
    pub promoted: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub dead_lettered: usize,
    /// The earliest retry this round planned.
    pub next_retry: Option<DateTime<Utc>>,
}

/// Delivers one service's outbox.
pub struct Relay {
    outbox: Outbox,
    transports: HashMap<&'static str, Arc<dyn Transport>>,
    settings: RelaySettings,
}

impl Relay {
    pub fn new(outbox: Outbox, settings: RelaySettings) -> Self {
        Self {
            outbox,
            transports: HashMap::new(),
            settings,
        }
    }

    /// Reaches `destination` through `transport`.
    pub fn transport(mut self, destination: &'static str, transport: impl Transport) -> Self {
        // The PRODUCER spans of messages for `destination` name the system that carries them.
        self.outbox
            .carried_by(destination, transport.messaging_system());
        self.transports.insert(destination, Arc::new(transport));
        self
    }

    /// Reaches `destination` (another service) through `broker` when one is configured,
    /// else through `embedded` (its `POST /events`).
    pub fn remote(
        self,
        destination: &'static str,
        broker: Option<&Broker>,
        embedded: impl FnOnce() -> HttpTransport,
    ) -> Self {
        match broker {
            Some(broker) => {
                let producer = self.outbox.metrics().service().to_owned();
                self.transport(
                    destination,
                    AmqpTransport::new(broker, &producer, destination),
                )
            }
            None => self.transport(destination, embedded()),
        }
    }

    /// Fails if a routed destination has no transport (checked before the service starts).
    pub fn check(&self) -> Result<(), MissingTransport> {
        match self
            .outbox
            .routes()
            .all_destinations()
            .find(|d| !self.transports.contains_key(d))
        {
            Some(d) => Err(MissingTransport(d)),
            None => Ok(()),
        }
    }

    /// Relays until `stop` resolves; a round under way is finished first.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut stats_at = Instant::now();
        let mut purged_at = Instant::now();
        let mut first = true;
        loop {
            let round = match self.relay_once(Utc::now()).await {
                Ok(round) => round,
                Err(e) => {
                    tracing::warn!(error = %e, "Relaying events failed; trying again shortly");
                    Round::default()
                }
            };
            if first || stats_at.elapsed() >= STATS_EVERY {
                self.refresh_backlog().await;
                stats_at = Instant::now();
                first = false;
            }
            if purged_at.elapsed() >= PURGE_EVERY {
                self.purge().await;
                purged_at = Instant::now();
            }
            if round.delivered + round.promoted > 0 {
                // More may be due (the next message of a key, or a full batch): go on at once.
                tokio::task::yield_now().await;
                continue;
            }
            let wait = round
                .next_retry
                .and_then(|at| (at - Utc::now()).to_std().ok())
                .map_or(self.settings.poll_interval, |d| {
                    d.min(self.settings.poll_interval)
                });
            tokio::select! {
                () = &mut stop => break,
                () = self.outbox.woken() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.refresh_backlog().await;
    }

    /// One round: promotes due scheduled messages, delivers what is due, records receipts.
    pub async fn relay_once(&self, now: DateTime<Utc>) -> Result<Round, DbError> {
        let promoted = self.outbox.promote_due(now).await?;
        let claim_until =
            now + chrono::Duration::from_std(self.settings.claim()).unwrap_or_default();
        let due = self
            .outbox
            .due(now, self.settings.batch_size, claim_until)
            .await?;
        let mut round = Round {
            promoted,
            ..Round::default()
        };
        if due.is_empty() {
            return Ok(round);
        }
        let deliveries = batches(&due)
            .into_iter()
            .map(|(destination, rows)| async move {
                let messages: Vec<&Message> = rows.iter().map(|p| &p.message).collect();
                let result = match self.transports.get(destination) {
                    Some(t) => t.deliver(&messages).await,
                    None => Err(TransportError {
                        message: format!("no transport for {destination}"),
                        reached_consumer: false,
                    }),
                };
                (rows, result)
            });
        let mut verdicts = Vec::with_capacity(due.len());
        for (rows, result) in futures::future::join_all(deliveries).await {
            verdicts.extend(judge(rows, result));
        }
        let settled = self
            .outbox
            .settle(Utc::now(), &verdicts, &self.settings)
            .await?;
        for ((row, verdict), settled) in verdicts.iter().zip(settled) {
            self.report(row, verdict, settled, &mut round);
        }
        Ok(round)
    }

    fn report(&self, row: &Pending, verdict: &Verdict, settled: Settled, round: &mut Round) {
        let metrics = self.outbox.metrics();
        let m = &row.message;
        let (topic, destination) = (m.topic.as_str(), row.destination.as_str());
        let error = match verdict {
            Verdict::Retry { error, .. } | Verdict::DeadLetter { error } => error.as_str(),
            Verdict::Acknowledged => "",
        };
        let delivery = Delivery {
            topic,
            destination,
            message_id: &m.id,
            key: m.key.as_deref(),
            attempt: m.attempt,
            error,
        };
        match settled {
            Settled::Acknowledged => {
                round.delivered += 1;
                metrics.event_delivered(topic, destination);
            }
            Settled::Retrying { next } => {
                round.retrying += 1;
                round.next_retry = Some(round.next_retry.map_or(next, |n| n.min(next)));
                EventDeliveryFailed {
                    metrics,
                    delivery,
                    next_attempt_at: next,
                }
                .emit();
            }
            Settled::DeadLettered => {
                round.dead_lettered += 1;
                EventDeadLettered { metrics, delivery }.emit();
            }
        }
    }

    async fn refresh_backlog(&self) {
        match self.outbox.backlog().await {
            Ok((pending, oldest, dead)) => {
                let age = oldest
                    .and_then(|t| (Utc::now() - t).to_std().ok())
                    .unwrap_or_default();
                self.outbox.metrics().outbox_state(pending, age, dead);
            }
            Err(e) => tracing::warn!(error = %e, "Reading the outbox backlog failed"),
        }
    }

    async fn purge(&self) {
        let before = Utc::now()
            - chrono::Duration::from_std(self.settings.published_retention).unwrap_or_default();
        if let Err(e) = self.outbox.purge(before).await {
            tracing::warn!(error = %e, "Purging delivered events failed");
        }
        let before = Utc::now()
            - chrono::Duration::from_std(self.settings.inbox_retention).unwrap_or_default();
        if let Err(e) = crate::inbox::purge(self.outbox.database(), before).await {
            tracing::warn!(error = %e, "Purging old inbox entries failed");
        }
    }
}

/// Splits due rows into requests: per destination, at most [`crate::MAX_BATCH_BYTES`] of
/// payload each (and the relay's batch size, which bounds `due`).
fn batches(due: &[Pending]) -> Vec<(&str, Vec<&Pending>)> {
    let mut by_destination: BTreeMap<&str, Vec<Vec<&Pending>>> = BTreeMap::new();
    for row in due {
        let chunks = by_destination.entry(row.destination.as_str()).or_default();
        let size = |chunk: &Vec<&Pending>| -> usize {
            chunk.iter().map(|p| p.message.payload.get().len()).sum()
        };
        match chunks.last_mut() {
            Some(chunk)
                if size(chunk) + row.message.payload.get().len() <= crate::MAX_BATCH_BYTES =>
            {
                chunk.push(row)
            }
            _ => chunks.push(vec![row]),
        }
    }
    by_destination
        .into_iter()
        .flat_map(|(d, chunks)| chunks.into_iter().map(move |c| (d, c)))
        .collect()
}

/// Turns a request's result into a verdict for each of its rows.
fn judge(
    rows: Vec<&Pending>,
    result: Result<Vec<Receipt>, TransportError>,
) -> Vec<(&Pending, Verdict)> {
    match result {
        Err(e) => rows
            .into_iter()
            .map(|row| {
                let verdict = Verdict::Retry {
                    error: e.message.clone(),
                    counts: e.reached_consumer,
                };
                (row, verdict)
            })
            .collect(),
        Ok(receipts) => {
            let by_id: HashMap<&str, &Receipt> =
                receipts.iter().map(|r| (r.id.as_str(), r)).collect();
            rows.into_iter()
                .map(|row| {
                    let verdict = match by_id.get(row.message.id.as_str()) {
                        Some(r) if r.outcome.is_acknowledged() => Verdict::Acknowledged,
                        Some(r) => {
                            let error = r.error.clone().unwrap_or_else(|| "failed".to_owned());
                            if r.outcome == Outcome::Rejected {
                                Verdict::DeadLetter { error }
                            } else {
                                Verdict::Retry {
                                    error,
                                    counts: true,
                                }
                            }
                        }
                        None => Verdict::Retry {
                            error: "the consumer's reply had no receipt for it".to_owned(),
                            counts: true,
                        },
                    };
                    (row, verdict)
                })
                .collect()
        }
    }
}
