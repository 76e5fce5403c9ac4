//! The ingest queue and its single writer task: batches coalesce into one transaction each,
//! written with multi-row prepared inserts; `flush` and retention travel the same queue, so
//! their answers see every batch submitted before them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteArguments, SqliteConnection};
use sqlx::{Arguments, AssertSqlSafe};
use tokio::sync::{mpsc, oneshot};

use super::model::{Batch, LogRow, ResourceRow, SpanRow};
use super::retention::{self, RetentionPolicy, RetentionReport};
use crate::error::ConsoleError;

/// Rows coalesced into one transaction at most (the batch that crosses it still goes whole).
const MAX_ROWS_PER_TRANSACTION: usize = 20_000;
/// SQLite allows 32,766 bound parameters; chunks stay well below it.
const SPAN_CHUNK: usize = 400;
const TRACE_CHUNK: usize = 500;
const LOG_CHUNK: usize = 500;
const EDGE_CHUNK: usize = 400;
/// Width of a `dependency_edges` time bucket.
pub(crate) const EDGE_BUCKET_US: i64 = 60_000_000;

const SPAN_COLUMNS: &str = "INSERT INTO spans (id, trace_id, span_id, parent_span_id, service, \
    operation, kind, start_us, duration_us, status_code, status_message, attributes, events, links, \
    scope_name, scope_version, resource_id, tags) VALUES ";
const TRACE_COLUMNS: &str = "INSERT INTO traces (trace_id, start_us, end_us, span_count, \
    error_count, has_root, root_service, root_operation) VALUES ";
const TRACE_UPSERT: &str = " ON CONFLICT (trace_id) DO UPDATE SET \
    root_service = CASE WHEN excluded.has_root > traces.has_root OR (excluded.has_root = traces.has_root \
        AND excluded.start_us < traces.start_us) THEN excluded.root_service ELSE traces.root_service END, \
    root_operation = CASE WHEN excluded.has_root > traces.has_root OR (excluded.has_root = traces.has_root \
        AND excluded.start_us < traces.start_us) THEN excluded.root_operation ELSE traces.root_operation END, \
    has_root = max(traces.has_root, excluded.has_root), \
    start_us = min(traces.start_us, excluded.start_us), \
    end_us = max(traces.end_us, excluded.end_us), \
    span_count = traces.span_count + excluded.span_count, \
    error_count = traces.error_count + excluded.error_count";
const EDGE_COLUMNS: &str =
    "INSERT INTO dependency_edges (bucket_us, parent, child, calls, errors) VALUES ";
const EDGE_UPSERT: &str = " ON CONFLICT (bucket_us, parent, child) DO UPDATE SET \
    calls = dependency_edges.calls + excluded.calls, \
    errors = dependency_edges.errors + excluded.errors";
const PENDING_COLUMNS: &str = "INSERT OR IGNORE INTO pending_edges (trace_id, parent_span_id, \
    span_id, service, start_us, error, stored_us) VALUES ";
// CROSS JOIN keeps the VALUES list as the outer loop, so each pair is one index probe.
const PARENT_LOOKUP: &str = "SELECT v.column1, v.column2, s.service FROM (VALUES ";
const PARENT_LOOKUP_END: &str =
    ") v CROSS JOIN spans s ON s.trace_id = v.column1 AND s.span_id = v.column2";
const PENDING_LOOKUP: &str = "SELECT p.trace_id, p.parent_span_id, p.span_id, p.service, \
    p.start_us, p.error FROM (VALUES ";
const PENDING_LOOKUP_END: &str = ") v CROSS JOIN pending_edges p \
    ON p.trace_id = v.column1 AND p.parent_span_id = v.column2";
const PENDING_DELETE: &str =
    "DELETE FROM pending_edges WHERE (trace_id, parent_span_id, span_id) IN (VALUES ";
const LOG_COLUMNS: &str = "INSERT INTO logs (id, time_us, trace_id, span_id, service, \
    severity_number, severity_text, body, attributes, resource_id) VALUES ";

enum Command {
    Write(Batch),
    Flush(oneshot::Sender<()>),
    Retention(oneshot::Sender<Result<RetentionReport, String>>),
    Shutdown(oneshot::Sender<()>),
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SubmitError {
    /// The queue stayed full for the whole enqueue timeout: the sender should retry later.
    Full,
    /// The writer has stopped (shutting down).
    Closed,
}

/// Handle to the ingest queue; cheap to clone.
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Command>,
    enqueue_timeout: Duration,
}

impl Ingest {
    /// Queues a batch, waiting at most the enqueue timeout for room.
    pub(crate) async fn submit(&self, batch: Batch) -> Result<(), SubmitError> {
        match self.tx.try_send(Command::Write(batch)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SubmitError::Closed),
            Err(mpsc::error::TrySendError::Full(cmd)) => {
                match tokio::time::timeout(self.enqueue_timeout, self.tx.send(cmd)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(SubmitError::Closed),
                    Err(_) => Err(SubmitError::Full),
                }
            }
        }
    }

    /// Resolves once every batch queued before this call is committed and visible to queries.
    pub async fn flush(&self) -> Result<(), ConsoleError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Flush(reply))
            .await
            .map_err(|_| ConsoleError::WriterGone)?;
        done.await.map_err(|_| ConsoleError::WriterGone)
    }

    /// Applies the retention policy now (it also runs on its own every `retention_interval`).
    pub async fn enforce_retention(&self) -> Result<RetentionReport, ConsoleError> {
        let (reply, done) = oneshot::channel();
        self.tx
            .send(Command::Retention(reply))
            .await
            .map_err(|_| ConsoleError::WriterGone)?;
        done.await
            .map_err(|_| ConsoleError::WriterGone)?
            .map_err(|e| ConsoleError::Store(sqlx::Error::Protocol(e)))
    }

    /// Asks the writer to finish what is queued and stop; resolves when it has.
    pub(crate) async fn shutdown(&self) {
        let (reply, done) = oneshot::channel();
        if self.tx.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
    }
}

/// Creates the queue and spawns the writer on `conn` (which must be migrated).
pub(crate) async fn spawn_writer(
    mut conn: SqliteConnection,
    capacity: usize,
    enqueue_timeout: Duration,
    policy: RetentionPolicy,
) -> Result<(Ingest, tokio::task::JoinHandle<()>), sqlx::Error> {
    let state = WriterState::load(&mut conn).await?;
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let handle = tokio::spawn(writer_loop(conn, state, rx, policy));
    Ok((
        Ingest {
            tx,
            enqueue_timeout,
        },
        handle,
    ))
}

async fn writer_loop(
    mut conn: SqliteConnection,
    mut state: WriterState,
    mut rx: mpsc::Receiver<Command>,
    policy: RetentionPolicy,
) {
    let mut tick = tokio::time::interval(policy.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let first = tokio::select! {
            cmd = rx.recv() => match cmd { Some(cmd) => cmd, None => break },
            _ = tick.tick() => {
                if let Err(e) = retention::enforce(&mut conn, &policy).await {
                    tracing::warn!(error = %e, "console retention failed");
                }
                state.recount_pending(&mut conn).await;
                continue;
            }
        };
        // Coalesce whatever is already queued into the same transaction.
        let mut batches = Vec::new();
        let mut rows = 0;
        let mut pending = Some(first);
        let mut after = Vec::new();
        while let Some(cmd) = pending.take() {
            match cmd {
                Command::Write(b) => {
                    rows += b.len();
                    batches.push(b);
                    if rows < MAX_ROWS_PER_TRANSACTION {
                        pending = rx.try_recv().ok();
                    }
                }
                other => after.push(other),
            }
        }
        if !batches.is_empty()
            && let Err(e) = state.write(&mut conn, &batches).await
        {
            tracing::error!(error = %e, rows, "console dropped a batch it could not store");
        }
        for cmd in after {
            match cmd {
                Command::Write(_) => {}
                Command::Flush(reply) => {
                    let _ = reply.send(());
                }
                Command::Retention(reply) => {
                    let result = retention::enforce(&mut conn, &policy)
                        .await
                        .map_err(|e| e.to_string());
                    state.recount_pending(&mut conn).await;
                    let _ = reply.send(result);
                }
                Command::Shutdown(reply) => {
                    drain(&mut conn, &mut state, &mut rx).await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }
}

/// Stores what is still queued when shutdown is asked for.
async fn drain(
    conn: &mut SqliteConnection,
    state: &mut WriterState,
    rx: &mut mpsc::Receiver<Command>,
) {
    rx.close();
    while let Some(cmd) = rx.recv().await {
        match cmd {
            Command::Write(b) => {
                if let Err(e) = state.write(conn, std::slice::from_ref(&b)).await {
                    tracing::error!(error = %e, "console dropped a batch while draining");
                }
            }
            Command::Flush(reply) | Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
            Command::Retention(reply) => {
                let _ = reply.send(Err("shutting down".into()));
            }
        }
    }
}

/// Per-trace summary of the spans of one transaction.
struct TraceAgg<'a> {
    start: i64,
    end: i64,
    count: i64,
    errors: i64,
    has_root: bool,
    root: &'a SpanRow,
}

/// Ids and caches the writer owns; only it writes, so it assigns row ids itself.
struct WriterState {
    next_span_id: i64,
    next_log_id: i64,
    /// Rows in `pending_edges` (at least): none means no stored child waits for a parent.
    pending_edges: i64,
    resources: HashMap<Arc<ResourceRow>, i64>,
    operations: HashSet<(Arc<str>, Arc<str>, i32)>,
    sql: HashMap<(&'static str, usize), Arc<str>>,
}

impl WriterState {
    async fn load(conn: &mut SqliteConnection) -> Result<Self, sqlx::Error> {
        let next_span_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM spans")
            .fetch_one(&mut *conn)
            .await?;
        let next_log_id: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM logs")
            .fetch_one(&mut *conn)
            .await?;
        let pending_edges: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_edges")
            .fetch_one(&mut *conn)
            .await?;
        Ok(Self {
            next_span_id,
            next_log_id,
            pending_edges,
            resources: HashMap::new(),
            operations: HashSet::new(),
            sql: HashMap::new(),
        })
    }

    /// `prefix` followed by `rows` groups of `cols` placeholders, then `suffix`; cached.
    fn sql(&mut self, prefix: &'static str, cols: usize, rows: usize, suffix: &str) -> Arc<str> {
        Arc::clone(self.sql.entry((prefix, rows)).or_insert_with(|| {
            let group = format!("({})", vec!["?"; cols].join(","));
            let mut s = String::with_capacity(prefix.len() + rows * (group.len() + 1));
            s.push_str(prefix);
            s.push_str(&vec![group.as_str(); rows].join(","));
            s.push_str(suffix);
            Arc::from(s)
        }))
    }

    async fn write(
        &mut self,
        conn: &mut SqliteConnection,
        batches: &[Batch],
    ) -> Result<(), sqlx::Error> {
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        let saved = (self.next_span_id, self.next_log_id);
        match self.write_in_transaction(conn, batches).await {
            Ok(()) => {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                Ok(())
            }
            Err(e) => {
                (self.next_span_id, self.next_log_id) = saved;
                // Caches may name rows the rollback removes.
                self.resources.clear();
                self.operations.clear();
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                if let Ok(fresh) = Self::load(conn).await {
                    *self = Self {
                        sql: std::mem::take(&mut self.sql),
                        ..fresh
                    };
                }
                Err(e)
            }
        }
    }

    async fn write_in_transaction(
        &mut self,
        conn: &mut SqliteConnection,
        batches: &[Batch],
    ) -> Result<(), sqlx::Error> {
        let spans: Vec<&SpanRow> = batches
            .iter()
            .filter_map(|b| match b {
                Batch::Spans(s) => Some(s.iter()),
                Batch::Logs(_) => None,
            })
            .flatten()
            .collect();
        let logs: Vec<&LogRow> = batches
            .iter()
            .filter_map(|b| match b {
                Batch::Logs(l) => Some(l.iter()),
                Batch::Spans(_) => None,
            })
            .flatten()
            .collect();
        for r in spans
            .iter()
            .map(|s| &s.resource)
            .chain(logs.iter().map(|l| &l.resource))
        {
            self.resource_id(conn, r).await?;
        }
        if !spans.is_empty() {
            self.insert_spans(conn, &spans).await?;
            self.record_edges(conn, &spans).await?;
        }
        if !logs.is_empty() {
            self.insert_logs(conn, &logs).await?;
        }
        Ok(())
    }

    async fn resource_id(
        &mut self,
        conn: &mut SqliteConnection,
        r: &Arc<ResourceRow>,
    ) -> Result<i64, sqlx::Error> {
        if let Some(id) = self.resources.get(r) {
            return Ok(*id);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO resources (service, attributes) VALUES (?, ?) \
             ON CONFLICT (attributes) DO UPDATE SET service = excluded.service RETURNING id",
        )
        .bind(&r.service)
        .bind(&r.attributes)
        .fetch_one(&mut *conn)
        .await?;
        self.resources.insert(Arc::clone(r), id);
        Ok(id)
    }

    async fn insert_spans(
        &mut self,
        conn: &mut SqliteConnection,
        spans: &[&SpanRow],
    ) -> Result<(), sqlx::Error> {
        let first_id = self.next_span_id;
        for (chunk_no, chunk) in spans.chunks(SPAN_CHUNK).enumerate() {
            let sql = self.sql(SPAN_COLUMNS, 18, chunk.len(), "");
            let mut args = SqliteArguments::default();
            args.reserve(18 * chunk.len(), 0);
            for (i, s) in chunk.iter().enumerate() {
                let id = first_id + i64::try_from(chunk_no * SPAN_CHUNK + i).unwrap_or(0);
                let resource_id = self.resources.get(&s.resource).copied().unwrap_or(0);
                add(&mut args, id)?;
                add(&mut args, Arc::clone(&s.trace_id))?;
                add(&mut args, Arc::clone(&s.span_id))?;
                add(&mut args, Arc::clone(&s.parent_span_id))?;
                add(&mut args, Arc::clone(&s.resource.service))?;
                add(&mut args, Arc::clone(&s.operation))?;
                add(&mut args, s.kind)?;
                add(&mut args, s.start_us)?;
                add(&mut args, s.duration_us)?;
                add(&mut args, s.status_code)?;
                add(&mut args, Arc::clone(&s.status_message))?;
                add(&mut args, Arc::clone(&s.attributes))?;
                add(&mut args, Arc::clone(&s.events))?;
                add(&mut args, Arc::clone(&s.links))?;
                add(&mut args, Arc::clone(&s.scope_name))?;
                add(&mut args, Arc::clone(&s.scope_version))?;
                add(&mut args, resource_id)?;
                add(&mut args, Arc::clone(&s.tags))?;
            }
            sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *conn)
                .await?;
        }
        self.next_span_id = first_id + i64::try_from(spans.len()).unwrap_or(0);

        // Operations seen for the first time.
        for s in spans {
            let key = (
                Arc::clone(&s.resource.service),
                Arc::clone(&s.operation),
                s.kind,
            );
            if self.operations.contains(&key) {
                continue;
            }
            sqlx::query(
                "INSERT OR IGNORE INTO operations (service, operation, kind) VALUES (?, ?, ?)",
            )
            .bind(Arc::clone(&key.0))
            .bind(Arc::clone(&key.1))
            .bind(key.2)
            .execute(&mut *conn)
            .await?;
            self.operations.insert(key);
        }

        // Trace summaries.
        let mut traces: HashMap<&str, TraceAgg<'_>> = HashMap::new();
        for s in spans {
            let is_root = s.parent_span_id.is_empty();
            let end = s.start_us + s.duration_us;
            let errors = i64::from(s.status_code == 2);
            traces
                .entry(&*s.trace_id)
                .and_modify(|t| {
                    t.count += 1;
                    t.errors += errors;
                    if (is_root && !t.has_root)
                        || (is_root == t.has_root && s.start_us < t.root.start_us)
                    {
                        t.root = s;
                        t.has_root = is_root;
                    }
                    t.start = t.start.min(s.start_us);
                    t.end = t.end.max(end);
                })
                .or_insert(TraceAgg {
                    start: s.start_us,
                    end,
                    count: 1,
                    errors,
                    has_root: is_root,
                    root: s,
                });
        }
        let traces: Vec<(&str, TraceAgg<'_>)> = traces.into_iter().collect();
        for chunk in traces.chunks(TRACE_CHUNK) {
            let sql = self.sql(TRACE_COLUMNS, 8, chunk.len(), TRACE_UPSERT);
            let mut args = SqliteArguments::default();
            args.reserve(8 * chunk.len(), 0);
            for (id, t) in chunk {
                add(&mut args, *id)?;
                add(&mut args, t.start)?;
                add(&mut args, t.end)?;
                add(&mut args, t.count)?;
                add(&mut args, t.errors)?;
                add(&mut args, i64::from(t.has_root))?;
                add(&mut args, Arc::clone(&t.root.resource.service))?;
                add(&mut args, Arc::clone(&t.root.operation))?;
            }
            sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn recount_pending(&mut self, conn: &mut SqliteConnection) {
        match sqlx::query_scalar("SELECT COUNT(*) FROM pending_edges")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(n) => self.pending_edges = n,
            Err(e) => tracing::warn!(error = %e, "console could not count pending edges"),
        }
    }

    /// Counts the cross-service calls these spans complete: a child whose parent is in the
    /// transaction or already stored, and stored children (`pending_edges`) waiting for one
    /// of these spans. Children whose parent has not arrived yet wait in `pending_edges`.
    async fn record_edges(
        &mut self,
        conn: &mut SqliteConnection,
        spans: &[&SpanRow],
    ) -> Result<(), sqlx::Error> {
        let services: HashMap<(&str, &str), &Arc<str>> = spans
            .iter()
            .map(|s| ((&*s.trace_id, &*s.span_id), &s.resource.service))
            .collect();
        let mut edges = EdgeCounts::default();
        let mut unresolved = Vec::new();
        for s in spans.iter().filter(|s| !s.parent_span_id.is_empty()) {
            match services.get(&(&*s.trace_id, &*s.parent_span_id)) {
                Some(parent) => {
                    edges.add(parent, &s.resource.service, s.start_us, s.status_code == 2)
                }
                None => unresolved.push(*s),
            }
        }

        // Parents stored by earlier transactions.
        let mut stored: HashMap<(Arc<str>, Arc<str>), Arc<str>> = HashMap::new();
        for chunk in unresolved.chunks(EDGE_CHUNK) {
            let sql = self.sql(PARENT_LOOKUP, 2, chunk.len(), PARENT_LOOKUP_END);
            let mut args = SqliteArguments::default();
            args.reserve(2 * chunk.len(), 0);
            for s in chunk {
                add(&mut args, Arc::clone(&s.trace_id))?;
                add(&mut args, Arc::clone(&s.parent_span_id))?;
            }
            let rows: Vec<(String, String, String)> = sqlx::query_as_with(AssertSqlSafe(sql), args)
                .fetch_all(&mut *conn)
                .await?;
            stored.extend(
                rows.into_iter()
                    .map(|(t, p, service)| ((t.into(), p.into()), service.into())),
            );
        }
        let mut waiting = Vec::new();
        for s in unresolved {
            match stored.get(&(Arc::clone(&s.trace_id), Arc::clone(&s.parent_span_id))) {
                Some(parent) => {
                    edges.add(parent, &s.resource.service, s.start_us, s.status_code == 2)
                }
                None => waiting.push(s),
            }
        }

        // Children stored earlier whose parent is one of these spans.
        if self.pending_edges > 0 {
            let mut found: Vec<(String, String, String, String, i64, i64)> = Vec::new();
            for chunk in spans.chunks(EDGE_CHUNK) {
                let sql = self.sql(PENDING_LOOKUP, 2, chunk.len(), PENDING_LOOKUP_END);
                let mut args = SqliteArguments::default();
                args.reserve(2 * chunk.len(), 0);
                for s in chunk {
                    add(&mut args, Arc::clone(&s.trace_id))?;
                    add(&mut args, Arc::clone(&s.span_id))?;
                }
                found.extend(
                    sqlx::query_as_with::<_, (String, String, String, String, i64, i64), _>(
                        AssertSqlSafe(sql),
                        args,
                    )
                    .fetch_all(&mut *conn)
                    .await?,
                );
            }
            for (trace_id, parent_id, _, child, start_us, error) in &found {
                if let Some(parent) = services.get(&(trace_id.as_str(), parent_id.as_str())) {
                    edges.add(parent, &Arc::from(child.as_str()), *start_us, *error != 0);
                }
            }
            for chunk in found.chunks(EDGE_CHUNK) {
                let sql = self.sql(PENDING_DELETE, 3, chunk.len(), ")");
                let mut args = SqliteArguments::default();
                args.reserve(3 * chunk.len(), 0);
                for (trace_id, parent_id, span_id, ..) in chunk {
                    add(&mut args, trace_id.as_str())?;
                    add(&mut args, parent_id.as_str())?;
                    add(&mut args, span_id.as_str())?;
                }
                let deleted = sqlx::query_with(AssertSqlSafe(sql), args)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                self.pending_edges -= i64::try_from(deleted).unwrap_or(0);
            }
        }

        let now = retention::now_us();
        for chunk in waiting.chunks(EDGE_CHUNK) {
            let sql = self.sql(PENDING_COLUMNS, 7, chunk.len(), "");
            let mut args = SqliteArguments::default();
            args.reserve(7 * chunk.len(), 0);
            for s in chunk {
                add(&mut args, Arc::clone(&s.trace_id))?;
                add(&mut args, Arc::clone(&s.parent_span_id))?;
                add(&mut args, Arc::clone(&s.span_id))?;
                add(&mut args, Arc::clone(&s.resource.service))?;
                add(&mut args, s.start_us)?;
                add(&mut args, i64::from(s.status_code == 2))?;
                add(&mut args, now)?;
            }
            let inserted = sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            self.pending_edges += i64::try_from(inserted).unwrap_or(0);
        }

        let edges: Vec<_> = edges.0.into_iter().collect();
        for chunk in edges.chunks(EDGE_CHUNK) {
            let sql = self.sql(EDGE_COLUMNS, 5, chunk.len(), EDGE_UPSERT);
            let mut args = SqliteArguments::default();
            args.reserve(5 * chunk.len(), 0);
            for ((bucket, parent, child), (calls, errors)) in chunk {
                add(&mut args, *bucket)?;
                add(&mut args, Arc::clone(parent))?;
                add(&mut args, Arc::clone(child))?;
                add(&mut args, *calls)?;
                add(&mut args, *errors)?;
            }
            sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    async fn insert_logs(
        &mut self,
        conn: &mut SqliteConnection,
        logs: &[&LogRow],
    ) -> Result<(), sqlx::Error> {
        for chunk in logs.chunks(LOG_CHUNK) {
            let sql = self.sql(LOG_COLUMNS, 10, chunk.len(), "");
            let mut args = SqliteArguments::default();
            args.reserve(10 * chunk.len(), 0);
            for l in chunk {
                let id = self.next_log_id;
                self.next_log_id += 1;
                let resource_id = self.resources.get(&l.resource).copied().unwrap_or(0);
                add(&mut args, id)?;
                add(&mut args, l.time_us)?;
                add(&mut args, Arc::clone(&l.trace_id))?;
                add(&mut args, Arc::clone(&l.span_id))?;
                add(&mut args, Arc::clone(&l.resource.service))?;
                add(&mut args, l.severity_number)?;
                add(&mut args, Arc::clone(&l.severity_text))?;
                add(&mut args, Arc::clone(&l.body))?;
                add(&mut args, Arc::clone(&l.attributes))?;
                add(&mut args, resource_id)?;
            }
            sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Calls and errors per (time bucket, parent service, child service).
#[derive(Default)]
struct EdgeCounts(HashMap<EdgeKey, (i64, i64)>);

/// (time bucket, parent service, child service).
type EdgeKey = (i64, Arc<str>, Arc<str>);

impl EdgeCounts {
    /// Counts one call; calls within a service are not edges.
    fn add(&mut self, parent: &Arc<str>, child: &Arc<str>, start_us: i64, error: bool) {
        if parent == child {
            return;
        }
        let bucket = start_us - start_us.rem_euclid(EDGE_BUCKET_US);
        let entry = self
            .0
            .entry((bucket, Arc::clone(parent), Arc::clone(child)))
            .or_default();
        entry.0 += 1;
        entry.1 += i64::from(error);
    }
}

fn add<'t, T>(args: &mut SqliteArguments, value: T) -> Result<(), sqlx::Error>
where
    T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    args.add(value).map_err(sqlx::Error::Encode)
}
