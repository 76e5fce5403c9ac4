//! Orders in SQLite: each order's event stream (`order_events`), the read model folded from
//! it (`orders`), and idempotency keys.

use std::sync::Arc;

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;
use tracemart_contracts::{Money, UserId};
use tracemart_platform::{Database, DbError};
use tracemart_telemetry::names::attr;

use crate::stream::{CancelReason, Created, OrderEvent, OrderRow, OrderStatus, apply};

/// One entry of an order's event stream, as `GET /orders/{id}/events` shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoredEvent {
    pub event_id: String,
    pub order_id: String,
    pub seq: i64,
    /// e.g. `OrderCreated`, `PaymentAuthorized`, `OrderConfirmed`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
    /// What made it: `POST /orders <request id>`, or `<topic> <message id>`.
    pub cause: Option<String>,
    /// The trace in which it was appended.
    pub trace_id: Option<String>,
}

/// What an `Idempotency-Key` says about a request.
pub enum Claim {
    /// First use: go ahead.
    New,
    /// Done before: answer this again.
    Replay { status: u16, body: String },
    /// Used with another body.
    Mismatch,
    /// Another request with this key is running.
    InFlight,
}

/// What rebuilding the read model found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rebuilt {
    /// Orders folded from their streams.
    pub orders: usize,
    /// Rows that differed from their stream (rewritten) or had no stream (deleted).
    pub corrected: usize,
}

/// A pending claim of this very process older than this is taken to be from a request that
/// died without freeing it (its client hung up mid-way); a claim of a process that is gone is
/// taken over at once.
const STALE_CLAIM_SECONDS: i64 = 60;
/// Orders folded per transaction by [`OrderStore::rebuild`], so the writer is never held long.
const REBUILD_CHUNK: i64 = 500;

/// request, status, response status, response body, created at, owner.
type KeyRow = (
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
);

#[derive(Clone)]
pub struct OrderStore {
    db: Database,
    /// This process's identity as the owner of the idempotency keys it claims: new at every
    /// start, so that a claim by another identity was left by a process that is gone (one
    /// order service runs on a database at a time).
    owner: Arc<str>,
}

/// The columns [`to_row`] reads, in its order.
macro_rules! order_columns {
    () => {
        "id, user_id, status, total_minor, currency, items, shipping_address, \
         reservation_id, created_at, status_changed_at, cancellation_reason, payment_id, \
         reservation_expires_at, updated_at"
    };
}
const SELECT_ORDERS: &str = concat!("SELECT ", order_columns!(), " FROM orders");

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A column the order service wrote as JSON. Unreadable, it reads as empty, so that a rebuild
/// still compares the row with its stream and rewrites it.
fn json_column<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_row(row: &Row<'_>) -> rusqlite::Result<OrderRow> {
    let created_at: String = row.get(8)?;
    let status: String = row.get(2)?;
    let reason: Option<String> = row.get(10)?;
    Ok(OrderRow {
        created: Created {
            order_id: row.get(0)?,
            user_id: UserId(row.get(1)?),
            items: json_column(row.get_ref(5)?.as_str()?),
            total: Money::from_minor(row.get(3)?),
            currency: row.get(4)?,
            shipping_address: json_column(row.get_ref(6)?.as_str()?),
            reservation_id: row.get(7)?,
            reservation_expires_at: row.get(12)?,
            created_at: created_at.clone(),
        },
        status: OrderStatus::parse(&status).unwrap_or(OrderStatus::Created),
        status_changed_at: row.get::<_, Option<String>>(9)?.unwrap_or(created_at),
        cancellation_reason: reason.and_then(|r| serde_json::from_value(Value::from(r)).ok()),
        payment_id: row.get(11)?,
        updated_at: row.get(13)?,
    })
}

impl OrderStore {
    pub fn new(db: Database) -> Self {
        Self {
            db,
            owner: uuid::Uuid::new_v4().to_string().into(),
        }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Starts an order's stream with `OrderCreated` (seq 1) and writes its row.
    pub fn create(
        &self,
        tx: &Transaction<'_>,
        created: &Created,
        cause: &str,
        trace_id: Option<&str>,
    ) -> Result<OrderRow, DbError> {
        let event = OrderEvent::OrderCreated(created.clone());
        let row = OrderRow::new(created);
        self.insert_event(tx, &row, 1, &event, cause, trace_id)?;
        self.write_row(tx, &row)?;
        Ok(row)
    }

    /// The order as it stands in `tx`, and the seq of its last event.
    pub fn load(
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

    /// Appends `events` after seq `last` and writes the row they lead to.
    pub fn append(
        &self,
        tx: &Transaction<'_>,
        row: OrderRow,
        last: i64,
        events: &[OrderEvent],
        cause: &str,
        trace_id: Option<&str>,
    ) -> Result<OrderRow, DbError> {
        if events.is_empty() {
            return Ok(row);
        }
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut current = row;
        for (i, event) in events.iter().enumerate() {
            current = apply(Some(current.clone()), event, &at).unwrap_or(current);
            self.insert_event(tx, &current, last + 1 + i as i64, event, cause, trace_id)?;
        }
        self.write_row(tx, &current)?;
        Ok(current)
    }

    fn insert_event(
        &self,
        tx: &Transaction<'_>,
        row: &OrderRow,
        seq: i64,
        event: &OrderEvent,
        cause: &str,
        trace_id: Option<&str>,
    ) -> Result<(), DbError> {
        let (kind, payload) = event.to_columns();
        self.db.timed("INSERT", "order_events", || {
            tx.prepare_cached(
                "INSERT INTO order_events (event_id, order_id, seq, type, payload, created_at, cause, trace_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                uuid::Uuid::now_v7().to_string(),
                row.created.order_id,
                seq,
                kind,
                payload,
                row.updated_at,
                cause,
                trace_id,
            ])
        })?;
        Ok(())
    }

    /// Writes `row` over the order's row (or inserts it).
    fn write_row(&self, tx: &Transaction<'_>, row: &OrderRow) -> Result<(), DbError> {
        let c = &row.created;
        let items = serde_json::to_string(&c.items).unwrap_or_default();
        let address = serde_json::to_string(&c.shipping_address).unwrap_or_default();
        self.db.timed("UPSERT", "orders", || {
            tx.prepare_cached(
                "INSERT INTO orders (id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, \
                 created_at, updated_at, status_changed_at, cancellation_reason, payment_id, reservation_expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, \
                 status_changed_at = excluded.status_changed_at, cancellation_reason = excluded.cancellation_reason, \
                 payment_id = excluded.payment_id, user_id = excluded.user_id, total_minor = excluded.total_minor, \
                 currency = excluded.currency, items = excluded.items, shipping_address = excluded.shipping_address, \
                 reservation_id = excluded.reservation_id, created_at = excluded.created_at, \
                 reservation_expires_at = excluded.reservation_expires_at",
            )?
            .execute(params![
                c.order_id,
                c.user_id.0,
                row.status.as_str(),
                c.total.minor(),
                c.currency,
                items,
                address,
                c.reservation_id,
                c.created_at,
                row.updated_at,
                row.status_changed_at,
                row.cancellation_reason.map(CancelReason::as_str),
                row.payment_id,
                c.reservation_expires_at,
            ])
        })?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<OrderRow>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(&format!("{SELECT_ORDERS} WHERE id = ?1"))?
                .query_row([id], to_row)
                .optional()
        })
    }

    /// Whether any order holds `reservation_id`.
    pub fn holds_reservation(&self, reservation_id: &str) -> Result<bool, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached("SELECT 1 FROM orders WHERE reservation_id = ?1")?
                .query_row([reservation_id], |_| Ok(()))
                .optional()
                .map(|found| found.is_some())
        })
    }

    /// A user's orders, newest first.
    pub fn list_for_user(&self, user_id: UserId, limit: i64) -> Result<Vec<OrderRow>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(&format!(
                "{SELECT_ORDERS} WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
            ))?
            .query_map(params![user_id.0, limit], to_row)?
            .collect()
        })
    }

    pub fn events(&self, order_id: &str) -> Result<Vec<StoredEvent>, DbError> {
        self.db.read("SELECT", "order_events", |conn| {
            conn.prepare_cached(
                "SELECT event_id, order_id, seq, type, payload, created_at, cause, trace_id FROM order_events \
                 WHERE order_id = ?1 ORDER BY seq",
            )?
            .query_map([order_id], |row| {
                Ok(StoredEvent {
                    event_id: row.get(0)?,
                    order_id: row.get(1)?,
                    seq: row.get(2)?,
                    event_type: row.get(3)?,
                    payload: json_of(row.get_ref(4)?.as_str()?),
                    created_at: row.get(5)?,
                    cause: row.get(6)?,
                    trace_id: row.get(7)?,
                })
            })?
            .collect()
        })
    }

    /// Folds every order's stream again and corrects the rows that differ from it (and
    /// deletes rows that have no stream), a chunk of orders per transaction.
    pub fn rebuild(&self) -> Result<Rebuilt, DbError> {
        let mut done = Rebuilt::default();
        let mut after = String::new();
        loop {
            let (chunk, last) = self
                .db
                .transaction("orders", |tx| self.rebuild_chunk(tx, &after))?;
            done.orders += chunk.orders;
            done.corrected += chunk.corrected;
            match last {
                Some(id) => after = id,
                None => break,
            }
        }
        Ok(done)
    }

    /// Rebuilds the orders whose id sorts after `after` (at most [`REBUILD_CHUNK`]); returns
    /// the last id, or `None` when none was left.
    fn rebuild_chunk(
        &self,
        tx: &Transaction<'_>,
        after: &str,
    ) -> Result<(Rebuilt, Option<String>), DbError> {
        type EventRow = (String, String, String, String);
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
            let events: Vec<EventRow> = self.db.timed("SELECT", "order_events", || {
                tx.prepare_cached(
                    "SELECT order_id, type, payload, created_at FROM order_events WHERE order_id = ?1 ORDER BY seq",
                )?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
            })?;
            let mut folded = None;
            for (_, kind, payload, at) in &events {
                match OrderEvent::from_columns(kind, payload) {
                    Ok(event) => folded = apply(folded, &event, at),
                    Err(e) => {
                        tracing::warn!({ attr::order::ID } = %id, event_type = %kind, error = %e, "Unreadable event skipped")
                    }
                }
            }
            let current = self.db.timed("SELECT", "orders", || {
                tx.prepare_cached(&format!("{SELECT_ORDERS} WHERE id = ?1"))?
                    .query_row([id], to_row)
                    .optional()
            })?;
            match (folded, current) {
                (Some(want), Some(have)) if want == have => {}
                (Some(want), _) => {
                    self.write_row(tx, &want)?;
                    done.corrected += 1;
                }
                (None, Some(_)) => {
                    self.db.timed("DELETE", "orders", || {
                        tx.prepare_cached("DELETE FROM orders WHERE id = ?1")?
                            .execute([id])
                    })?;
                    done.corrected += 1;
                }
                (None, None) => {}
            }
            if !events.is_empty() {
                done.orders += 1;
            }
        }
        Ok((done, ids.last().cloned()))
    }

    /// Claims `key` for a request whose canonical body is `request`. A pending claim is taken
    /// over when its owner is gone (another process claimed it), or when it is this process's
    /// own and stale; a claim of this process still in flight is refused.
    pub fn claim_key(&self, key: &str, request: &str) -> Result<Claim, DbError> {
        let now = chrono::Utc::now();
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
            let claim =
                match existing {
                    Some((req, ..)) if req != request => Claim::Mismatch,
                    Some((_, status, Some(code), Some(body), ..)) if status == "done" => {
                        Claim::Replay {
                            status: code as u16,
                            body,
                        }
                    }
                    Some((_, _, _, _, created, owner))
                        if owner.as_deref() == Some(&*self.owner) && !is_stale(&created, now) =>
                    {
                        Claim::InFlight
                    }
                    _ => {
                        tx.prepare_cached(
                        "INSERT INTO idempotency_keys (key, request, status, created_at, owner) \
                         VALUES (?1, ?2, 'pending', ?3, ?4) \
                         ON CONFLICT (key) DO UPDATE SET status = 'pending', \
                         created_at = excluded.created_at, owner = excluded.owner",
                    )?
                    .execute(params![key, request, now.to_rfc3339(), &*self.owner])?;
                        Claim::New
                    }
                };
            Ok(claim)
        })
    }

    /// Records the answer for `key`, in the order's transaction.
    pub fn complete_key(
        &self,
        tx: &Transaction<'_>,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), DbError> {
        self.db.timed("UPDATE", "idempotency_keys", || {
            tx.prepare_cached(
                "UPDATE idempotency_keys SET status = 'done', response_status = ?1, response_body = ?2 \
                 WHERE key = ?3",
            )?
            .execute(params![i64::from(status), body, key])
        })?;
        Ok(())
    }

    /// Frees `key` after a failed request, so that the client's retry runs again; a claim
    /// another process has taken over meanwhile is not this one's to free.
    pub fn release_key(&self, key: &str) -> Result<(), DbError> {
        self.db.write("DELETE", "idempotency_keys", |tx| {
            tx.prepare_cached(
                "DELETE FROM idempotency_keys WHERE key = ?1 AND status = 'pending' AND owner = ?2",
            )?
            .execute(params![key, &*self.owner])
        })?;
        Ok(())
    }
}

fn is_stale(created: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds() > STALE_CLAIM_SECONDS)
        .unwrap_or(true)
}
