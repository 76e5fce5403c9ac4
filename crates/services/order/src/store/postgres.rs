//! Orders in PostgreSQL, where instances of the service write at once: a saga step locks its
//! order's row (`SELECT ... FOR UPDATE`) before it reads the order and appends to its stream,
//! so that two messages about one order are applied one after the other; the unique
//! (order_id, seq) backs that up. An idempotency key is claimed under its row lock too.

use std::sync::Arc;

use serde::Serialize;
use sqlx::PgConnection;
use tracemart_contracts::UserId;
use tracemart_contracts::events::topic;
use tracemart_events::{Message, Outbox, inbox};
use tracemart_platform::{DbError, PgDatabase};
use tracemart_telemetry::Span;

use super::{
    Claim, Correction, EventColumns, KeyRow, OrderColumns, Placement, REBUILD_CHUNK, Rebuilt,
    Recorded, StepWrites, Takeover, correction, fold, judge, order_columns, order_upsert_set,
};
use crate::commands::{command, expiry_id};
use crate::stream::OrderRow;

const SELECT_ORDER: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");

#[derive(Clone)]
pub struct PgOrders {
    db: PgDatabase,
    owner: Arc<str>,
}

impl PgOrders {
    pub(super) fn new(db: PgDatabase, owner: Arc<str>) -> Self {
        Self { db, owner }
    }

    pub(super) async fn get(&self, id: &str) -> Result<Option<OrderRow>, DbError> {
        let row: Option<OrderColumns> = self
            .db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_as(SELECT_ORDER)
                    .bind(id)
                    .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(row.map(OrderRow::from))
    }

    pub(super) async fn holds_reservation(&self, reservation_id: &str) -> Result<bool, DbError> {
        let found: Option<i32> = self
            .db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_scalar("SELECT 1 FROM orders WHERE reservation_id = $1 LIMIT 1")
                    .bind(reservation_id)
                    .fetch_optional(self.db.pool()),
            )
            .await?;
        Ok(found.is_some())
    }

    pub(super) async fn list_for_user(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> Result<Vec<OrderRow>, DbError> {
        let rows: Vec<OrderColumns> = self
            .db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_as(concat!(
                    "SELECT ",
                    order_columns!(),
                    " FROM orders WHERE user_id = $1 ORDER BY created_at DESC, insert_seq DESC LIMIT $2"
                ))
                .bind(user_id.0)
                .bind(limit)
                .fetch_all(self.db.pool()),
            )
            .await?;
        Ok(rows.into_iter().map(OrderRow::from).collect())
    }

    pub(super) async fn events(&self, order_id: &str) -> Result<Vec<EventColumns>, DbError> {
        self.db
            .timed(
                "SELECT",
                "order_events",
                sqlx::query_as(
                    "SELECT event_id, order_id, seq, type, payload, created_at, cause, trace_id \
                     FROM order_events WHERE order_id = $1 ORDER BY seq",
                )
                .bind(order_id)
                .fetch_all(self.db.pool()),
            )
            .await
    }

    pub(super) async fn seen(&self, message_id: &str) -> Result<bool, DbError> {
        inbox::seen_pg(&self.db, message_id).await
    }

    pub(super) async fn place(&self, outbox: &Outbox, p: &Placement<'_>) -> Result<Span, DbError> {
        let order_id = p.order_id();
        let mut tx = self.db.begin("orders").await?;
        // Dropping `tx` on an early return rolls it back.
        let (event, row) = p.first();
        p.write_span
            .instrument(async {
                self.insert_event(&mut tx, &event).await?;
                self.write_row(&mut tx, &row).await
            })
            .await
            .inspect_err(|e| p.write_span.record_error("DatabaseError", e))?;
        let publish = (p.publish_span)(order_id);
        outbox
            .publish_pg_in(
                &mut tx,
                &publish,
                topic::ORDER_CREATED,
                Some(order_id),
                &p.message(),
            )
            .await
            .inspect_err(|e| publish.record_error("DatabaseError", e))?;
        let (expiry, expire) = p.expiry();
        outbox
            .schedule_pg(
                &mut tx,
                &expiry,
                command::EXPIRE,
                Some(order_id),
                &expire,
                p.expires_at,
            )
            .await?;
        if let Some((key, body)) = &p.answer {
            self.complete_key(&mut tx, key, body).await?;
        }
        outbox.commit(tx, "orders").await?;
        Ok(publish)
    }

    pub(super) async fn record(
        &self,
        outbox: &Outbox,
        m: &Message,
        order_id: &str,
        plan: impl FnOnce(OrderRow, i64) -> StepWrites,
    ) -> Result<Recorded, DbError> {
        let db = &self.db;
        let mut tx = db.begin("orders").await?;
        if !inbox::claim_pg(db, &mut tx, m).await? {
            return Ok(Recorded::Duplicate);
        }
        let Some(locked) = self.lock(&mut tx, order_id).await? else {
            return Ok(Recorded::NoOrder);
        };
        // A statement of its own, after the lock: its snapshot then holds the events of the
        // step that held the lock before (one statement would read them as they were when
        // it began waiting).
        let last: i64 = db
            .timed(
                "SELECT",
                "order_events",
                sqlx::query_scalar(
                    "SELECT COALESCE(MAX(seq), 0) FROM order_events WHERE order_id = $1",
                )
                .bind(order_id)
                .fetch_one(&mut *tx),
            )
            .await?;
        let writes = plan(OrderRow::from(locked), last);
        for event in &writes.events {
            self.insert_event(&mut tx, event).await?;
        }
        if !writes.events.is_empty() {
            self.write_row(&mut tx, &OrderColumns::from(&writes.row))
                .await?;
        }
        for (topic, payload) in &writes.messages {
            outbox
                .publish_pg(&mut tx, topic, Some(order_id), payload)
                .await?;
        }
        if writes.finished {
            outbox.unschedule_pg(&mut tx, &expiry_id(order_id)).await?;
        }
        outbox.commit(tx, "orders").await?;
        Ok(writes.recorded())
    }

    /// The order's row, locked until `tx` ends: no other step (or rebuild) changes the
    /// order meanwhile.
    async fn lock(
        &self,
        tx: &mut PgConnection,
        order_id: &str,
    ) -> Result<Option<OrderColumns>, DbError> {
        self.db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_as(concat!(
                    "SELECT ",
                    order_columns!(),
                    " FROM orders WHERE id = $1 FOR UPDATE"
                ))
                .bind(order_id)
                .fetch_optional(&mut *tx),
            )
            .await
    }

    pub(super) async fn publish(
        &self,
        outbox: &Outbox,
        topic: &'static str,
        key: &str,
        payload: &(impl Serialize + Sync),
    ) -> Result<(), DbError> {
        let mut tx = self.db.begin("event_outbox").await?;
        outbox
            .publish_pg(&mut tx, topic, Some(key), payload)
            .await?;
        outbox.commit(tx, "event_outbox").await
    }

    async fn insert_event(&self, tx: &mut PgConnection, e: &EventColumns) -> Result<(), DbError> {
        self.db
            .timed(
                "INSERT",
                "order_events",
                sqlx::query(
                    "INSERT INTO order_events (event_id, order_id, seq, type, payload, created_at, cause, trace_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&e.event_id)
                .bind(&e.order_id)
                .bind(e.seq)
                .bind(&e.kind)
                .bind(&e.payload)
                .bind(&e.created_at)
                .bind(&e.cause)
                .bind(&e.trace_id)
                .execute(&mut *tx),
            )
            .await?;
        Ok(())
    }

    /// Writes `c` over the order's row (or inserts it).
    async fn write_row(&self, tx: &mut PgConnection, c: &OrderColumns) -> Result<(), DbError> {
        self.db
            .timed(
                "UPSERT",
                "orders",
                sqlx::query(
                    concat!(
                        "INSERT INTO orders (id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, \
                         created_at, updated_at, status_changed_at, cancellation_reason, payment_id, reservation_expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                        order_upsert_set!()
                    ),
                )
                .bind(&c.id)
                .bind(c.user_id)
                .bind(&c.status)
                .bind(c.total_minor)
                .bind(&c.currency)
                .bind(&c.items)
                .bind(&c.shipping_address)
                .bind(&c.reservation_id)
                .bind(&c.created_at)
                .bind(&c.updated_at)
                .bind(&c.status_changed_at)
                .bind(&c.cancellation_reason)
                .bind(&c.payment_id)
                .bind(&c.reservation_expires_at)
                .execute(&mut *tx),
            )
            .await?;
        Ok(())
    }

    /// Rebuilds the orders whose id sorts after `after` (at most [`REBUILD_CHUNK`]), in one
    /// transaction; returns the last id, or `None` when none was left.
    pub(super) async fn rebuild_chunk(
        &self,
        after: &str,
    ) -> Result<(Rebuilt, Option<String>), DbError> {
        let db = &self.db;
        let mut tx = db.begin("orders").await?;
        let ids: Vec<String> = db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_scalar(
                    "SELECT id FROM (SELECT DISTINCT order_id AS id FROM order_events UNION SELECT id FROM orders) AS ids \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(REBUILD_CHUNK)
                .fetch_all(&mut *tx),
            )
            .await?;
        let mut done = Rebuilt::default();
        for id in &ids {
            // The row first: locked, no saga step appends to its stream until this ends.
            let current = self.lock(&mut tx, id).await?;
            let events: Vec<(String, String, String)> = db
                .timed(
                    "SELECT",
                    "order_events",
                    sqlx::query_as(
                        "SELECT type, payload, created_at FROM order_events WHERE order_id = $1 ORDER BY seq",
                    )
                    .bind(id)
                    .fetch_all(&mut *tx),
                )
                .await?;
            match correction(fold(id, &events), current.map(OrderRow::from)) {
                Correction::None => {}
                Correction::Write(want) => {
                    self.write_row(&mut tx, &OrderColumns::from(&*want)).await?;
                    done.corrected += 1;
                }
                Correction::Delete => {
                    db.timed(
                        "DELETE",
                        "orders",
                        sqlx::query("DELETE FROM orders WHERE id = $1")
                            .bind(id)
                            .execute(&mut *tx),
                    )
                    .await?;
                    done.corrected += 1;
                }
            }
            if !events.is_empty() {
                done.orders += 1;
            }
        }
        PgDatabase::commit(tx, "orders").await?;
        Ok((done, ids.last().cloned()))
    }

    /// The key is inserted if new; otherwise its row is locked and judged, so that of
    /// several instances taking over a stale claim at once, one does and the others find it
    /// in flight.
    pub(super) async fn claim_key(
        &self,
        key: &str,
        request: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Claim, DbError> {
        let db = &self.db;
        let created_at = now.to_rfc3339();
        let mut tx = db.begin("idempotency_keys").await?;
        let inserted = db
            .timed(
                "INSERT",
                "idempotency_keys",
                sqlx::query(
                    "INSERT INTO idempotency_keys (key, request, status, created_at, owner) \
                     VALUES ($1, $2, 'pending', $3, $4) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(request)
                .bind(&created_at)
                .bind(&*self.owner)
                .execute(&mut *tx),
            )
            .await?;
        if inserted.rows_affected() == 1 {
            PgDatabase::commit(tx, "idempotency_keys").await?;
            return Ok(Claim::New);
        }
        let existing: Option<KeyRow> = db
            .timed(
                "SELECT",
                "idempotency_keys",
                sqlx::query_as(
                    "SELECT request, status, response_status, response_body, created_at, owner \
                     FROM idempotency_keys WHERE key = $1 FOR UPDATE",
                )
                .bind(key)
                .fetch_optional(&mut *tx),
            )
            .await?;
        // Freed since the insert (its request failed): the client's retry may run, but
        // another retry may be claiming it at this moment, so it waits for the next attempt.
        let Some(existing) = existing else {
            return Ok(Claim::InFlight);
        };
        let claim = judge(
            Some(existing),
            request,
            &self.owner,
            now,
            Takeover::StaleOnly,
        );
        if let Claim::New = claim {
            db.timed(
                "UPDATE",
                "idempotency_keys",
                sqlx::query(
                    "UPDATE idempotency_keys SET status = 'pending', created_at = $2, owner = $3 \
                     WHERE key = $1",
                )
                .bind(key)
                .bind(&created_at)
                .bind(&*self.owner)
                .execute(&mut *tx),
            )
            .await?;
        }
        PgDatabase::commit(tx, "idempotency_keys").await?;
        Ok(claim)
    }

    /// Records the answer for `key`, in the order's transaction.
    async fn complete_key(
        &self,
        tx: &mut PgConnection,
        key: &str,
        body: &str,
    ) -> Result<(), DbError> {
        self.db
            .timed(
                "UPDATE",
                "idempotency_keys",
                sqlx::query(
                    "UPDATE idempotency_keys SET status = 'done', response_status = 201, response_body = $1 \
                     WHERE key = $2",
                )
                .bind(body)
                .bind(key)
                .execute(&mut *tx),
            )
            .await?;
        Ok(())
    }

    pub(super) async fn release_key(&self, key: &str) -> Result<(), DbError> {
        self.db
            .timed(
                "DELETE",
                "idempotency_keys",
                sqlx::query(
                    "DELETE FROM idempotency_keys WHERE key = $1 AND status = 'pending' AND owner = $2",
                )
                .bind(key)
                .bind(&*self.owner)
                .execute(self.db.pool()),
            )
            .await?;
        Ok(())
    }
}
