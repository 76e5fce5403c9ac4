//! A messaging database on either engine, and a transport that records what it delivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use tracemart_events::{
    Message, Outbox, Outcome, Receipt, RelaySettings, Routes, Transport, TransportError,
};
use tracemart_platform::{AnyDatabase, Database, PgDatabase};
use tracemart_telemetry::Metrics;
use tracemart_testkit::pg::{Engine, TestDatabase};

pub(crate) use tracemart_testkit::on_each_engine;

pub const TOPIC: &str = "thing.happened";
pub const DESTINATION: &str = "consumer-service";

/// A database with the messaging tables, and what keeps it alive.
pub struct TestStore {
    pub db: AnyDatabase,
    pub pg: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl TestStore {
    pub async fn open(engine: Engine) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new("test-service");
        let (db, pg) = match engine {
            Engine::Sqlite => {
                let db = Database::open(
                    &dir.path().join("events.db"),
                    &[&tracemart_events::SQLITE_MIGRATOR],
                    metrics,
                )
                .await
                .unwrap();
                (AnyDatabase::Sqlite(db), None)
            }
            Engine::Postgres => {
                let test = TestDatabase::create("events").await;
                let db = Self::connect(&test).await;
                (db, Some(test))
            }
        };
        Self { db, pg, _dir: dir }
    }

    /// Another service instance's connection pool on the same PostgreSQL database.
    pub async fn connect(test: &TestDatabase) -> AnyDatabase {
        let db = PgDatabase::open(
            test.url(),
            &[&tracemart_events::POSTGRES_MIGRATOR],
            4,
            Metrics::new("test-service"),
        )
        .await
        .unwrap();
        AnyDatabase::Postgres(db)
    }

    /// An outbox routing [`TOPIC`] to [`DESTINATION`].
    pub fn outbox(&self) -> Outbox {
        outbox_on(self.db.clone())
    }

    /// The number `sql` answers (SQL both engines read alike).
    pub async fn count(&self, sql: &'static str) -> i64 {
        match &self.db {
            AnyDatabase::Sqlite(db) => db
                .read("SELECT", "test", |conn| {
                    conn.query_row(sql, [], |r| r.get(0))
                })
                .unwrap(),
            AnyDatabase::Postgres(db) => {
                sqlx::query_scalar(sql).fetch_one(db.pool()).await.unwrap()
            }
        }
    }
}

impl TestStore {
    /// Runs `sql` (SQL both engines read alike).
    pub async fn exec(&self, sql: &'static str) {
        match &self.db {
            AnyDatabase::Sqlite(db) => {
                db.write("UPDATE", "test", |tx| tx.execute(sql, []))
                    .unwrap();
            }
            AnyDatabase::Postgres(db) => {
                sqlx::query(sql).execute(db.pool()).await.unwrap();
            }
        }
    }
}

pub fn outbox_on(db: AnyDatabase) -> Outbox {
    Outbox::new(
        db,
        Routes::new().route(TOPIC, DESTINATION),
        Metrics::new("test-service"),
    )
}

/// Publishes one message per `(key, n)` in one transaction, on the outbox's engine.
pub async fn publish(outbox: &Outbox, messages: &[(Option<String>, i64)]) {
    match outbox.database().clone() {
        AnyDatabase::Sqlite(db) => db
            .transaction("event_outbox", |tx| {
                for (key, n) in messages {
                    outbox.publish(tx, TOPIC, key.as_deref(), &json!({ "n": n }))?;
                }
                Ok::<_, tracemart_platform::DbError>(())
            })
            .unwrap(),
        AnyDatabase::Postgres(db) => {
            let mut tx = db.begin("event_outbox").await.unwrap();
            for (key, n) in messages {
                outbox
                    .publish_pg(&mut tx, TOPIC, key.as_deref(), &json!({ "n": n }))
                    .await
                    .unwrap();
            }
            outbox.commit(tx, "event_outbox").await.unwrap();
        }
    }
}

/// Relay settings for tests: small batches, quick retries and polls.
pub fn settings() -> RelaySettings {
    RelaySettings {
        batch_size: 16,
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(5),
        poll_interval: Duration::from_millis(10),
        ..RelaySettings::default()
    }
}

/// One delivery as a [`Recorder`] saw it.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub relay: &'static str,
    pub id: String,
    pub key: Option<String>,
    pub n: i64,
}

/// A transport that records every message it is given, in the order given (recorders that
/// share a log record in one order), and answers with `outcome` after a consumer's latency
/// of `latency`.
#[derive(Clone)]
pub struct Recorder {
    pub relay: &'static str,
    pub outcome: Outcome,
    pub latency: Duration,
    pub log: Arc<Mutex<Vec<Delivered>>>,
}

impl Recorder {
    pub fn new(relay: &'static str, outcome: Outcome) -> Self {
        Self {
            relay,
            outcome,
            latency: Duration::ZERO,
            log: Arc::default(),
        }
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.log.lock().unwrap().clone()
    }
}

#[async_trait]
impl Transport for Recorder {
    async fn deliver(&self, messages: &[&Message]) -> Result<Vec<Receipt>, TransportError> {
        {
            let mut log = self.log.lock().unwrap();
            for m in messages {
                let payload: serde_json::Value = m.payload().unwrap();
                log.push(Delivered {
                    relay: self.relay,
                    id: m.id.clone(),
                    key: m.key.clone(),
                    n: payload["n"].as_i64().unwrap(),
                });
            }
        }
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let failed = !self.outcome.is_acknowledged();
        Ok(messages
            .iter()
            .map(|m| Receipt {
                id: m.id.clone(),
                outcome: self.outcome,
                error: failed.then(|| "the consumer refused it".to_owned()),
            })
            .collect())
    }
}
