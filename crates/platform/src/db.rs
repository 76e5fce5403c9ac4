//! SQLite per service: one writer connection (SQLite allows one writer; serialising writes in
//! the pool avoids busy errors and makes read-check-write transactions atomic), a reader pool,
//! migrations at open, and every query timed into a `db` span and the seed's histogram.

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use tracemart_telemetry::Metrics;
use tracing::Instrument;

/// A database failure with the operation it happened in.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{operation} {table} failed: {source}")]
    Query {
        operation: &'static str,
        table: &'static str,
        source: sqlx::Error,
    },
}

impl DbError {
    /// Wraps a failed statement: `.map_err(DbError::query("INSERT", "orders"))`.
    pub fn query(
        operation: &'static str,
        table: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> DbError {
        move |source| DbError::Query {
            operation,
            table,
            source,
        }
    }

    /// Lock contention that a retry would likely clear.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Query {
                source: sqlx::Error::Database(e),
                ..
            } => e.message().contains("locked") || e.message().contains("busy"),
            DbError::Query {
                source: sqlx::Error::PoolTimedOut,
                ..
            } => true,
            _ => false,
        }
    }
}

/// A service's database: a writer and readers over the same SQLite file.
#[derive(Clone)]
pub struct Database {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
    metrics: Metrics,
}

impl Database {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(path: &Path, migrator: &Migrator, metrics: Metrics) -> Result<Self, DbError> {
        let display = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| DbError::Open {
                path: display.clone(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{display}"))
            .map_err(|source| DbError::Open {
                path: display.clone(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable against process crashes; only an OS crash can lose
            // the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // A local file does not go stale like a network connection: skip sqlx's default ping
        // before every acquire, which costs a round trip to the connection's worker thread.
        let writer = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.clone())
            .await
            .map_err(|source| DbError::Open {
                path: display.clone(),
                source,
            })?;
        migrator
            .run(&writer)
            .await
            .map_err(|source| DbError::Migrate {
                path: display.clone(),
                source,
            })?;
        let reader = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts.read_only(true))
            .await
            .map_err(|source| DbError::Open {
                path: display,
                source,
            })?;
        Ok(Self {
            writer,
            reader,
            metrics,
        })
    }

    /// Runs `fut` as one database operation: a CLIENT `db` span with the current semantic
    /// conventions and the seed's `db.*` names, plus `database_query_duration_seconds`.
    pub async fn timed<T, F>(
        &self,
        operation: &'static str,
        table: &'static str,
        fut: F,
    ) -> Result<T, DbError>
    where
        F: Future<Output = Result<T, sqlx::Error>>,
    {
        let span = tracing::info_span!(
            target: "tracemart::db",
            "db",
            otel.name = %format!("{operation} {table}"),
            otel.kind = "client",
            db.system = "sqlite",
            db.system.name = "sqlite",
            db.operation = operation,
            db.operation.name = operation,
            db.collection.name = table,
            db.table = table,
            db.duration_ms = tracing::field::Empty,
        );
        let start = Instant::now();
        let result = fut.instrument(span.clone()).await;
        let elapsed = start.elapsed();
        span.record("db.duration_ms", elapsed.as_secs_f64() * 1000.0);
        self.metrics.db_query(operation, table, elapsed);
        result.map_err(|source| {
            tracemart_telemetry::record_error(&span, "DatabaseError", &source);
            DbError::Query {
                operation,
                table,
                source,
            }
        })
    }

    /// Readiness: both pools answer a trivial query.
    pub async fn ping(&self) -> bool {
        let w = sqlx::query("SELECT 1").execute(&self.writer).await.is_ok();
        w && sqlx::query("SELECT 1").execute(&self.reader).await.is_ok()
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
