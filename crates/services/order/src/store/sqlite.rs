//! Orders in SQLite, on the service's one writer: a read-check-write inside a transaction
//! needs no lock of its own, and only one process uses the file.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde::Serialize;
use tracemart_contracts::UserId;
use tracemart_contracts::events::topic;
use tracemart_events::{Message, Outbox, inbox};
use tracemart_platform::{Database, DbError};
use tracemart_telemetry::Span;

use super::{
    Claim, Correction, EventColumns, KeyRow, OrderColumns, Placement, REBUILD_CHUNK, Rebuilt,
    Recorded, StepWrites, Takeover, correction, fold, judge, order_columns, order_upsert_set,
};
use crate::commands::{command, expiry_id};
use crate::stream::OrderRow;

const SELECT_ORDERS: &str = concat!("SELECT ", order_columns!(), " FROM orders");

#[derive(Clone)]
pub struct SqliteOrders {
    db: Database,
    owner: Arc<str>,
}

fn to_columns(row: &Row<'_>) -> rusqlite::Result<OrderColumns> {
    Ok(OrderColumns {
        id: row.get(0)?,
        user_id: row.get(1)?,
        status: row.get(2)?,
        total_minor: row.get(3)?,
        currency: row.get(4)?,
        items: row.get(5)?,
        shipping_address: row.get(6)?,
        reservation_id: row.get(7)?,
        created_at: row.get(8)?,
        status_changed_at: row.get(9)?,
        cancellation_reason: row.get(10)?,
        payment_id: row.get(11)?,
        reservation_expires_at: row.get(12)?,
        updated_at: row.get(13)?,
    })
}

fn to_row(row: &Row<'_>) -> rusqlite::Result<OrderRow> {
    to_columns(row).map(OrderRow::from)
}

impl SqliteOrders {
    pub(super) fn new(db: Database, owner: Arc<str>) -> Self {
        Self { db, owner }
    }

    pub(super) fn get(&self, id: &str) -> Result<Option<OrderRow>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(&format!("{SELECT_ORDERS} WHERE id = ?1"))?
                .query_row([id], to_row)
                .optional()
        })
    }

    pub(super) fn holds_reservation(&self, reservation_id: &str) -> Result<bool, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached("SELECT 1 FROM orders WHERE reservation_id = ?1")?
                .query_row([reservation_id], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
        })
    }

    pub(super) fn list_for_user(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> Result<Vec<OrderRow>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(&format!(
                "{SELECT_ORDERS} WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
            ))?
            .query_map(params![user_id.0, limit], to_row)?
            .collect()
        })
    }

    pub(super) fn events(&self, order_id: &str) -> Result<Vec<EventColumns>, DbError> {
        self.db.read("SELECT", "order_events", |conn| {
            conn.prepare_cached(
                "SELECT event_id, order_id, seq, type, payload, created_at, cause, trace_id FROM order_events \
                 WHERE order_id = ?1 ORDER BY seq",
            )?
            .query_map([order_id], |row| {
                Ok(EventColumns {
                    event_id: row.get(0)?,
                    order_id: row.get(1)?,
                    seq: row.get(2)?,
                    kind: row.get(3)?,
                    payload: row.get(4)?,
                    created_at: row.get(5)?,
                    cause: row.get(6)?,
                    trace_id: row.get(7)?,
                })
            })?
            .collect()
        })
    }

    pub(super) fn seen(&self, message_id: &str) -> Result<bool, DbError> {
        inbox::seen(&self.db, message_id)
    }

    pub(super) fn place(&self, outbox: &Outbox, p: &Placement<'_>) -> Result<Span, DbError> {
        let order_id = p.order_id();
        outbox.transaction("orders", |tx| {
            let (event, row) = p.first();
            p.write_span
                .in_scope(|| {
                    self.insert_event(tx, &event)?;
                    self.write_row(tx, &row)
                })
                .inspect_err(|e| p.write_span.record_error("DatabaseError", e))?;
            let publish = (p.publish_span)(order_id);
            outbox
                .publish_in(
                    tx,
                    &publish,
                    topic::ORDER_CREATED,
                    Some(order_id),
                    &p.message(),
                )
                .inspect_err(|e| publish.record_error("DatabaseError", e))?;
            let (expiry, expire) = p.expiry();
            outbox.schedule(
                tx,
                &expiry,
                command::EXPIRE,
                Some(order_id),
                &expire,
                p.expires_at,
            )?;
            if let Some((key, body)) = &p.answer {
                self.complete_key(tx, key, body)?;
            }
            Ok(publish)
        })
    }

    pub(super) fn record(
        &self,
        outbox: &Outbox,
        m: &Message,
        order_id: &str,
        plan: impl FnOnce(OrderRow, i64) -> StepWrites,
    ) -> Result<Recorded, DbError> {
        outbox.transaction("orders", |tx| {
            if !inbox::claim(&self.db, tx, m)? {
                return Ok(Recorded::Duplicate);
            }
            let Some((row, last)) = self.load(tx, order_id)? else {
                return Ok(Recorded::NoOrder);
            };
            let writes = plan(row, last);
            for event in &writes.events {
                self.insert_event(tx, event)?;
            }
            if !writes.events.is_empty() {
                self.write_row(tx, &OrderColumns::from(&writes.row))?;
            }
            for (topic, payload) in &writes.messages {
                outbox.publish(tx, topic, Some(order_id), payload)?;
            }
            if writes.finished {
                outbox.unschedule(tx, &expiry_id(order_id))?;
            }
            Ok(writes.recorded())
        })
    }

    pub(super) fn publish(
        &self,
        outbox: &Outbox,
        topic: &'static str,
        key: &str,
        payload: &impl Serialize,
    ) -> Result<(), DbError> {
        outbox
            .transaction("event_outbox", |tx| {
                outbox.publish(tx, topic, Some(key), payload)
            })
            .map(drop)
    }

    /// The order as it stands in `tx`, and the seq of its last event.
    fn load(
        &self,
        tx: &Transaction<'_>,
        order_id: &str,
    ) -> Result<Option<(OrderRow, i64)>, DbError> {
        // One statement for both: this runs for every message an order receives.
        self.db.timed("SELECT", "orders", || {
            tx.prepare_cached(concat!(
                "SELECT ",
                order_columns!(),
                ", (SELECT COALESCE(MAX(seq), 0) FROM order_events WHERE order_id = orders.id) \
                     FROM orders WHERE id = ?1"
            ))?
            .query_row([order_id], |r| Ok((to_row(r)?, r.get::<_, i64>(14)?)))
            .optional()
        })
    }

    fn insert_event(&self, tx: &Transaction<'_>, e: &EventColumns) -> Result<(), DbError> {
        self.db.timed("INSERT", "order_events", || {
            tx.prepare_cached(
                "INSERT INTO order_events (event_id, order_id, seq, type, payload, created_at, cause, trace_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                e.event_id,
                e.order_id,
                e.seq,
                e.kind,
                e.payload,
                e.created_at,
                e.cause,
                e.trace_id,
            ])
        })?;
        Ok(())
    }

    /// Writes `row` over the order's row (or inserts it).
    fn write_row(&self, tx: &Transaction<'_>, c: &OrderColumns) -> Result<(), DbError> {
        self.db.timed("UPSERT", "orders", || {
            tx.prepare_cached(
                concat!(
                    "INSERT INTO orders (id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, \
                     created_at, updated_at, status_changed_at, cancellation_reason, payment_id, reservation_expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    order_upsert_set!()
                ),
            )?
            .execute(params![
                c.id,
                c.user_id,
                c.status,
                c.total_minor,
                c.currency,
                c.items,
                c.shipping_address,
                c.reservation_id,
                c.created_at,
                c.updated_at,
                c.status_changed_at,
                c.cancellation_reason,
                c.payment_id,
                c.reservation_expires_at,
            ])
        })?;
        Ok(())
    }

    /// Rebuilds the orders whose id sorts after `after` (at most [`REBUILD_CHUNK`]), in one
    /// transaction; returns the last id, or `None` when none was left.
    pub(super) fn rebuild_chunk(&self, after: &str) -> Result<(Rebuilt, Option<String>), DbError> {
        self.db.transaction("orders", |tx| {
            let ids: Vec<String> = self.db.timed("SELECT", "orders", || {
                tx.prepare_cached(
                    "SELECT id FROM (SELECT DISTINCT order_id AS id FROM order_events UNION SELECT id FROM orders) \
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?
                .query_map(params![after, REBUILD_CHUNK], |r| r.get(0))?
                .collect()
            })?;
            let mut done = Rebuilt::default();
            for id in &ids {
                let events: Vec<(String, String, String)> =
                    self.db.timed("SELECT", "order_events", || {
                        tx.prepare_cached(
                            "SELECT type, payload, created_at FROM order_events WHERE order_id = ?1 ORDER BY seq",
                        )?
                        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect()
                    })?;
                let current = self.db.timed("SELECT", "orders", || {
                    tx.prepare_cached(&format!("{SELECT_ORDERS} WHERE id = ?1"))?
                        .query_row([id], to_row)
                        .optional()
                })?;
                match correction(fold(id, &events), current) {
                    Correction::None => {}
                    Correction::Write(want) => {
                        self.write_row(tx, &OrderColumns::from(&*want))?;
                        done.corrected += 1;
                    }
                    Correction::Delete => {
                        self.db.timed("DELETE", "orders", || {
                            tx.prepare_cached("DELETE FROM orders WHERE id = ?1")?
                                .execute([id])
                        })?;
                        done.corrected += 1;
                    }
                }
                if !events.is_empty() {
                    done.orders += 1;
                }
            }
            Ok((done, ids.last().cloned()))
        })
    }

    pub(super) fn claim_key(
        &self,
        key: &str,
        request: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Claim, DbError> {
        self.db.write("INSERT", "idempotency_keys", |tx| {
            let existing: Option<KeyRow> = tx
                .prepare_cached(
                    "SELECT request, status, response_status, response_body, created_at, owner \
                     FROM idempotency_keys WHERE key = ?1",
                )?
                .query_row([key], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                })
                .optional()?;
            let claim = judge(existing, request, &self.owner, now, Takeover::OtherOwners);
            if let Claim::New = claim {
                tx.prepare_cached(
                    "INSERT INTO idempotency_keys (key, request, status, created_at, owner) \
                     VALUES (?1, ?2, 'pending', ?3, ?4) \
                     ON CONFLICT (key) DO UPDATE SET status = 'pending', \
                     created_at = excluded.created_at, owner = excluded.owner",
                )?
                .execute(params![key, request, now.to_rfc3339(), &*self.owner])?;
            }
            Ok(claim)
        })
    }

    /// Records the answer for `key`, in the order's transaction.
    fn complete_key(&self, tx: &Transaction<'_>, key: &str, body: &str) -> Result<(), DbError> {
        self.db.timed("UPDATE", "idempotency_keys", || {
            tx.prepare_cached(
                "UPDATE idempotency_keys SET status = 'done', response_status = 201, response_body = ?1 \
                 WHERE key = ?2",
            )?
            .execute(params![body, key])
        })?;
        Ok(())
    }

    pub(super) fn release_key(&self, key: &str) -> Result<(), DbError> {
        self.db.write("DELETE", "idempotency_keys", |tx| {
            tx.prepare_cached(
                "DELETE FROM idempotency_keys WHERE key = ?1 AND status = 'pending' AND owner = ?2",
            )?
            .execute(params![key, &*self.owner])
        })?;
        Ok(())
    }
}
