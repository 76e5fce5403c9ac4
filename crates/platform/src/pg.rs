//! PostgreSQL per service, through sqlx's connection pool (pure Rust and without TLS: the
//! database is reached over a trusted network, as the services reach each other). Migrations
//! run at open, under sqlx's advisory lock, so instances that start together migrate once.
//! Every operation is timed as SQLite's are ([`DbCall`]: a CLIENT span and the histogram),
//! with `db.system.name` = `postgresql`.
//!
//! The store code writes its SQL for this engine (`$1` placeholders, `RETURNING`, arrays) and
//! hands each statement's future to [`PgDatabase::timed`].

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tracemart_telemetry::Metrics;

use crate::database_url::redact_password;
use crate::db::DbError;
use crate::db_call::DbCall;

/// `db.system.name` of PostgreSQL.
const SYSTEM: &str = "postgresql";
/// How long an operation waits for a free connection before it fails as busy (503): the bound
/// SQLite's writers wait for their lock.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The readiness probe's table: one row rewritten, so that a database that cannot take writes
/// (a full disk, a read-only standby) shows.
const PROBE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS _tracemart_probe (id INTEGER PRIMARY KEY, at TIMESTAMPTZ NOT NULL)";
const PROBE: &str = "INSERT INTO _tracemart_probe (id, at) VALUES (1, now()) \
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at";

/// SQLSTATEs a retry would likely clear: serialization failure, deadlock, lock not available,
/// and a server that is starting or stopping.
const TRANSIENT_STATES: [&str; 5] = ["40001", "40P01", "55P03", "57P01", "57P03"];

/// A service's PostgreSQL database. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PgDatabase {
    pool: PgPool,
    metrics: Metrics,
}

impl PgDatabase {
    /// Connects to the database at `url` (which must exist) with at most `pool_size`
    /// connections and applies `migrators` in order.
    pub async fn open(
        url: &str,
        migrators: &[&Migrator],
        pool_size: u32,
        metrics: Metrics,
    ) -> Result<Self, DbError> {
        let shown = redact_password(url);
        let open_error = |source: sqlx::Error| DbError::Open {
            path: shown.clone(),
            source: source.into(),
        };
        let options = PgConnectOptions::from_str(url).map_err(open_error)?;
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        for migrator in migrators {
            migrator
                .run(&pool)
                .await
                .map_err(|source| DbError::Migrate {
                    path: shown.clone(),
                    source,
                })?;
        }
        match sqlx::query(PROBE_TABLE).execute(&pool).await {
            // Two instances creating it at once: one of them gets a unique violation on the
            // catalogue, and the table is there all the same.
            Err(e) if !is_unique_violation(&e) => return Err(open_error(e)),
            _ => {}
        }
        Ok(Self { pool, metrics })
    }

    /// The pool, to run statements on (inside [`PgDatabase::timed`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `statement` (a sqlx future, on the pool or a transaction) as one timed operation:
    /// a CLIENT `db` span named "{operation} {table}" and `database_query_duration_seconds`.
    pub async fn timed<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        statement: impl Future<Output = sqlx::Result<T>>,
    ) -> Result<T, DbError> {
        let call = DbCall::start(SYSTEM, operation, table);
        let result = statement.await;
        call.finish(
            &self.metrics,
            result.as_ref().err().map(|e| e as &dyn fmt::Display),
        );
        result.map_err(|source| DbError::Postgres {
            operation,
            table,
            source,
        })
    }

    /// Starts a transaction, for a write made of several timed operations; finish it with
    /// [`PgDatabase::commit`] (dropping it rolls back).
    pub async fn begin(
        &self,
        table: &'static str,
    ) -> Result<Transaction<'static, Postgres>, DbError> {
        self.pool.begin().await.map_err(|source| DbError::Postgres {
            operation: "BEGIN",
            table,
            source,
        })
    }

    /// Commits `tx`.
    pub async fn commit(
        tx: Transaction<'static, Postgres>,
        table: &'static str,
    ) -> Result<(), DbError> {
        tx.commit().await.map_err(|source| DbError::Postgres {
            operation: "COMMIT",
            table,
            source,
        })
    }

    /// Readiness: the database takes a write (which also proves it answers).
    pub async fn ping(&self) -> Result<(), String> {
        sqlx::query(PROBE)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| format!("database cannot be written: {e}"))
    }

    /// Closes the pool once the connections in use are returned; later operations fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether `e` is contention or unavailability that a retry would likely clear (503, not 500).
pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| TRANSIENT_STATES.contains(&code.as_ref())),
        _ => false,
    }
}
