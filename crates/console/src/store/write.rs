//! The writer's SQLite work: batches go into an open transaction (each group under a savepoint,
//! so a failing one leaves the others), which the ingest loop commits; one cached prepared
//! statement per kind of row; dependency edges counted as spans arrive (`edges.rs` for calls,
//! `message_edges.rs` for messages).
//!
//! Runs on the writer's own thread over rusqlite: binding a row is a direct call into SQLite,
//! without the per-statement argument vectors, channel round trips and SQL-text hashing that
//! multi-row inserts through sqlx's worker cost. It links the same `libsqlite3-sys` as sqlx
//! (one SQLite in the build).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};

use super::model::{
    Batch, LogBatch, MetricBatch, ResourceRow, SpanBatch, SpanRow, TraceId, span_number,
};
use super::retention::{self, RetentionPolicy, RetentionReport};

mod edges;
mod links;
mod message_edges;
mod metrics;
mod span_blocks;
mod trace_cap;
mod trace_seq;

pub(crate) use edges::EDGE_BUCKET_US;

/// What a span row keeps, in integers (the rest of the span is in its block,
/// `store/blocks.rs`): its trace by number, ids as numbers, names by their id in `names`.
const INSERT_SPAN: &str = "INSERT INTO spans (trace_seq, span_id, parent_span_id, service, \
    operation, kind, start_us, duration_us, status_code) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const UPSERT_NAME: &str = "INSERT INTO names (name) VALUES (?1) \
    ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id";
const UPSERT_RESOURCE: &str = "INSERT INTO resources (service, attributes) VALUES (?1, ?2) \
    ON CONFLICT (attributes) DO UPDATE SET service = excluded.service RETURNING id";
const INSERT_OPERATION: &str =
    "INSERT OR IGNORE INTO operations (service, operation, kind) VALUES (?1, ?2, ?3)";
const ADD_ATTRIBUTE_TYPES: &str = "INSERT INTO attribute_types (key, types) VALUES (?1, ?2) \
    ON CONFLICT (key) DO UPDATE SET types = types | excluded.types";
/// Adds spans to a trace's summary; the root fields come from the root span, else from the
/// earliest span. SET expressions read the row as it was before the update.
const ADD_TO_TRACE: &str = "UPDATE traces SET \
    root_service = CASE WHEN span_count = 0 OR ?6 > has_root OR (?6 = has_root \
        AND ?2 < start_us) THEN ?7 ELSE root_service END, \
    root_operation = CASE WHEN span_count = 0 OR ?6 > has_root OR (?6 = has_root \
        AND ?2 < start_us) THEN ?8 ELSE root_operation END, \
    has_root = max(has_root, ?6), \
    start_us = CASE WHEN span_count = 0 THEN ?2 ELSE min(start_us, ?2) END, \
    end_us = CASE WHEN span_count = 0 THEN ?3 ELSE max(end_us, ?3) END, \
    span_count = span_count + ?4, \
    error_count = error_count + ?5 \
    WHERE seq = ?1";

/// WAL size after which a commit checkpoints: 64 MiB rather than SQLite's 1000 pages, for fewer
/// fsyncs under load.
const WAL_CHECKPOINT_BYTES: i64 = 64 << 20;

/// Opens the writer's connection to a migrated database.
pub(crate) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // The same settings as the readers (store/mod.rs says why).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -8192; \
         PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864;",
    )?;
    // The threshold is counted in pages, and databases made before 16 KiB pages keep 4 KiB.
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_BYTES / page_size)?;
    Ok(conn)
}

/// The writer's connection and what it remembers between transactions.
pub(crate) struct Writer {
    conn: Connection,
    /// Rows in `pending_edges` (at least): none means no stored child waits for a parent.
    pending_edges: i64,
    /// The traces whose spans consumers in `pending_links` wait for.
    awaited: message_edges::AwaitedTraces,
    resources: HashMap<ResourceRow, i64>,
    /// Ids of the service and operation names in `names`.
    names: HashMap<String, i64>,
    /// The operations already stored: service and operation name ids, and kind.
    operations: HashSet<(i64, i64, i32)>,
    /// The value types stored for each attribute key (`tag_search.rs`).
    attribute_types: HashMap<String, u8>,
    /// The tag hashes of the block being written.
    tag_scratch: Vec<u64>,
    trace_seqs: trace_seq::TraceSeqs,
    /// Rows written in the open transaction, if one is open.
    uncommitted: Option<usize>,
    /// Spans a trace stores at most (`trace_cap.rs`).
    max_spans_per_trace: i64,
    /// Ids of the metric families and series stored (`metrics.rs`).
    metric_ids: metrics::MetricIds,
}

impl Writer {
    pub(crate) fn new(conn: Connection, max_spans_per_trace: u64) -> rusqlite::Result<Self> {
        let pending_edges = count_pending(&conn)?;
        let awaited = message_edges::AwaitedTraces::load(&conn)?;
        Ok(Self {
            conn,
            pending_edges,
            awaited,
            resources: HashMap::new(),
            names: HashMap::new(),
            operations: HashSet::new(),
            attribute_types: HashMap::new(),
            tag_scratch: Vec::new(),
            trace_seqs: trace_seq::TraceSeqs::default(),
            uncommitted: None,
            max_spans_per_trace: i64::try_from(max_spans_per_trace).unwrap_or(i64::MAX),
            metric_ids: metrics::MetricIds::default(),
        })
    }

    /// Writes the batches into the open transaction (beginning one if needed), less the spans
    /// of traces at their span limit (taken out of `batches`); on failure nothing of them is
    /// written, and what the transaction already holds stays.
    pub(crate) fn write(&mut self, batches: &mut [Batch]) -> rusqlite::Result<()> {
        if self.uncommitted.is_none() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.uncommitted = Some(0);
        }
        self.conn.execute_batch("SAVEPOINT batches")?;
        match self.write_in_transaction(batches) {
            Ok(()) => {
                self.conn.execute_batch("RELEASE batches")?;
                let rows: usize = batches.iter().map(Batch::len).sum();
                self.uncommitted = self.uncommitted.map(|n| n + rows);
                Ok(())
            }
            Err(e) => {
                if self.conn.is_autocommit() {
                    // Some errors (I/O, full disk) make SQLite roll the whole transaction back.
                    let lost = self.uncommitted.take().unwrap_or(0);
                    tracing::error!(rows = lost, "console lost rows its transaction held");
                } else {
                    let _ = self
                        .conn
                        .execute_batch("ROLLBACK TO batches; RELEASE batches");
                }
                self.forget_caches();
                Err(e)
            }
        }
    }

    /// Rows written but not committed yet.
    pub(crate) fn uncommitted_rows(&self) -> usize {
        self.uncommitted.unwrap_or(0)
    }

    /// Commits the open transaction, if any, making its rows visible to queries.
    pub(crate) fn commit(&mut self) -> rusqlite::Result<()> {
        let Some(rows) = self.uncommitted.take() else {
            return Ok(());
        };
        self.conn.execute_batch("COMMIT").inspect_err(|e| {
            let _ = self.conn.execute_batch("ROLLBACK");
            tracing::error!(error = %e, rows, "console dropped rows it could not commit");
            self.forget_caches();
        })
    }

    /// Applies the retention policy (after committing), then recounts what waits in
    /// `pending_edges` and `pending_links`.
    pub(crate) fn enforce_retention(
        &mut self,
        policy: &RetentionPolicy,
    ) -> rusqlite::Result<RetentionReport> {
        self.commit()?;
        let report = retention::enforce(&self.conn, policy);
        // Deleted traces must not keep their numbers.
        self.trace_seqs.clear();
        self.metric_ids = metrics::MetricIds::default();
        self.recount_pending();
        report
    }

    /// After a rollback: the caches may name rows it removed.
    fn forget_caches(&mut self) {
        self.resources.clear();
        self.names.clear();
        self.operations.clear();
        self.attribute_types.clear();
        self.trace_seqs.clear();
        self.metric_ids = metrics::MetricIds::default();
        self.recount_pending();
    }

    fn recount_pending(&mut self) {
        match count_pending(&self.conn) {
            Ok(n) => self.pending_edges = n,
            Err(e) => tracing::warn!(error = %e, "console could not count pending edges"),
        }
        match message_edges::AwaitedTraces::load(&self.conn) {
            Ok(awaited) => self.awaited = awaited,
            Err(e) => tracing::warn!(error = %e, "console could not read pending links"),
        }
    }

    fn write_in_transaction(&mut self, batches: &mut [Batch]) -> rusqlite::Result<()> {
        self.cap_spans(batches)?;
        let batches: &[Batch] = batches;
        let mut spans: Vec<(&SpanBatch, Vec<i64>)> = Vec::new();
        let mut logs: Vec<(&LogBatch, Vec<i64>)> = Vec::new();
        let mut scrapes: Vec<&MetricBatch> = Vec::new();
        for batch in batches {
            match batch {
                Batch::Spans(b) => spans.push((b, self.resource_ids(&b.resources)?)),
                Batch::Logs(b) => logs.push((b, self.resource_ids(&b.resources)?)),
                Batch::Metrics(b) => scrapes.push(b),
            }
        }
        for scrape in scrapes {
            self.metric_ids.insert(&self.conn, scrape)?;
        }
        if !spans.is_empty() {
            let traces = self.insert_spans(&spans)?;
            self.record_edges(&spans, &traces)?;
        }
        for (batch, resource_ids) in &logs {
            self.insert_logs(batch, resource_ids)?;
        }
        Ok(())
    }

    /// Database ids of a batch's resources, inserting the new ones.
    fn resource_ids(&mut self, resources: &[ResourceRow]) -> rusqlite::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(resources.len());
        for r in resources {
            let id = match self.resources.get(r) {
                Some(id) => *id,
                None => {
                    let id: i64 = self
                        .conn
                        .prepare_cached(UPSERT_RESOURCE)?
                        .query_row(params![&*r.service, r.attributes], |row| row.get(0))?;
                    self.resources.insert(r.clone(), id);
                    id
                }
            };
            ids.push(id);
        }
        Ok(ids)
    }

    /// The id of a service or operation name in `names`, inserting it if new.
    fn name_id(&mut self, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.names.get(name) {
            return Ok(*id);
        }
        let id: i64 = self
            .conn
            .prepare_cached(UPSERT_NAME)?
            .query_row(params![name], |row| row.get(0))?;
        self.names.insert(name.to_owned(), id);
        Ok(id)
    }

    /// Inserts the spans and adds them to their traces; returns each trace's number.
    fn insert_spans(
        &mut self,
        batches: &[(&SpanBatch, Vec<i64>)],
    ) -> rusqlite::Result<HashMap<TraceId, i64>> {
        let mut traces: HashMap<TraceId, TraceAgg<'_>> = HashMap::new();
        for (batch, _) in batches {
            for s in &batch.rows {
                TraceAgg::add(&mut traces, batch, s);
            }
        }
        let mut seqs = HashMap::with_capacity(traces.len());
        for (id, t) in &traces {
            seqs.insert(*id, self.trace_seq(id, t.start)?);
        }
        self.insert_span_rows(batches, &seqs)?;
        self.insert_links(batches, &seqs)?;
        self.add_attribute_types(batches)?;
        self.add_to_traces(&traces, &seqs)?;
        Ok(seqs)
    }

    fn insert_span_rows(
        &mut self,
        batches: &[(&SpanBatch, Vec<i64>)],
        seqs: &HashMap<TraceId, i64>,
    ) -> rusqlite::Result<()> {
        let mut placed = Vec::new();
        let mut names = Vec::new();
        for (batch, resource_ids) in batches {
            names.clear();
            for s in &batch.rows {
                let (service, operation) = (batch.service(s), s.operation.of(&batch.text));
                let ids = (self.name_id(service)?, self.name_id(operation)?);
                if self.operations.insert((ids.0, ids.1, s.kind)) {
                    self.conn
                        .prepare_cached(INSERT_OPERATION)?
                        .execute(params![&**service, operation, s.kind])?;
                }
                names.push(ids);
            }
            let mut insert = self.conn.prepare_cached(INSERT_SPAN)?;
            for (s, (service, operation)) in batch.rows.iter().zip(&names) {
                let row_id = insert.insert(params![
                    seqs.get(&s.trace_id).copied().unwrap_or(0),
                    span_number(&s.span_id),
                    s.parent_span_id.as_ref().map_or(0, span_number),
                    service,
                    operation,
                    s.kind,
                    s.start_us,
                    s.duration_us,
                    s.status_code,
                ])?;
                placed.push(span_blocks::Placed {
                    row_id,
                    batch,
                    span: s,
                    resource_id: resource_ids.get(s.resource as usize).copied().unwrap_or(0),
                });
            }
        }
        self.insert_blocks(&placed)
    }

    /// Records the value types of attribute keys not seen with them before.
    fn add_attribute_types(&mut self, batches: &[(&SpanBatch, Vec<i64>)]) -> rusqlite::Result<()> {
        for (batch, _) in batches {
            for (key, types) in &batch.attribute_types {
                let key = key.of(&batch.text);
                let known = self.attribute_types.get(key).copied().unwrap_or(0);
                if known & types == *types {
                    continue;
                }
                self.conn
                    .prepare_cached(ADD_ATTRIBUTE_TYPES)?
                    .execute(params![key, types])?;
                self.attribute_types.insert(key.to_owned(), known | types);
            }
        }
        Ok(())
    }

    /// Adds these spans to their traces' summaries.
    fn add_to_traces(
        &self,
        traces: &HashMap<TraceId, TraceAgg<'_>>,
        seqs: &HashMap<TraceId, i64>,
    ) -> rusqlite::Result<()> {
        let mut update = self.conn.prepare_cached(ADD_TO_TRACE)?;
        for (id, t) in traces {
            update.execute(params![
                seqs.get(id).copied().unwrap_or(0),
                t.start,
                t.end,
                t.count,
                t.errors,
                i64::from(t.has_root),
                &**t.root_service,
                t.root_operation,
            ])?;
        }
        Ok(())
    }

    fn insert_logs(&mut self, batch: &LogBatch, resource_ids: &[i64]) -> rusqlite::Result<()> {
        // Numbers first: they may insert trace rows.
        let seqs = batch
            .rows
            .iter()
            .map(|l| match &l.trace_id {
                Some(id) => self.trace_seq(id, l.time_us),
                None => Ok(0),
            })
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        super::blocks::logs::write(&self.conn, batch, resource_ids, &seqs)
    }
}

fn count_pending(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM pending_edges", [], |row| row.get(0))
}

/// Per-trace summary of the spans of one transaction.
struct TraceAgg<'a> {
    start: i64,
    end: i64,
    count: i64,
    errors: i64,
    has_root: bool,
    /// Start of the span the root fields come from.
    root_start: i64,
    root_service: &'a Arc<str>,
    root_operation: &'a str,
}

impl<'a> TraceAgg<'a> {
    fn add(traces: &mut HashMap<TraceId, Self>, batch: &'a SpanBatch, s: &'a SpanRow) {
        let is_root = s.parent_span_id.is_none();
        let end = s.start_us + s.duration_us;
        let errors = i64::from(s.failed_request());
        let (service, operation) = (batch.service(s), s.operation.of(&batch.text));
        traces
            .entry(s.trace_id)
            .and_modify(|t| {
                t.count += 1;
                t.errors += errors;
                if (is_root && !t.has_root) || (is_root == t.has_root && s.start_us < t.root_start)
                {
                    t.has_root = is_root;
                    t.root_start = s.start_us;
                    t.root_service = service;
                    t.root_operation = operation;
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
                root_start: s.start_us,
                root_service: service,
                root_operation: operation,
            });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A database with the given page size and one table (the size is fixed once a table
    /// exists).
    fn database_with_pages(dir: &Path, page_size: i64) -> std::path::PathBuf {
        let path = dir.join(format!("pages-{page_size}.db"));
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA page_size = {page_size}; CREATE TABLE t (x INTEGER);"
        ))
        .unwrap();
        path
    }

    #[test]
    fn the_writer_checkpoints_after_64_mib_of_wal_whatever_the_page_size() {
        let dir = tempfile::tempdir().unwrap();
        for (page_size, pages) in [(4096, 16384), (16384, 4096)] {
            let conn = open(&database_with_pages(dir.path(), page_size)).unwrap();
            let threshold: i64 = conn
                .query_row("PRAGMA wal_autocheckpoint", [], |row| row.get(0))
                .unwrap();
            assert_eq!(threshold, pages, "page size {page_size}");
        }
    }
}
