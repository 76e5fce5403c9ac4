//! The transactional outbox: a message is written in the transaction of the change it
//! announces (one row per destination), so it exists exactly when the change does; the relay
//! delivers it afterwards. Scheduled messages wait in their own table until due.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use opentelemetry::KeyValue;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::Notify;
use tracemart_platform::{Database, DbError};
use tracemart_telemetry::names::{attr, messaging};
use tracemart_telemetry::{Metrics, Span, SpanKind};

use crate::clock::{micros, rfc3339};
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
    db: Database,
    routes: Routes,
    wake: Notify,
    metrics: Metrics,
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

/// The PRODUCER span of a message about to be written: a child of the current span, named
/// `publish {topic}` unless the caller has a name of its own (the seed's
/// `publish_order_created_event`).
pub fn producer_span(name: Option<&'static str>, topic: &str, key: Option<&str>) -> Span {
    let name = name.map_or_else(|| format!("publish {topic}").into(), Cow::Borrowed);
    let mut attributes = vec![
        KeyValue::new(attr::messaging::SYSTEM, messaging::SYSTEM_EMBEDDED),
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
    pub fn new(db: Database, routes: Routes, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                routes,
                wake: Notify::new(),
                metrics,
            }),
        }
    }

    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn routes(&self) -> &Routes {
        &self.inner.routes
    }

    /// Runs `write` in one transaction and, once it committed, wakes the relay: what it
    /// published goes out at once instead of at the next poll.
    pub fn transaction<T, E: From<DbError>>(
        &self,
        table: &'static str,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let value = self.inner.db.transaction(table, write)?;
        self.wake();
        Ok(value)
    }

    /// Writes `payload` under `topic` for every destination of the topic, in the caller's
    /// transaction, under a PRODUCER span whose trace context the message carries. Returns
    /// the message id. Commit with [`Outbox::transaction`] (or call [`Outbox::wake`] after).
    pub fn publish(
        &self,
        tx: &Transaction<'_>,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
    ) -> Result<String, DbError> {
        self.publish_in(tx, &producer_span(None, topic, key), topic, key, payload)
    }

    /// Like [`Outbox::publish`], under `span` (made by [`producer_span`]).
    pub fn publish_in(
        &self,
        tx: &Transaction<'_>,
        span: &Span,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        span.set_attribute(KeyValue::new(attr::messaging::MESSAGE_ID, id.clone()));
        let headers = json(&span.carrier());
        let payload = json(payload);
        let now = Utc::now();
        span.in_scope(|| self.insert(tx, &id, topic, key, &payload, &headers, now, now))?;
        Ok(id)
    }

    /// Writes message `id` to be published at `at` (e.g. "this order's reservation
    /// expired"), carrying the current span's trace context; [`Outbox::unschedule`] with the
    /// same id cancels it.
    pub fn schedule(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let headers = json(&Span::current().carrier());
        self.inner.db.timed("INSERT", "event_schedule", || {
            tx.prepare_cached(
                "INSERT INTO event_schedule (id, topic, message_key, payload, headers, created_at, due_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                id,
                topic,
                key,
                json(payload),
                headers,
                rfc3339(Utc::now()),
                micros(at)
            ])
        })?;
        Ok(())
    }

    /// Cancels a scheduled message that is not due yet; `false` if it was already published.
    pub fn unschedule(&self, tx: &Transaction<'_>, id: &str) -> Result<bool, DbError> {
        let deleted = self.inner.db.timed("DELETE", "event_schedule", || {
            tx.prepare_cached("DELETE FROM event_schedule WHERE id = ?1")?
                .execute([id])
        })?;
        Ok(deleted > 0)
    }

    /// Wakes the relay (after a commit that wrote messages).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Resolves at the next [`Outbox::wake`] (or at once if one came since the last wait).
    pub(crate) async fn woken(&self) {
        self.inner.wake.notified().await;
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        tx: &Transaction<'_>,
        id: &str,
        topic: &str,
        key: Option<&str>,
        payload: &str,
        headers: &str,
        created: DateTime<Utc>,
        due: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let destinations = self.inner.routes.destinations(topic);
        if destinations.is_empty() {
            tracing::debug!(topic, "No destination subscribes to this topic");
            return Ok(());
        }
        let (created, due) = (rfc3339(created), micros(due));
        self.inner.db.timed("INSERT", "event_outbox", || {
            let mut insert = tx.prepare_cached(
                "INSERT INTO event_outbox (id, destination, topic, message_key, payload, headers, created_at, due_at, next_attempt_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )?;
            for destination in destinations {
                insert.execute(params![id, destination, topic, key, payload, headers, created, due])?;
            }
            Ok(())
        })?;
        self.inner.metrics.event_published(topic);
        Ok(())
    }

    /// Moves scheduled messages due by `now` into the outbox; returns how many.
    pub(crate) fn promote_due(&self, now: DateTime<Utc>) -> Result<usize, DbError> {
        let db = &self.inner.db;
        let cutoff = micros(now);
        let any = db.read("SELECT", "event_schedule", |conn| {
            conn.prepare_cached("SELECT 1 FROM event_schedule WHERE due_at <= ?1 LIMIT 1")?
                .query_row([cutoff], |_| Ok(()))
                .optional()
        })?;
        if any.is_none() {
            return Ok(0);
        }
        db.transaction("event_schedule", |tx| {
            type Row = (String, String, Option<String>, String, String, String, i64);
            let due: Vec<Row> = db.timed("SELECT", "event_schedule", || {
                tx.prepare_cached(
                    "SELECT id, topic, message_key, payload, headers, created_at, due_at \
                     FROM event_schedule WHERE due_at <= ?1 ORDER BY due_at LIMIT 1000",
                )?
                .query_map([cutoff], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect()
            })?;
            for (id, topic, key, payload, headers, created, due_at) in &due {
                let created =
                    DateTime::parse_from_rfc3339(created).map_or(now, |t| t.with_timezone(&Utc));
                let due_at = DateTime::from_timestamp_micros(*due_at).unwrap_or(now);
                self.insert(
                    tx,
                    id,
                    topic,
                    key.as_deref(),
                    payload,
                    headers,
                    created,
                    due_at,
                )?;
                db.timed("DELETE", "event_schedule", || {
                    tx.prepare_cached("DELETE FROM event_schedule WHERE id = ?1")?
                        .execute([id])
                })?;
            }
            Ok(due.len())
        })
    }

    /// Unacknowledged messages due by `now`, oldest first, at most one per key and
    /// destination (the next one of a key waits until the one before it is acknowledged).
    pub(crate) fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Pending>, DbError> {
        self.inner.db.read("SELECT", "event_outbox", |conn| {
            // INDEXED BY: acknowledged rows wait in the table for their purge; the partial index
            // holds only the unacknowledged ones.
            conn.prepare_cached(
                "SELECT seq, destination, id, topic, message_key, payload, headers, created_at, attempts, failures \
                 FROM event_outbox AS o INDEXED BY event_outbox_due \
                 WHERE published_at IS NULL AND next_attempt_at <= ?1 \
                 AND (message_key IS NULL OR NOT EXISTS (SELECT 1 FROM event_outbox AS e \
                      WHERE e.message_key = o.message_key AND e.destination = o.destination \
                      AND e.published_at IS NULL AND e.seq < o.seq)) \
                 ORDER BY seq LIMIT ?2",
            )?
            .query_map(params![micros(now), limit as i64], |r| {
                let headers: String = r.get(6)?;
                let payload: String = r.get(5)?;
                let attempts: u32 = r.get(8)?;
                Ok(Pending {
                    seq: r.get(0)?,
                    destination: r.get(1)?,
                    message: crate::Message {
                        id: r.get(2)?,
                        topic: r.get(3)?,
                        key: r.get(4)?,
                        payload: raw(payload),
                        headers: serde_json::from_str::<BTreeMap<String, String>>(&headers)
                            .unwrap_or_default(),
                        created_at: r.get(7)?,
                        attempt: attempts + 1,
                    },
                    attempts,
                    failures: r.get(9)?,
                })
            })?
            .collect()
        })
    }

    /// Unacknowledged messages that are due (including those waiting to be retried), the
    /// time the oldest became due, and the dead letters.
    pub(crate) fn backlog(&self) -> Result<(i64, Option<DateTime<Utc>>, i64), DbError> {
        self.inner.db.read("SELECT", "event_outbox", |conn| {
            let (pending, oldest): (i64, Option<i64>) = conn
                .prepare_cached(
                    "SELECT COUNT(*), MIN(due_at) FROM event_outbox INDEXED BY event_outbox_due \
                     WHERE published_at IS NULL",
                )?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            let dead: i64 = conn
                .prepare_cached("SELECT COUNT(*) FROM event_dead_letters")?
                .query_row([], |r| r.get(0))?;
            Ok((
                pending,
                oldest.and_then(DateTime::from_timestamp_micros),
                dead,
            ))
        })
    }

    /// Records how each delivery attempt ended, in one transaction: acknowledged rows are
    /// marked published; failed ones are retried after a backoff, or moved to the dead-letter
    /// table once they have failed `max_failures` times at their consumer.
    pub(crate) fn settle(
        &self,
        now: DateTime<Utc>,
        attempts: &[(&Pending, Verdict)],
        settings: &RelaySettings,
    ) -> Result<Vec<Settled>, DbError> {
        let db = &self.inner.db;
        let at = micros(now);
        db.transaction("event_outbox", |tx| {
            let mut settled = Vec::with_capacity(attempts.len());
            for (row, verdict) in attempts {
                let tried = row.attempts + 1;
                let outcome = match verdict {
                    Verdict::Acknowledged => {
                        db.timed("UPDATE", "event_outbox", || {
                            tx.prepare_cached(
                                "UPDATE event_outbox SET published_at = ?1, attempts = ?2 WHERE seq = ?3",
                            )?
                            .execute(params![at, tried, row.seq])
                        })?;
                        Settled::Acknowledged
                    }
                    Verdict::Retry { error, counts } => {
                        let failures = row.failures + u32::from(*counts);
                        if failures >= settings.max_failures {
                            self.dead_letter(tx, row, tried, error, at)?;
                            Settled::DeadLettered
                        } else {
                            let delay = settings.backoff(tried, rand::random::<f64>());
                            let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                            db.timed("UPDATE", "event_outbox", || {
                                tx.prepare_cached(
                                    "UPDATE event_outbox SET attempts = ?1, failures = ?2, last_error = ?3, \
                                     next_attempt_at = ?4 WHERE seq = ?5",
                                )?
                                .execute(params![tried, failures, error, micros(next), row.seq])
                            })?;
                            Settled::Retrying { next }
                        }
                    }
                    Verdict::DeadLetter { error } => {
                        self.dead_letter(tx, row, tried, error, at)?;
                        Settled::DeadLettered
                    }
                };
                settled.push(outcome);
            }
            Ok(settled)
        })
    }

    fn dead_letter(
        &self,
        tx: &Transaction<'_>,
        row: &Pending,
        attempts: u32,
        error: &str,
        at: i64,
    ) -> Result<(), DbError> {
        let db = &self.inner.db;
        db.timed("INSERT", "event_dead_letters", || {
            tx.prepare_cached(
                "INSERT INTO event_dead_letters (id, destination, topic, message_key, payload, headers, created_at, attempts, last_error, dead_at) \
                 SELECT id, destination, topic, message_key, payload, headers, created_at, ?1, ?2, ?3 FROM event_outbox WHERE seq = ?4 \
                 ON CONFLICT (id, destination) DO UPDATE SET attempts = attempts + excluded.attempts, \
                 last_error = excluded.last_error, dead_at = excluded.dead_at",
            )?
            .execute(params![attempts, error, at, row.seq])
        })?;
        db.timed("DELETE", "event_outbox", || {
            tx.prepare_cached("DELETE FROM event_outbox WHERE seq = ?1")?
                .execute([row.seq])
        })?;
        Ok(())
    }

    /// Deletes acknowledged rows acknowledged before `before` (a bounded number per call).
    pub(crate) fn purge(&self, before: DateTime<Utc>) -> Result<usize, DbError> {
        self.inner.db.write("DELETE", "event_outbox", |tx| {
            // Oldest rows first (seq order): they are almost all acknowledged, so the scan
            // finds its batch without an index on published_at.
            tx.prepare_cached(
                "DELETE FROM event_outbox WHERE seq IN (SELECT seq FROM event_outbox \
                 WHERE published_at IS NOT NULL AND published_at < ?1 ORDER BY seq LIMIT 5000)",
            )?
            .execute([micros(before)])
        })
    }
}

/// A payload as stored; a row that is not JSON (written by hand) travels as a JSON string,
/// so that its consumer can reject it.
fn raw(payload: String) -> Box<RawValue> {
    RawValue::from_string(payload).unwrap_or_else(|e| {
        RawValue::from_string(json(&format!("not JSON: {e}"))).unwrap_or_default()
    })
}
