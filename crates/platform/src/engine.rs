//! A service's database on whichever engine its URL names: SQLite (synchronous, in process)
//! or PostgreSQL (async, over the network).
//!
//! A service that runs on both keeps one store interface with an implementation per engine,
//! chosen once from [`AnyDatabase`]: an enum of the two, so that SQLite's calls stay the direct
//! synchronous calls they were (no boxed futures, no trait objects on the fast path) and each
//! engine gets SQL of its own rather than one text patched for the other.

use std::future::Future;

use sqlx::migrate::Migrator;
use tracemart_telemetry::Metrics;

use crate::database_url::DatabaseUrl;
use crate::db::{Database, DbError};
use crate::faults::Faults;
use crate::pg::PgDatabase;

/// The migrations of a service for each engine, applied in order at start (a service's own,
/// then those of shared pieces such as its messaging tables). Each engine's are versioned on
/// their own: a SQLite file and a PostgreSQL database never share a history.
#[derive(Clone, Copy)]
pub struct Migrations<'a> {
    pub sqlite: &'a [&'a Migrator],
    pub postgres: &'a [&'a Migrator],
}

/// A service's open database, on either engine.
#[derive(Clone)]
pub enum AnyDatabase {
    Sqlite(Database),
    Postgres(PgDatabase),
}

impl AnyDatabase {
    /// Opens the database `url` names and applies that engine's `migrations`; `pool_size`
    /// bounds PostgreSQL's connections.
    pub async fn open(
        url: &DatabaseUrl,
        migrations: Migrations<'_>,
        pool_size: u32,
        metrics: Metrics,
    ) -> Result<Self, DbError> {
        Ok(match url {
            DatabaseUrl::Sqlite(path) => {
                Self::Sqlite(Database::open(path, migrations.sqlite, metrics).await?)
            }
            DatabaseUrl::Postgres(url) => Self::Postgres(
                PgDatabase::open(url, migrations.postgres, pool_size, metrics).await?,
            ),
        })
    }

    /// Applies the slow-database faults of `faults` to every operation.
    pub fn with_faults(self, faults: Faults) -> Self {
        match self {
            Self::Sqlite(db) => Self::Sqlite(db.with_faults(faults)),
            Self::Postgres(db) => Self::Postgres(db.with_faults(faults)),
        }
    }
}

/// What a service's runtime needs of its database, whatever the engine: readiness, and a
/// close once its requests and workers are done.
pub trait ServiceDatabase: Clone + Send + Sync + 'static {
    /// `Ok` when the database takes a write and answers a read; the reason otherwise.
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send;
    fn close(&self) -> impl Future<Output = ()> + Send;
}

impl ServiceDatabase for Database {
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send {
        std::future::ready(Database::ping(self))
    }

    fn close(&self) -> impl Future<Output = ()> + Send {
        Database::close(self);
        std::future::ready(())
    }
}

impl ServiceDatabase for AnyDatabase {
    fn ping(&self) -> impl Future<Output = Result<(), String>> + Send {
        let db = self.clone();
        async move {
            match db {
                AnyDatabase::Sqlite(db) => db.ping(),
                AnyDatabase::Postgres(db) => db.ping().await,
            }
        }
    }

    fn close(&self) -> impl Future<Output = ()> + Send {
        let db = self.clone();
        async move {
            match db {
                AnyDatabase::Sqlite(db) => db.close(),
                AnyDatabase::Postgres(db) => db.close().await,
            }
        }
    }
}
