//! PostgreSQL for tests: a fresh database per test on the server `TEST_PG_URL` names
//! (`scripts/test` starts the server and sets it), dropped when the test ends, so that tests
//! run in parallel without seeing each other's rows.
//!
//! A test that needs PostgreSQL fails when the variable is unset: skipping would let a suite
//! pass without ever running on the engine it claims to cover.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, Postgres};

/// The engine a test runs a service on, given by [`on_each_engine!`](crate::on_each_engine).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// Defines a test that runs once on each engine: `mod name { sqlite, postgres }`, two tests
/// (e.g. `users::registering_twice_is_refused::postgres`) from one body, which is given the
/// [`Engine`] to run on. A `#[tokio::test(...)]` line before `async fn` sets the runtime (for
/// a test that needs several threads); tokio's default otherwise.
#[macro_export]
macro_rules! on_each_engine {
    (
        $(#[doc = $doc:literal])*
        #[tokio::test($($runtime:tt)*)]
        async fn $name:ident($engine:ident: Engine) $body:block
    ) => {
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($engine: $crate::pg::Engine) $body

            #[tokio::test($($runtime)*)]
            async fn sqlite() {
                run($crate::pg::Engine::Sqlite).await
            }

            #[tokio::test($($runtime)*)]
            async fn postgres() {
                run($crate::pg::Engine::Postgres).await
            }
        }
    };
    ($(#[doc = $doc:literal])* async fn $name:ident($engine:ident: Engine) $body:block) => {
        $crate::on_each_engine! {
            $(#[doc = $doc])*
            #[tokio::test(flavor = "current_thread")]
            async fn $name($engine: Engine) $body
        }
    };
}

/// The variable holding the test server's URL (any database on it; the tests create their
/// own), e.g. `postgres://postgres@127.0.0.1:5432/postgres`. Not a `TRACEMART_*` name: the
/// shop refuses variables of its prefix that it does not know, and the processes the tests
/// start inherit this one.
pub const SERVER_VAR: &str = "TEST_PG_URL";

/// The test server's URL.
pub fn server_url() -> String {
    crate::required_url(
        SERVER_VAR,
        "PostgreSQL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    )
}

/// A database of its own on the test server, dropped (with any connections left to it) when
/// this is dropped.
pub struct TestDatabase {
    server: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a new, empty database whose name starts with `tracemart_test_{label}_`.
    pub async fn create(label: &str) -> Self {
        let database = Self::adopt(unique_name(&format!("tracemart_test_{label}")));
        let mut admin = PgConnection::connect(&database.server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {SERVER_VAR}: {e}"));
        admin
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE \"{}\"",
                database.name
            )))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {}: {e}", database.name));
        let _ = admin.close().await;
        database
    }

    /// The database `name` on the test server, which the code under test creates; dropped
    /// when this is, as one made by [`TestDatabase::create`].
    pub fn adopt(name: String) -> Self {
        let server = server_url();
        let url = PgConnectOptions::from_str(&server)
            .unwrap_or_else(|e| panic!("{SERVER_VAR} is not a PostgreSQL URL: {e}"))
            .database(&name)
            .to_url_lossy()
            .to_string();
        Self { server, name, url }
    }

    /// The URL a service is given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first column of the one row `sql` answers on this database: what a service stored.
    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres> + Send + Unpin,
    {
        let mut conn = PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.name));
        let value = sqlx::query_scalar(AssertSqlSafe(sql.to_owned()))
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let _ = conn.close().await;
        value
    }
}

/// `{prefix}_{process}_{nanoseconds}_{sequence}`: unique on the server while tests run in
/// parallel processes, and short enough for PostgreSQL's 63-byte names.
pub fn unique_name(prefix: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}_{}_{nanos}_{}",
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread with a
        // runtime of its own drops the database, and the test waits for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&server).await?;
                admin
                    .execute(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .await?;
                admin.close().await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("cannot drop test database {}: {e}", self.name);
        }
    }
}
