//! PostgreSQL for tests: a fresh database per test on the server `TEST_PG_URL` names
//! (`scripts/test` starts the server and sets it), dropped when the test ends, so that tests
//! run in parallel without seeing each other's rows.
//!
//! A test that needs PostgreSQL fails when the variable is unset: skipping would let a suite
//! pass without ever running on the engine it claims to cover.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// The variable holding the test server's URL (any database on it; the tests create their
/// own), e.g. `postgres://postgres@127.0.0.1:5432/postgres`. Not a `TRACEMART_*` name: the
/// shop refuses variables of its prefix that it does not know, and the processes the tests
/// start inherit this one.
pub const SERVER_VAR: &str = "TEST_PG_URL";

/// The test server's URL.
pub fn server_url() -> String {
    match std::env::var_os(SERVER_VAR).and_then(|v| v.into_string().ok()) {
        Some(url) if !url.is_empty() => url,
        _ => panic!(
            "{SERVER_VAR} is not set: this test runs against PostgreSQL. `bash scripts/test` \
             starts the server and sets it; by hand, start PostgreSQL and export \
             {SERVER_VAR}=postgres://postgres@127.0.0.1:5432/postgres"
        ),
    }
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
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let server = server_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "tracemart_test_{label}_{}_{nanos}_{}",
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {SERVER_VAR}: {e}"));
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        let url = with_database(&server, &name);
        Self { server, name, url }
    }

    /// The URL a service is given.
    pub fn url(&self) -> &str {
        &self.url
    }
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

/// `server` with its database replaced by `database` (its query string kept).
fn with_database(server: &str, database: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_server_url_is_replaced() {
        for (server, url) in [
            (
                "postgres://postgres@127.0.0.1:5432/postgres",
                "postgres://postgres@127.0.0.1:5432/t1",
            ),
            (
                "postgres://postgres@127.0.0.1:5432",
                "postgres://postgres@127.0.0.1:5432/t1",
            ),
            (
                "postgres://u:p@h/db?sslmode=disable",
                "postgres://u:p@h/t1?sslmode=disable",
            ),
        ] {
            assert_eq!(with_database(server, "t1"), url);
        }
    }
}
