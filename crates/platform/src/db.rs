//! SQLite per service, synchronous. sqlx runs the migrations once at open (so the migration
//! files and existing data directories stay as they are); after that every operation is one call
//! into rusqlite on the calling thread. A point read or a small transaction on a local WAL file
//! takes tens of microseconds: far less than handing each statement to a connection thread and
//! waiting for the answer, which is what sqlx's SQLite driver does.
//!
//! One writer connection behind a mutex (SQLite allows one writer; serialising writes here avoids
//! busy errors and keeps read-check-write transactions atomic), a small pool of read-only
//! connections, and a background thread that checkpoints the WAL, so that most checkpoint work
//! (copying pages, two fsyncs) happens off the request path instead of inside a commit. Every
//! operation is timed into a CLIENT `db` span (a child of the caller's span) and the seed's
//! `database_query_duration_seconds` histogram.
//!
//! The closures run with a connection (the writer: its lock) held, so they must not call back
//! into the same `Database` for a write: the writer lock is not reentrant.

use std::convert::Infallible;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tracemart_telemetry::Metrics;

use crate::db_call::DbCall;
use crate::faults::Faults;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements each connection keeps: more than any service has.
const STATEMENT_CACHE: usize = 64;
/// Idle read connections kept open. Closures run synchronously, so at most one read connection
/// per thread is in use at a time; more are opened when needed and closed when returned.
const IDLE_READERS: usize = 8;
/// How often the background thread copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL pages (about 40 MB) after which the writer checkpoints by itself. Under sustained writes a
/// PASSIVE checkpoint never quite catches up (frames arrive while it copies), and the WAL restarts
/// from the top only after a checkpoint that did: the writer's own, inside a commit, with two
/// fsyncs (3-8 ms each on the benchmark machine). SQLite's default of 1000 pages put one on a
/// request's path several times a second under load (an order writes about 9 pages); at 10,000
/// it runs a tenth as often, and most of the WAL is already copied when it does. Measured at
/// c=32: RESERVE operations over 10 ms fell from ~185 to ~55 per 15 s.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;
/// Bytes a WAL is cut back to when a checkpoint lets it start over: without a limit it keeps
/// the size of its biggest burst for good (or grows into whatever space a full disk freed).
const WAL_SIZE_LIMIT: u64 = 64 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A database failure with the operation it happened in.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: BoxError },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("{operation} {table} failed: {source}")]
    Query {
        operation: &'static str,
        table: &'static str,
        source: rusqlite::Error,
    },
    #[error("{operation} {table} failed: {source}")]
    Postgres {
        operation: &'static str,
        table: &'static str,
        source: sqlx::Error,
    },
    #[error("{operation} {table} failed: the database is closed")]
    Closed {
        operation: &'static str,
        table: &'static str,
    },
    /// A statement written for one engine given a database of the other: a wiring mistake,
    /// refused rather than run.
    #[error(
        "{operation} {table} failed: the database runs on {engine}, not the engine this statement is written for"
    )]
    WrongEngine {
        operation: &'static str,
        table: &'static str,
        engine: &'static str,
    },
}

impl DbError {
    /// A database setting that cannot be used, found when opening the database of `service`.
    pub fn setting(service: &str, source: crate::config::ConfigError) -> DbError {
        DbError::Open {
            path: format!("of {service}"),
            source: source.into(),
        }
    }

    /// Wraps a failed statement: `.map_err(DbError::query("INSERT", "orders"))`.
    pub fn query(
        operation: &'static str,
        table: &'static str,
    ) -> impl FnOnce(rusqlite::Error) -> DbError {
        move |source| DbError::Query {
            operation,
            table,
            source,
        }
    }

    /// Lock contention (or, on PostgreSQL, no free connection in time) that a retry would
    /// likely clear.
    pub fn is_busy(&self) -> bool {
        match self {
            DbError::Query { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ),
            DbError::Postgres { source, .. } => crate::pg::is_busy(source),
            _ => false,
        }
    }

    /// A UNIQUE or PRIMARY KEY constraint refused the row.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Query { source, .. } => source.sqlite_error().is_some_and(|e| {
                matches!(
                    e.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                )
            }),
            DbError::Postgres { source, .. } => source
                .as_database_error()
                .is_some_and(|e| e.is_unique_violation()),
            _ => false,
        }
    }
}

/// Why an operation failed, before it is given its operation and table.
enum Fault {
    Sqlite(rusqlite::Error),
    Closed,
}

impl From<rusqlite::Error> for Fault {
    fn from(e: rusqlite::Error) -> Self {
        Fault::Sqlite(e)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Sqlite(e) => e.fmt(f),
            Fault::Closed => f.write_str("the database is closed"),
        }
    }
}

impl Fault {
    fn into_db(self, operation: &'static str, table: &'static str) -> DbError {
        match self {
            Fault::Sqlite(source) => DbError::Query {
                operation,
                table,
                source,
            },
            Fault::Closed => DbError::Closed { operation, table },
        }
    }
}

/// Waits `delay` on the calling thread, as a slow disk under a synchronous SQLite call would.
/// On tokio's multi-thread runtime the thread's other tasks move to another worker meanwhile,
/// so only the operations a fault drew are slowed, not their neighbours.
fn hold_thread(delay: Duration) {
    #[allow(clippy::disallowed_methods)] // the slow call is the point here
    let wait = || std::thread::sleep(delay);
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(wait),
        _ => wait(),
    }
}

/// A service's database: one writer and pooled readers over the same SQLite file. Cloning is
/// cheap and shares the connections.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
    /// Slow-database faults, drawn for every operation.
    faults: Faults,
}

struct Inner {
    path: PathBuf,
    /// `None` once closed.
    writer: Mutex<Option<Connection>>,
    /// Idle read connections; `None` once closed.
    readers: Mutex<Option<Vec<Connection>>>,
    /// Dropping the sender stops the checkpoint thread.
    checkpoints: Mutex<Option<mpsc::Sender<()>>>,
    /// The last write that failed for want of storage (a full disk, an I/O error, a read-only
    /// file), until a write succeeds again: readiness reports it.
    storage_failure: Mutex<Option<(Instant, String)>>,
    metrics: Metrics,
}

/// How long a failed write keeps the database unready when no write succeeds after it.
const STORAGE_FAILURE_REPORTED_FOR: Duration = Duration::from_secs(5);

/// Whether `e` says the storage cannot take writes (as opposed to a constraint or a bug).
fn is_storage_failure(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
        )
    )
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a closure rolls its transaction back as it unwinds (rusqlite's default
    // drop behaviour), so the connection behind a poisoned lock is in a clean state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens a connection with the shop's pragmas: WAL + NORMAL is durable against process crashes
/// (only an OS crash can lose the last commits); waits up to 5 s for a lock; foreign keys on.
fn connect(path: &Path, flags: OpenFlags) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    Ok(conn)
}

fn connect_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES}; \
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}; \
         CREATE TABLE IF NOT EXISTS _tracemart_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL);"
    ))?;
    Ok(conn)
}

fn connect_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    Ok(conn)
}

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] until `stop` is dropped.
/// PASSIVE never blocks the writer or readers, and its fsyncs happen on this thread.
fn spawn_checkpointer(path: &Path) -> Result<mpsc::Sender<()>, BoxError> {
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("db-checkpoint".into())
        .spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })?;
    Ok(stop)
}

/// Runs each set of migrations, in order, over one sqlx connection, then closes it. (A one-connection pool: `run`
/// on a bare connection trips "`Acquire` is not general enough" in spawned futures.)
async fn migrate(path: &Path, migrators: &[&Migrator], display: &str) -> Result<(), DbError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| DbError::Open {
            path: display.to_owned(),
            source: source.into(),
        })?;
    let mut migrated = Ok(());
    for migrator in migrators {
        migrated = migrator.run(&pool).await;
        if migrated.is_err() {
            break;
        }
    }
    pool.close().await;
    migrated.map_err(|source| DbError::Migrate {
        path: display.to_owned(),
        source,
    })
}

impl Database {
    /// Opens (creating if needed) the database at `path` and applies `migrators` in order
    /// (a service's own, and those of shared pieces such as its messaging tables).
    pub async fn open(
        path: &Path,
        migrators: &[&Migrator],
        metrics: Metrics,
    ) -> Result<Self, DbError> {
        let display = path.display().to_string();
        let open_error = |source: BoxError| DbError::Open {
            path: display.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_error(e.into()))?;
        }
        migrate(path, migrators, &display).await?;
        let writer = connect_writer(path).map_err(|e| open_error(e.into()))?;
        let reader = connect_reader(path).map_err(|e| open_error(e.into()))?;
        let checkpoints = spawn_checkpointer(path).map_err(open_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Some(vec![reader])),
                checkpoints: Mutex::new(Some(checkpoints)),
                storage_failure: Mutex::new(None),
                metrics,
            }),
            faults: Faults::default(),
        })
    }

    /// Applies the slow-database faults of `faults` to every operation.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Runs `read` on a read-only connection as one timed operation: a CLIENT `db` span named
    /// "{operation} {table}" and `database_query_duration_seconds`. Statements should use
    /// `prepare_cached`.
    pub fn read<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        self.run(operation, table, || {
            self.with_reader(|conn| Ok(read(conn)?))
        })
    }

    /// Runs `write` in one `BEGIN IMMEDIATE` transaction on the writer as one timed operation;
    /// commits if it returns `Ok`, rolls back if it fails.
    pub fn write<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        write: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let Ok(value) =
            self.try_write(operation, table, |tx| write(tx).map(Ok::<T, Infallible>))?;
        Ok(value)
    }

    /// Like [`Database::write`], but the closure may refuse: `Ok(Err(refusal))` rolls the
    /// transaction back and is returned as it is, without marking the span as failed (e.g. not
    /// enough stock).
    pub fn try_write<T, R>(
        &self,
        operation: &'static str,
        table: &'static str,
        write: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<Result<T, R>>,
    ) -> Result<Result<T, R>, DbError> {
        self.run(operation, table, || {
            let mut writer = lock(&self.inner.writer);
            let conn = writer.as_mut().ok_or(Fault::Closed)?;
            let written = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let outcome = write(&tx)?;
                match outcome {
                    Ok(_) => tx.commit()?,
                    Err(_) => tx.rollback()?,
                }
                Ok(outcome)
            })();
            self.note_write(written.as_ref().err());
            Ok(written?)
        })
    }

    /// Remembers a write that failed for want of storage (`failed`), and forgets it once one
    /// succeeds (`None`).
    fn note_write(&self, failed: Option<&rusqlite::Error>) {
        match failed {
            None => {
                let mut failure = lock(&self.inner.storage_failure);
                if failure.is_some() {
                    *failure = None;
                }
            }
            Some(e) if is_storage_failure(e) => {
                *lock(&self.inner.storage_failure) = Some((Instant::now(), e.to_string()));
            }
            Some(_) => {}
        }
    }

    /// One `BEGIN IMMEDIATE` transaction on the writer, with no span of its own: for a write
    /// made of several operations that are each timed with [`Database::timed`]. Commits if
    /// `write` returns `Ok`, rolls back otherwise.
    pub fn transaction<T, E: From<DbError>>(
        &self,
        table: &'static str,
        write: impl FnOnce(&Transaction<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut writer = lock(&self.inner.writer);
        let conn = writer.as_mut().ok_or(DbError::Closed {
            operation: "BEGIN",
            table,
        })?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .inspect_err(|e| self.note_write(Some(e)))
            .map_err(DbError::query("BEGIN", table))?;
        let value = write(&tx)?;
        // Most storage failures show here: the WAL is written at commit.
        tx.commit()
            .inspect_err(|e| self.note_write(Some(e)))
            .map_err(DbError::query("COMMIT", table))?;
        self.note_write(None);
        Ok(value)
    }

    /// Times `statement` as one operation (span and histogram), e.g. one statement inside
    /// [`Database::transaction`].
    pub fn timed<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        statement: impl FnOnce() -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        self.run(operation, table, || Ok(statement()?))
    }

    /// Times `op` as one operation: see [`DbCall`].
    fn run<T>(
        &self,
        operation: &'static str,
        table: &'static str,
        op: impl FnOnce() -> Result<T, Fault>,
    ) -> Result<T, DbError> {
        let call = DbCall::start("sqlite", operation, table);
        if let Some(delay) = call.injected_delay(&self.faults, &self.inner.metrics) {
            hold_thread(delay);
        }
        let result = op();
        call.finish(
            &self.inner.metrics,
            result
                .as_ref()
                .err()
                .map(|fault| fault as &dyn fmt::Display),
        );
        result.map_err(|fault| fault.into_db(operation, table))
    }

    /// Lends `use_it` an idle read connection (or a new one), then puts it back. A panic in
    /// `use_it` drops the connection instead.
    fn with_reader<T>(
        &self,
        use_it: impl FnOnce(&Connection) -> Result<T, Fault>,
    ) -> Result<T, Fault> {
        let idle = lock(&self.inner.readers)
            .as_mut()
            .ok_or(Fault::Closed)?
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect_reader(&self.inner.path)?,
        };
        let result = use_it(&conn);
        let mut pool = lock(&self.inner.readers);
        if let Some(idle) = pool.as_mut().filter(|idle| idle.len() < IDLE_READERS) {
            idle.push(conn);
        } else {
            // Closed, or enough idle already: close it outside the lock.
            drop(pool);
            drop(conn);
        }
        result
    }

    /// Readiness: the database takes a write (one row rewritten in a table of its own, so that
    /// a full disk or a read-only file system shows) and a reader answers a trivial query.
    pub fn ping(&self) -> Result<(), String> {
        let probe = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT INTO _tracemart_probe (id, at) VALUES (1, unixepoch()) \
                 ON CONFLICT (id) DO UPDATE SET at = excluded.at",
            )?
            .execute([])?;
            tx.commit()
        };
        match lock(&self.inner.writer).as_mut() {
            None => return Err("database closed".to_owned()),
            Some(conn) => probe(conn).map_err(|e| format!("database cannot be written: {e}"))?,
        }
        // The probe's one row may fit where a real write did not (a full disk leaves room in
        // the WAL now and then): a recent failed write counts too, until a write succeeds.
        if let Some((at, error)) = lock(&self.inner.storage_failure).as_ref()
            && at.elapsed() < STORAGE_FAILURE_REPORTED_FOR
        {
            return Err(format!("database cannot be written: {error}"));
        }
        self.with_reader(|reader| {
            Ok(reader
                .prepare_cached("SELECT 1")?
                .query_row([], |row| row.get::<_, i64>(0))?)
        })
        .map(drop)
        .map_err(|e| format!("database cannot be read: {e}"))
    }

    /// Closes every connection and stops the checkpoint thread; later operations fail with
    /// [`DbError::Closed`]. The last connection to close checkpoints the WAL.
    pub fn close(&self) {
        drop(lock(&self.inner.checkpoints).take());
        drop(lock(&self.inner.readers).take());
        drop(lock(&self.inner.writer).take());
    }
}
