//! Orders, their event streams, the outbox and idempotency keys in SQLite.

use rusqlite::{OptionalExtension, Row, Transaction, params};
use serde_json::Value;
use tracemart_contracts::minor_to_decimal;
use tracemart_platform::{Database, DbError};

/// An order as stored and as answered (the seed's body).
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct OrderRecord {
    pub order_id: String,
    pub user_id: i64,
    #[schema(value_type = Vec<tracemart_contracts::LineItem>)]
    pub items: Value,
    /// In currency units, e.g. `59.97`; prices come from the product service.
    pub total_amount: f64,
    pub currency: String,
    #[schema(value_type = crate::schema::ShippingAddress)]
    pub shipping_address: Value,
    pub reservation_id: String,
    pub status: String,
    pub created_at: String,
    #[serde(skip)]
    pub total_minor: i64,
}

/// One entry of an order's event stream.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OrderEvent {
    pub event_id: String,
    pub order_id: String,
    pub seq: i64,
    /// e.g. `OrderCreated`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub created_at: String,
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

/// Pending claims older than this are taken to be from a request that died.
const STALE_CLAIM_SECONDS: i64 = 60;

/// request, status, response status, response body, created at.
type KeyRow = (String, String, Option<i64>, Option<String>, String);

#[derive(Clone)]
pub struct OrderStore {
    db: Database,
}

fn to_record(row: &Row<'_>) -> rusqlite::Result<OrderRecord> {
    let total_minor = row.get(3)?;
    Ok(OrderRecord {
        order_id: row.get(0)?,
        user_id: row.get(1)?,
        status: row.get(2)?,
        total_amount: minor_to_decimal(total_minor),
        currency: row.get(4)?,
        items: serde_json::from_str(row.get_ref(5)?.as_str()?).unwrap_or(Value::Null),
        shipping_address: serde_json::from_str(row.get_ref(6)?.as_str()?).unwrap_or(Value::Null),
        reservation_id: row.get(7)?,
        created_at: row.get(8)?,
        total_minor,
    })
}

macro_rules! select_orders {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, created_at FROM orders ",
            $tail
        )
    };
}

impl OrderStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs `write` in one transaction on the writer; each statement in it is timed on its own.
    pub fn transaction<T>(
        &self,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.db.transaction("orders", write)
    }

    /// Writes the read model row and the `OrderCreated` event (seq 1).
    pub fn insert_order(&self, tx: &Transaction<'_>, o: &OrderRecord) -> Result<(), DbError> {
        let payload = serde_json::to_string(o).unwrap_or_default();
        self.db.timed("INSERT", "order_events", || {
            tx.prepare_cached(
                "INSERT INTO order_events (event_id, order_id, seq, type, payload, created_at) \
                 VALUES (?1, ?2, 1, 'OrderCreated', ?3, ?4)",
            )?
            .execute(params![
                uuid::Uuid::now_v7().to_string(),
                o.order_id,
                payload,
                o.created_at,
            ])
        })?;
        self.db.timed("INSERT", "orders", || {
            tx.prepare_cached(
                "INSERT INTO orders (id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            )?
            .execute(params![
                o.order_id,
                o.user_id,
                o.status,
                o.total_minor,
                o.currency,
                o.items.to_string(),
                o.shipping_address.to_string(),
                o.reservation_id,
                o.created_at,
            ])
        })?;
        Ok(())
    }

    /// Queues an event for delivery, in the caller's transaction, with the trace context.
    pub fn insert_outbox(
        &self,
        tx: &Transaction<'_>,
        topic: &str,
        payload: &Value,
        headers: &Value,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.db.timed("INSERT", "outbox", || {
            tx.prepare_cached(
                "INSERT INTO outbox (id, topic, payload, headers, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id,
                topic,
                payload.to_string(),
                headers.to_string(),
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ])
        })?;
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Result<Option<OrderRecord>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(select_orders!("WHERE id = ?1"))?
                .query_row([id], to_record)
                .optional()
        })
    }

    /// A user's orders, newest first.
    pub fn list_for_user(&self, user_id: i64, limit: i64) -> Result<Vec<OrderRecord>, DbError> {
        self.db.read("SELECT", "orders", |conn| {
            conn.prepare_cached(select_orders!(
                "WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
            ))?
            .query_map(params![user_id, limit], to_record)?
            .collect()
        })
    }

    pub fn events(&self, order_id: &str) -> Result<Vec<OrderEvent>, DbError> {
        self.db.read("SELECT", "order_events", |conn| {
            conn.prepare_cached(
                "SELECT event_id, order_id, seq, type, payload, created_at FROM order_events \
                 WHERE order_id = ?1 ORDER BY seq",
            )?
            .query_map([order_id], |row| {
                Ok(OrderEvent {
                    event_id: row.get(0)?,
                    order_id: row.get(1)?,
                    seq: row.get(2)?,
                    event_type: row.get(3)?,
                    payload: serde_json::from_str(row.get_ref(4)?.as_str()?).unwrap_or(Value::Null),
                    created_at: row.get(5)?,
                })
            })?
            .collect()
        })
    }

    /// Claims `key` for a request whose canonical body is `request`.
    pub fn claim_key(&self, key: &str, request: &str) -> Result<Claim, DbError> {
        let now = chrono::Utc::now();
        self.db.write("INSERT", "idempotency_keys", |tx| {
            let existing: Option<KeyRow> = tx
                .prepare_cached(
                    "SELECT request, status, response_status, response_body, created_at \
                     FROM idempotency_keys WHERE key = ?1",
                )?
                .query_row([key], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                })
                .optional()?;
            let claim = match existing {
                Some((req, _, _, _, _)) if req != request => Claim::Mismatch,
                Some((_, status, Some(code), Some(body), _)) if status == "done" => Claim::Replay {
                    status: code as u16,
                    body,
                },
                Some((_, _, _, _, created)) if !is_stale(&created, now) => Claim::InFlight,
                _ => {
                    tx.prepare_cached(
                        "INSERT INTO idempotency_keys (key, request, status, created_at) VALUES (?1, ?2, 'pending', ?3) \
                         ON CONFLICT (key) DO UPDATE SET status = 'pending', created_at = excluded.created_at",
                    )?
                    .execute(params![key, request, now.to_rfc3339()])?;
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

    /// Frees `key` after a failed request, so that the client's retry runs again.
    pub fn release_key(&self, key: &str) -> Result<(), DbError> {
        self.db.write("DELETE", "idempotency_keys", |tx| {
            tx.prepare_cached("DELETE FROM idempotency_keys WHERE key = ?1 AND status = 'pending'")?
                .execute([key])
        })?;
        Ok(())
    }
}

fn is_stale(created: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds() > STALE_CLAIM_SECONDS)
        .unwrap_or(true)
}
