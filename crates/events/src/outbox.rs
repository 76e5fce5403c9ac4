//! The transactional outbox: a message is written in the transaction of the change it
//! announces (one row per destination), so it exists exactly when the change does; the relay
//! delivers it afterwards. Scheduled messages wait in their own table until due.
//!
//! One outbox on either engine: the writes that join a caller's transaction exist once per
//! engine (`sqlite.rs` takes a rusqlite transaction, `postgres.rs` a sqlx one), and the
//! relay's side is dispatched here to the engine's SQL.

mod postgres;
mod sqlite;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tracemart_platform::{AnyDatabase, DbError};
use tracemart_telemetry::names::{attr, messaging};
use tracemart_telemetry::{Metrics, Span, SpanKind};

use crate::settings::RelaySettings;

/// Which destinations receive each topic: a message is written once per destination.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_topic: HashMap<&'static str, Vec<&'static str>>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivers `topic` to `destination` (a name the relay has a transport for).
    pub fn route(mut self, topic: &'static str, destination: &'static str) -> Self {
        self.by_topic.entry(topic).or_default().push(destination);
        self
    }

    pub(crate) fn destinations(&self, topic: &str) -> &[&'static str] {
        self.by_topic.get(topic).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn all_destinations(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_topic.values().flatten().copied()
    }
}

/// A service's outbox. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: AnyDatabase,
    routes: Routes,
    wake: Notify,
    metrics: Metrics,
    /// `messaging.system` of each destination whose transport is not the embedded one.
    systems: RwLock<HashMap<&'static str, &'static str>>,
}

/// A message written but not yet acknowledged, as the relay reads it.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) seq: i64,
    pub(crate) destination: String,
    pub(crate) message: crate::Message,
    pub(crate) attempts: u32,
    pub(crate) failures: u32,
}

/// How one delivery attempt ended, as the relay judged it.
pub(crate) enum Verdict {
    Acknowledged,
    /// Try again later; `counts` when the attempt reached the consumer (toward dead-lettering).
    Retry {
        error: String,
        counts: bool,
    },
    /// The consumer can never handle it.
    DeadLetter {
        error: String,
    },
}

/// What settling a row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    Acknowledged,
    Retrying { next: DateTime<Utc> },
    DeadLettered,
}

/// The PRODUCER span of a message about to be written, carried by `system`: a child of the
/// current span, named `publish {topic}` unless the caller has a name of its own (the seed's
/// `publish_order_created_event`).
fn producer_span(
    system: &'static str,
    name: Option<&'static str>,
    topic: &str,
    key: Option<&str>,
) -> Span {
    let name = name.map_or_else(|| format!("publish {topic}").into(), Cow::Borrowed);
    let mut attributes = vec![
        KeyValue::new(attr::messaging::SYSTEM, system),
        KeyValue::new(attr::messaging::OPERATION_TYPE, messaging::OPERATION_SEND),
        KeyValue::new(attr::messaging::OPERATION_NAME, "publish"),
        KeyValue::new(attr::messaging::DESTINATION_NAME, topic.to_owned()),
    ];
    if let Some(key) = key {
        attributes.push(KeyValue::new(
            attr::messaging::MESSAGE_CONVERSATION_ID,
            key.to_owned(),
        ));
    }
    Span::build(
        tracemart_telemetry::span_site!("tracemart::events"),
        SpanKind::Producer,
        name,
    )
    .attributes(attributes)
    .start()
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Our payloads and header maps are plain data with string keys: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

impl Outbox {
    pub fn new(db: AnyDatabase, routes: Routes, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                routes,
                wake: Notify::new(),
                metrics,
                systems: RwLock::default(),
            }),
        }
    }

    pub fn database(&self) -> &AnyDatabase {
        &self.inner.db
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn routes(&self) -> &Routes {
        &self.inner.routes
    }

    /// The PRODUCER span of a message of `topic` about to be written (see [`Outbox::publish`]).
    pub fn producer_span(
        &self,
        name: Option<&'static str>,
        topic: &str,
        key: Option<&str>,
    ) -> Span {
        // A topic's first destination names the system (each topic has one destination so far).
        let system = self
            .routes()
            .destinations(topic)
            .first()
            .and_then(|d| {
                let systems = self.inner.systems.read().unwrap_or_else(|e| e.into_inner());
                systems.get(d).copied()
            })
            .unwrap_or(messaging::SYSTEM_EMBEDDED);
        producer_span(system, name, topic, key)
    }

    /// Records that `system` carries the messages for `destination`.
    pub(crate) fn carried_by(&self, destination: &'static str, system: &'static str) {
        let mut systems = self
            .inner
            .systems
            .write()
            .unwrap_or_else(|e| e.into_inner());
        systems.insert(destination, system);
    }

    /// Wakes the relay (after a commit that wrote messages).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Resolves at the next [`Outbox::wake`] (or at once if one came since the last wait).
    pub(crate) async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    /// Moves scheduled messages due by `now` into the outbox; returns how many.
    pub(crate) async fn promote_due(&self, now: DateTime<Utc>) -> Result<usize, DbError> {
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => self.promote_due_sqlite(db, now),
            AnyDatabase::Postgres(db) => self.promote_due_pg(db, now).await,
        }
    }

    /// Unacknowledged messages due by `now`, oldest first, at most one per key and
    /// destination (the next one of a key waits until the one before it is acknowledged),
    /// claimed for this relay until `claim_until`: on PostgreSQL, where relays of several
    /// instances share the table, no other relay takes them before then. (A SQLite database
    /// has one service process, so one relay.)
    pub(crate) async fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        claim_until: DateTime<Utc>,
    ) -> Result<Vec<Pending>, DbError> {
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => sqlite::due(db, now, limit),
            AnyDatabase::Postgres(db) => postgres::claim(db, now, limit, claim_until).await,
        }
    }

    /// Unacknowledged messages that are due (including those waiting to be retried), the
    /// time the oldest became due, and the dead letters.
    pub(crate) async fn backlog(&self) -> Result<(i64, Option<DateTime<Utc>>, i64), DbError> {
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => sqlite::backlog(db),
            AnyDatabase::Postgres(db) => postgres::backlog(db).await,
        }
    }

    /// Records how each delivery attempt ended, in one transaction: acknowledged rows are
    /// marked published; failed ones are retried after a backoff, or moved to the dead-letter
    /// table once they have failed `max_failures` times at their consumer.
    pub(crate) async fn settle(
        &self,
        now: DateTime<Utc>,
        attempts: &[(&Pending, Verdict)],
        settings: &RelaySettings,
    ) -> Result<Vec<Settled>, DbError> {
        let plan: Vec<Settlement> = attempts
            .iter()
            .map(|(row, verdict)| Settlement::of(now, row, verdict, settings))
            .collect();
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => sqlite::settle(db, now, &plan),
            AnyDatabase::Postgres(db) => postgres::settle(db, now, &plan).await,
        }
    }

    /// Deletes acknowledged rows acknowledged before `before` (a bounded number per call).
    pub(crate) async fn purge(&self, before: DateTime<Utc>) -> Result<usize, DbError> {
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => sqlite::purge(db, before),
            AnyDatabase::Postgres(db) => postgres::purge(db, before).await,
        }
    }
}

/// What settling one row writes, decided the same way on both engines.
pub(crate) struct Settlement<'a> {
    pub(crate) row: &'a Pending,
    /// Attempts made, this one included.
    pub(crate) tried: u32,
    pub(crate) action: Action<'a>,
}

pub(crate) enum Action<'a> {
    Acknowledge,
    Retry {
        failures: u32,
        error: &'a str,
        next: DateTime<Utc>,
    },
    DeadLetter {
        error: &'a str,
    },
}

impl<'a> Settlement<'a> {
    fn of(
        now: DateTime<Utc>,
        row: &'a Pending,
        verdict: &'a Verdict,
        settings: &RelaySettings,
    ) -> Self {
        let tried = row.attempts + 1;
        let action = match verdict {
            Verdict::Acknowledged => Action::Acknowledge,
            Verdict::Retry { error, counts } => {
                let failures = row.failures + u32::from(*counts);
                if failures >= settings.max_failures {
                    Action::DeadLetter { error }
                } else {
                    let delay = settings.backoff(tried, rand::random::<f64>());
                    let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                    Action::Retry {
                        failures,
                        error,
                        next,
                    }
                }
            }
            Verdict::DeadLetter { error } => Action::DeadLetter { error },
        };
        Self { row, tried, action }
    }

    pub(crate) fn settled(&self) -> Settled {
        match self.action {
            Action::Acknowledge => Settled::Acknowledged,
            Action::Retry { next, .. } => Settled::Retrying { next },
            Action::DeadLetter { .. } => Settled::DeadLettered,
        }
    }
}

/// A stored row as the relay reads it; the counters as the engine stores them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pending(
    seq: i64,
    destination: String,
    id: String,
    topic: String,
    key: Option<String>,
    payload: String,
    headers: &str,
    created_at: String,
    attempts: u32,
    failures: u32,
) -> Pending {
    Pending {
        seq,
        destination,
        message: crate::Message {
            id,
            topic,
            key,
            payload: raw(payload),
            headers: serde_json::from_str::<BTreeMap<String, String>>(headers).unwrap_or_default(),
            created_at,
            attempt: attempts + 1,
        },
        attempts,
        failures,
    }
}

/// A payload as stored; a row that is not JSON (written by hand) travels as a JSON string,
/// so that its consumer can reject it.
fn raw(payload: String) -> Box<RawValue> {
    RawValue::from_string(payload).unwrap_or_else(|e| {
        RawValue::from_string(json(&format!("not JSON: {e}"))).unwrap_or_default()
    })
}
