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
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Postgres, Transaction};
use tracemart_telemetry::Metrics;

use crate::database_url::redact_password;
use crate::db::DbError;
use crate::db_call::DbCall;
use crate::faults::Faults;

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
    /// Slow-database faults, drawn for every operation.
    faults: Faults,
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
        Ok(Self {
            pool,
            metrics,
            faults: Faults::default(),
        })
    }

    /// Applies the slow-database faults of `faults` to every operation.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
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
        if let Some(delay) = call.injected_delay(&self.faults, &self.metrics) {
            tokio::time::sleep(delay).await;
        }
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

/// Creates the database `name` on the server `server_url` reaches, unless it exists, and
/// returns the URL of that database (the server's, with its database replaced).
pub async fn ensure_database(server_url: &str, name: &str) -> Result<String, DbError> {
    let shown = redact_password(server_url);
    let failed = |source: sqlx::Error| DbError::Open {
        path: format!("{name} on {shown}"),
        source: source.into(),
    };
    let options = PgConnectOptions::from_str(server_url).map_err(failed)?;
    let mut admin = PgConnection::connect_with(&options).await.map_err(failed)?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .map_err(failed)?;
    if !exists {
        // A database name cannot be a parameter: it is quoted as an identifier instead.
        let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(AssertSqlSafe(create)).execute(&mut admin).await {
            // Created meanwhile by another process.
            Err(e) if is_unique_violation(&e) || has_state(&e, DUPLICATE_DATABASE) => {}
            created => {
                created.map_err(failed)?;
            }
        }
    }
    let _ = admin.close().await;
    Ok(options.database(name).to_url_lossy().to_string())
}

/// SQLSTATE of `CREATE DATABASE` for a name that exists.
const DUPLICATE_DATABASE: &str = "42P04";

fn has_state(e: &sqlx::Error, state: &str) -> bool {
    e.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == state)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// Whether `e` is contention or unavailability that a retry would likely clear (503, not 500).
pub(crate) fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(_) => TRANSIENT_STATES.iter().any(|state| has_state(e, state)),
        _ => false,
    }
}
