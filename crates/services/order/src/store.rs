//! Orders, their event streams, the outbox and idempotency keys in SQLite.

use serde_json::Value;
use sqlx::{Sqlite, Transaction};
use tracemart_contracts::minor_to_decimal;
use tracemart_platform::{Database, DbError};

/// An order as stored and as answered (the seed's body).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct OrderRecord {
    pub order_id: String,
    pub user_id: i64,
    pub items: Value,
    pub total_amount: f64,
    pub currency: String,
    pub shipping_address: Value,
    pub reservation_id: String,
    pub status: String,
    pub created_at: String,
    #[serde(skip)]
    pub total_minor: i64,
}

/// One entry of an order's event stream.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrderEvent {
    pub event_id: String,
    pub order_id: String,
    pub seq: i64,
    #[serde(rename = "type")]
    pub event_type: String,
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

#[derive(Clone)]
pub struct OrderStore {
    db: Database,
}

/// request, status, response status, response body, created at.
type KeyRow = (String, String, Option<i64>, Option<String>, String);

type OrderRow = (
    String,
    i64,
    String,
    i64,
    String,
    String,
    String,
    String,
    String,
);

fn to_record(
    (id, user_id, status, total_minor, currency, items, address, reservation_id, created_at): OrderRow,
) -> OrderRecord {
    OrderRecord {
        order_id: id,
        user_id,
        items: serde_json::from_str(&items).unwrap_or(Value::Null),
        total_amount: minor_to_decimal(total_minor),
        currency,
        shipping_address: serde_json::from_str(&address).unwrap_or(Value::Null),
        reservation_id,
        status,
        created_at,
        total_minor,
    }
}

const ORDER_COLUMNS: &str = "SELECT id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, created_at FROM orders";

impl OrderStore {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Sqlite>, DbError> {
        self.db
            .writer
            .begin()
            .await
            .map_err(DbError::query("BEGIN", "orders"))
    }

    /// Writes the read model row and the `OrderCreated` event (seq 1).
    pub async fn insert_order(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        o: &OrderRecord,
    ) -> Result<(), DbError> {
        let payload = serde_json::to_string(o).unwrap_or_default();
        self.db
            .timed(
                "INSERT",
                "order_events",
                sqlx::query("INSERT INTO order_events (event_id, order_id, seq, type, payload, created_at) VALUES (?, ?, 1, 'OrderCreated', ?, ?)")
                    .bind(uuid::Uuid::now_v7().to_string())
                    .bind(&o.order_id)
                    .bind(&payload)
                    .bind(&o.created_at)
                    .execute(&mut **tx),
            )
            .await?;
        self.db
            .timed(
                "INSERT",
                "orders",
                sqlx::query(
                    "INSERT INTO orders (id, user_id, status, total_minor, currency, items, shipping_address, reservation_id, created_at, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&o.order_id)
                .bind(o.user_id)
                .bind(&o.status)
                .bind(o.total_minor)
                .bind(&o.currency)
                .bind(o.items.to_string())
                .bind(o.shipping_address.to_string())
                .bind(&o.reservation_id)
                .bind(&o.created_at)
                .bind(&o.created_at)
                .execute(&mut **tx),
            )
            .await?;
        Ok(())
    }

    /// Queues an event for delivery, in the caller's transaction, with the trace context.
    pub async fn insert_outbox(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        topic: &str,
        payload: &Value,
        headers: &Value,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        self.db
            .timed(
                "INSERT",
                "outbox",
                sqlx::query("INSERT INTO outbox (id, topic, payload, headers, created_at) VALUES (?, ?, ?, ?, ?)")
                    .bind(&id)
                    .bind(topic)
                    .bind(payload.to_string())
                    .bind(headers.to_string())
                    .bind(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .execute(&mut **tx),
            )
            .await?;
        Ok(id)
    }

    pub async fn get(&self, id: &str) -> Result<Option<OrderRecord>, DbError> {
        let row: Option<OrderRow> = self
            .db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{ORDER_COLUMNS} WHERE id = ?")))
                    .bind(id)
                    .fetch_optional(&self.db.reader),
            )
            .await?;
        Ok(row.map(to_record))
    }

    /// A user's orders, newest first.
    pub async fn list_for_user(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<OrderRecord>, DbError> {
        let rows: Vec<OrderRow> = self
            .db
            .timed(
                "SELECT",
                "orders",
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{ORDER_COLUMNS} WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"
                )))
                .bind(user_id)
                .bind(limit)
                .fetch_all(&self.db.reader),
            )
            .await?;
        Ok(rows.into_iter().map(to_record).collect())
    }

    pub async fn events(&self, order_id: &str) -> Result<Vec<OrderEvent>, DbError> {
        let rows: Vec<(String, String, i64, String, String, String)> = self
            .db
            .timed(
                "SELECT",
                "order_events",
                sqlx::query_as("SELECT event_id, order_id, seq, type, payload, created_at FROM order_events WHERE order_id = ? ORDER BY seq")
                    .bind(order_id)
                    .fetch_all(&self.db.reader),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(event_id, order_id, seq, event_type, payload, created_at)| OrderEvent {
                    event_id,
                    order_id,
                    seq,
                    event_type,
                    payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
                    created_at,
                },
            )
            .collect())
    }

    /// Claims `key` for a request whose canonical body is `request`.
    pub async fn claim_key(&self, key: &str, request: &str) -> Result<Claim, DbError> {
        let now = chrono::Utc::now();
        let mut tx = self.begin().await?;
        let existing: Option<KeyRow> = sqlx::query_as(
            "SELECT request, status, response_status, response_body, created_at FROM idempotency_keys WHERE key = ?",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(DbError::query("SELECT", "idempotency_keys"))?;
        let claim = match existing {
            Some((req, _, _, _, _)) if req != request => Claim::Mismatch,
            Some((_, status, Some(code), Some(body), _)) if status == "done" => Claim::Replay {
                status: code as u16,
                body,
            },
            Some((_, _, _, _, created)) if !is_stale(&created, now) => Claim::InFlight,
            _ => {
                sqlx::query(
                    "INSERT INTO idempotency_keys (key, request, status, created_at) VALUES (?, ?, 'pending', ?) \
                     ON CONFLICT (key) DO UPDATE SET status = 'pending', created_at = excluded.created_at",
                )
                .bind(key)
                .bind(request)
                .bind(now.to_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(DbError::query("INSERT", "idempotency_keys"))?;
                Claim::New
            }
        };
        tx.commit()
            .await
            .map_err(DbError::query("COMMIT", "idempotency_keys"))?;
        Ok(claim)
    }

    /// Records the answer for `key`, in the order's transaction.
    pub async fn complete_key(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), DbError> {
        self.db
            .timed(
                "UPDATE",
                "idempotency_keys",
                sqlx::query("UPDATE idempotency_keys SET status = 'done', response_status = ?, response_body = ? WHERE key = ?")
                    .bind(i64::from(status))
                    .bind(body)
                    .bind(key)
                    .execute(&mut **tx),
            )
            .await?;
        Ok(())
    }

    /// Frees `key` after a failed request, so that the client's retry runs again.
    pub async fn release_key(&self, key: &str) -> Result<(), DbError> {
        self.db
            .timed(
                "DELETE",
                "idempotency_keys",
                sqlx::query("DELETE FROM idempotency_keys WHERE key = ? AND status = 'pending'")
                    .bind(key)
                    .execute(&self.db.writer),
            )
            .await?;
        Ok(())
    }
}

fn is_stale(created: &str, now: chrono::DateTime<chrono::Utc>) -> bool {
    chrono::DateTime::parse_from_rfc3339(created)
        .map(|t| (now - t.with_timezone(&chrono::Utc)).num_seconds() > STALE_CLAIM_SECONDS)
        .unwrap_or(true)
}
