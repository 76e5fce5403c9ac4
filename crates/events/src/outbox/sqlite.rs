//! The outbox on SQLite: writes that join the caller's rusqlite transaction, and the relay's
//! reads and settlements on the service's one writer.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use tracemart_platform::{AnyDatabase, Database, DbError};
use tracemart_telemetry::Span;

use super::{Action, Outbox, Pending, Settled, Settlement, json, pending};
use crate::clock::{micros, rfc3339};

impl Outbox {
    /// The SQLite database this outbox writes to; an error names the mix-up when it runs on
    /// PostgreSQL (whose writes are the `*_pg` methods).
    fn sqlite(&self, operation: &'static str, table: &'static str) -> Result<&Database, DbError> {
        match &self.inner.db {
            AnyDatabase::Sqlite(db) => Ok(db),
            AnyDatabase::Postgres(_) => Err(DbError::WrongEngine {
                operation,
                table,
                engine: "postgresql",
            }),
        }
    }

    /// Runs `write` in one SQLite transaction and, once it committed, wakes the relay: what it
    /// published goes out at once instead of at the next poll.
    pub fn transaction<T, E: From<DbError>>(
        &self,
        table: &'static str,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let value = self.sqlite("BEGIN", table)?.transaction(table, write)?;
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
        let span = self.producer_span(None, topic, key);
        self.publish_in(tx, &span, topic, key, payload)
    }

    /// Like [`Outbox::publish`], under `span` (made by [`Outbox::producer_span`]).
    pub fn publish_in(
        &self,
        tx: &Transaction<'_>,
        span: &Span,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        span.set_attribute(opentelemetry::KeyValue::new(
            tracemart_telemetry::names::attr::messaging::MESSAGE_ID,
            id.clone(),
        ));
        let headers = json(&span.carrier());
        let payload = json(payload);
        let now = Utc::now();
        span.in_scope(|| self.insert_sqlite(tx, &id, topic, key, &payload, &headers, now, now))?;
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
        self.sqlite("INSERT", "event_schedule")?
            .timed("INSERT", "event_schedule", || {
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
        let deleted =
            self.sqlite("DELETE", "event_schedule")?
                .timed("DELETE", "event_schedule", || {
                    tx.prepare_cached("DELETE FROM event_schedule WHERE id = ?1")?
                        .execute([id])
                })?;
        Ok(deleted > 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_sqlite(
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
        self.sqlite("INSERT", "event_outbox")?
            .timed("INSERT", "event_outbox", || {
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

    pub(super) fn promote_due_sqlite(
        &self,
        db: &Database,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
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
                self.insert_sqlite(
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
}

pub(super) fn due(
    db: &Database,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Pending>, DbError> {
    db.read("SELECT", "event_outbox", |conn| {
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
            Ok(pending(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                &headers,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })?
        .collect()
    })
}

pub(super) fn backlog(db: &Database) -> Result<(i64, Option<DateTime<Utc>>, i64), DbError> {
    db.read("SELECT", "event_outbox", |conn| {
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

pub(super) fn settle(
    db: &Database,
    now: DateTime<Utc>,
    plan: &[Settlement<'_>],
) -> Result<Vec<Settled>, DbError> {
    let at = micros(now);
    db.transaction("event_outbox", |tx| {
        for s in plan {
            let (row, tried) = (s.row, s.tried);
            match s.action {
                Action::Acknowledge => {
                    db.timed("UPDATE", "event_outbox", || {
                        tx.prepare_cached(
                            "UPDATE event_outbox SET published_at = ?1, attempts = ?2 WHERE seq = ?3",
                        )?
                        .execute(params![at, tried, row.seq])
                    })?;
                }
                Action::Retry {
                    failures,
                    error,
                    next,
                } => {
                    db.timed("UPDATE", "event_outbox", || {
                        tx.prepare_cached(
                            "UPDATE event_outbox SET attempts = ?1, failures = ?2, last_error = ?3, \
                             next_attempt_at = ?4 WHERE seq = ?5",
                        )?
                        .execute(params![tried, failures, error, micros(next), row.seq])
                    })?;
                }
                Action::DeadLetter { error } => dead_letter(db, tx, row, tried, error, at)?,
            }
        }
        Ok(plan.iter().map(Settlement::settled).collect())
    })
}

fn dead_letter(
    db: &Database,
    tx: &Transaction<'_>,
    row: &Pending,
    attempts: u32,
    error: &str,
    at: i64,
) -> Result<(), DbError> {
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

pub(super) fn purge(db: &Database, before: DateTime<Utc>) -> Result<usize, DbError> {
    db.write("DELETE", "event_outbox", |tx| {
        // Oldest rows first (seq order): they are almost all acknowledged, so the scan
        // finds its batch without an index on published_at.
        tx.prepare_cached(
            "DELETE FROM event_outbox WHERE seq IN (SELECT seq FROM event_outbox \
             WHERE published_at IS NOT NULL AND published_at < ?1 ORDER BY seq LIMIT 5000)",
        )?
        .execute([micros(before)])
    })
}
