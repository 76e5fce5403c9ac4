//! The outbox on PostgreSQL: writes that join the caller's sqlx transaction, and the relay's
//! claims and settlements, safe with the relays of several instances on one database.
//!
//! A relay claims what it sends: one statement locks due rows with `FOR UPDATE SKIP LOCKED`
//! (rows another relay is claiming are passed over, not waited for) and moves their
//! `next_attempt_at` to the end of the claim, so that no other relay takes them while this
//! one delivers; settling then marks them published or due again. A relay that dies
//! mid-delivery leaves its rows to the others once the claim ends. A key's next message is
//! not due while an earlier one is unpublished, claimed or not, so a key's order holds
//! across relays too.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, Postgres, Transaction};
use tracemart_platform::{AnyDatabase, DbError, PgDatabase};
use tracemart_telemetry::Span;

use super::{Action, Outbox, Pending, Settled, Settlement, json, pending};
use crate::clock::{micros, rfc3339};

/// A row as the relay reads it.
type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    i64,
    i64,
);

fn to_pending(r: Row) -> Pending {
    let (seq, destination, id, topic, key, payload, headers, created_at, attempts, failures) = r;
    pending(
        seq,
        destination,
        id,
        topic,
        key,
        payload,
        &headers,
        created_at,
        u32::try_from(attempts).unwrap_or(u32::MAX),
        u32::try_from(failures).unwrap_or(u32::MAX),
    )
}

impl Outbox {
    /// The PostgreSQL database this outbox writes to; an error names the mix-up when it runs
    /// on SQLite (whose writes take a rusqlite transaction).
    fn pg(&self, operation: &'static str, table: &'static str) -> Result<&PgDatabase, DbError> {
        match &self.inner.db {
            AnyDatabase::Postgres(db) => Ok(db),
            AnyDatabase::Sqlite(_) => Err(DbError::WrongEngine {
                operation,
                table,
                engine: "sqlite",
            }),
        }
    }

    /// Commits `tx`, which published, and wakes the relay: what it published goes out at
    /// once instead of at the next poll.
    pub async fn commit(
        &self,
        tx: Transaction<'static, Postgres>,
        table: &'static str,
    ) -> Result<(), DbError> {
        PgDatabase::commit(tx, table).await?;
        self.wake();
        Ok(())
    }

    /// [`Outbox::publish`] in a PostgreSQL transaction: writes `payload` under `topic` for
    /// every destination of the topic, under a PRODUCER span whose trace context the message
    /// carries. Returns the message id. Commit with [`Outbox::commit`].
    pub async fn publish_pg(
        &self,
        tx: &mut PgConnection,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
    ) -> Result<String, DbError> {
        let span = self.producer_span(None, topic, key);
        self.publish_pg_in(tx, &span, topic, key, payload).await
    }

    /// Like [`Outbox::publish_pg`], under `span` (made by [`Outbox::producer_span`]).
    pub async fn publish_pg_in(
        &self,
        tx: &mut PgConnection,
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
        let insert = self.insert_pg(tx, &id, topic, key, &payload, &headers, now, now);
        span.instrument(insert).await?;
        Ok(id)
    }

    /// [`Outbox::schedule`] in a PostgreSQL transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn schedule_pg(
        &self,
        tx: &mut PgConnection,
        id: &str,
        topic: &str,
        key: Option<&str>,
        payload: &impl Serialize,
        at: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let headers = json(&Span::current().carrier());
        let db = self.pg("INSERT", "event_schedule")?;
        db.timed(
            "INSERT",
            "event_schedule",
            sqlx::query(
                "INSERT INTO event_schedule (id, topic, message_key, payload, headers, created_at, due_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(topic)
            .bind(key)
            .bind(json(payload))
            .bind(headers)
            .bind(rfc3339(Utc::now()))
            .bind(micros(at))
            .execute(&mut *tx),
        )
        .await?;
        Ok(())
    }

    /// [`Outbox::unschedule`] in a PostgreSQL transaction.
    pub async fn unschedule_pg(&self, tx: &mut PgConnection, id: &str) -> Result<bool, DbError> {
        let db = self.pg("DELETE", "event_schedule")?;
        let deleted = db
            .timed(
                "DELETE",
                "event_schedule",
                sqlx::query("DELETE FROM event_schedule WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx),
            )
            .await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// One row per destination of `topic`, in one statement.
    #[allow(clippy::too_many_arguments)]
    async fn insert_pg(
        &self,
        tx: &mut PgConnection,
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
        let db = self.pg("INSERT", "event_outbox")?;
        db.timed(
            "INSERT",
            "event_outbox",
            sqlx::query(
                "INSERT INTO event_outbox (id, destination, topic, message_key, payload, headers, created_at, due_at, next_attempt_at) \
                 SELECT $1, destination, $3, $4, $5, $6, $7, $8, $8 FROM UNNEST($2::TEXT[]) AS destination",
            )
            .bind(id)
            .bind(destinations)
            .bind(topic)
            .bind(key)
            .bind(payload)
            .bind(headers)
            .bind(rfc3339(created))
            .bind(micros(due))
            .execute(&mut *tx),
        )
        .await?;
        self.inner.metrics.event_published(topic);
        Ok(())
    }

    /// Scheduled messages are taken with `SKIP LOCKED` too: relays of two instances promote
    /// each one once.
    pub(super) async fn promote_due_pg(
        &self,
        db: &PgDatabase,
        now: DateTime<Utc>,
    ) -> Result<usize, DbError> {
        let cutoff = micros(now);
        // min() always walks the index; `WHERE due_at <= $1 LIMIT 1` was planned as a
        // sequential scan of every scheduled message (each round, so once per order) while the
        // table's statistics were those of an empty one.
        let earliest: Option<i64> = db
            .timed(
                "SELECT",
                "event_schedule",
                sqlx::query_scalar("SELECT min(due_at) FROM event_schedule").fetch_one(db.pool()),
            )
            .await?;
        if earliest.is_none_or(|due| due > cutoff) {
            return Ok(0);
        }
        let mut tx = db.begin("event_schedule").await?;
        type Due = (String, String, Option<String>, String, String, String, i64);
        let due: Vec<Due> = db
            .timed(
                "DELETE",
                "event_schedule",
                sqlx::query_as(
                    "DELETE FROM event_schedule WHERE id IN (SELECT id FROM event_schedule \
                     WHERE due_at <= $1 ORDER BY due_at LIMIT 1000 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, topic, message_key, payload, headers, created_at, due_at",
                )
                .bind(cutoff)
                .fetch_all(&mut *tx),
            )
            .await?;
        for (id, topic, key, payload, headers, created, due_at) in &due {
            let created =
                DateTime::parse_from_rfc3339(created).map_or(now, |t| t.with_timezone(&Utc));
            let due_at = DateTime::from_timestamp_micros(*due_at).unwrap_or(now);
            self.insert_pg(
                &mut tx,
                id,
                topic,
                key.as_deref(),
                payload,
                headers,
                created,
                due_at,
            )
            .await?;
        }
        PgDatabase::commit(tx, "event_schedule").await?;
        Ok(due.len())
    }
}

pub(super) async fn claim(
    db: &PgDatabase,
    now: DateTime<Utc>,
    limit: usize,
    claim_until: DateTime<Utc>,
) -> Result<Vec<Pending>, DbError> {
    let rows: Vec<Row> = db
        .timed(
            "UPDATE",
            "event_outbox",
            sqlx::query_as(
                "WITH next AS (SELECT seq FROM event_outbox AS o \
                     WHERE published_at IS NULL AND next_attempt_at <= $1 \
                     AND (message_key IS NULL OR NOT EXISTS (SELECT 1 FROM event_outbox AS e \
                          WHERE e.message_key = o.message_key AND e.destination = o.destination \
                          AND e.published_at IS NULL AND e.seq < o.seq)) \
                     ORDER BY seq LIMIT $2 FOR UPDATE OF o SKIP LOCKED) \
                 UPDATE event_outbox AS o SET next_attempt_at = $3 FROM next WHERE o.seq = next.seq \
                 RETURNING o.seq, o.destination, o.id, o.topic, o.message_key, o.payload, o.headers, \
                     o.created_at, o.attempts, o.failures",
            )
            .bind(micros(now))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(micros(claim_until))
            .fetch_all(db.pool()),
        )
        .await?;
    let mut due: Vec<Pending> = rows.into_iter().map(to_pending).collect();
    // RETURNING keeps no order.
    due.sort_by_key(|p| p.seq);
    Ok(due)
}

pub(super) async fn backlog(db: &PgDatabase) -> Result<(i64, Option<DateTime<Utc>>, i64), DbError> {
    let (pending, oldest): (i64, Option<i64>) = db
        .timed(
            "SELECT",
            "event_outbox",
            sqlx::query_as(
                "SELECT COUNT(*), MIN(due_at) FROM event_outbox WHERE published_at IS NULL",
            )
            .fetch_one(db.pool()),
        )
        .await?;
    let dead: i64 = db
        .timed(
            "SELECT",
            "event_dead_letters",
            sqlx::query_scalar("SELECT COUNT(*) FROM event_dead_letters").fetch_one(db.pool()),
        )
        .await?;
    Ok((
        pending,
        oldest.and_then(DateTime::from_timestamp_micros),
        dead,
    ))
}

pub(super) async fn settle(
    db: &PgDatabase,
    now: DateTime<Utc>,
    plan: &[Settlement<'_>],
) -> Result<Vec<Settled>, DbError> {
    let at = micros(now);
    let mut tx = db.begin("event_outbox").await?;
    for s in plan {
        let (seq, tried) = (s.row.seq, i64::from(s.tried));
        match s.action {
            Action::Acknowledge => {
                db.timed(
                    "UPDATE",
                    "event_outbox",
                    sqlx::query(
                        "UPDATE event_outbox SET published_at = $1, attempts = $2 WHERE seq = $3",
                    )
                    .bind(at)
                    .bind(tried)
                    .bind(seq)
                    .execute(&mut *tx),
                )
                .await?;
            }
            Action::Retry {
                failures,
                error,
                next,
            } => {
                db.timed(
                    "UPDATE",
                    "event_outbox",
                    sqlx::query(
                        "UPDATE event_outbox SET attempts = $1, failures = $2, last_error = $3, \
                         next_attempt_at = $4 WHERE seq = $5",
                    )
                    .bind(tried)
                    .bind(i64::from(failures))
                    .bind(error)
                    .bind(micros(next))
                    .bind(seq)
                    .execute(&mut *tx),
                )
                .await?;
            }
            Action::DeadLetter { error } => {
                db.timed(
                    "INSERT",
                    "event_dead_letters",
                    sqlx::query(
                        "INSERT INTO event_dead_letters (id, destination, topic, message_key, payload, headers, created_at, attempts, last_error, dead_at) \
                         SELECT id, destination, topic, message_key, payload, headers, created_at, $1, $2, $3 FROM event_outbox WHERE seq = $4 \
                         ON CONFLICT (id, destination) DO UPDATE SET attempts = event_dead_letters.attempts + excluded.attempts, \
                         last_error = excluded.last_error, dead_at = excluded.dead_at",
                    )
                    .bind(tried)
                    .bind(error)
                    .bind(at)
                    .bind(seq)
                    .execute(&mut *tx),
                )
                .await?;
                db.timed(
                    "DELETE",
                    "event_outbox",
                    sqlx::query("DELETE FROM event_outbox WHERE seq = $1")
                        .bind(seq)
                        .execute(&mut *tx),
                )
                .await?;
            }
        }
    }
    PgDatabase::commit(tx, "event_outbox").await?;
    Ok(plan.iter().map(Settlement::settled).collect())
}

pub(super) async fn purge(db: &PgDatabase, before: DateTime<Utc>) -> Result<usize, DbError> {
    let deleted = db
        .timed(
            "DELETE",
            "event_outbox",
            sqlx::query(
                "DELETE FROM event_outbox WHERE seq IN (SELECT seq FROM event_outbox \
                 WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY seq LIMIT 5000)",
            )
            .bind(micros(before))
            .execute(db.pool()),
        )
        .await?;
    Ok(usize::try_from(deleted.rows_affected()).unwrap_or(usize::MAX))
}
