//! Dependency edges, counted as spans arrive: a cross-service call is counted when the second
//! span of its parent/child pair is stored, whichever comes first; a child whose parent has not
//! arrived waits in `pending_edges`. Messages, linked rather than parented, are counted in
//! `message_edges.rs`, into the same table under their own kind.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::Writer;
use crate::store::model::{SpanBatch, SpanId, SpanRow, TraceId, span_hex, span_number};
use crate::store::retention;

/// Width of a `dependency_edges` time bucket.
pub(crate) const EDGE_BUCKET_US: i64 = 60_000_000;

const UPSERT_EDGE: &str = "INSERT INTO dependency_edges (bucket_us, parent, child, kind, calls, \
    errors) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (bucket_us, parent, child, kind) DO UPDATE \
    SET calls = dependency_edges.calls + excluded.calls, \
    errors = dependency_edges.errors + excluded.errors";
/// The service of a stored span.
pub(super) const SPAN_SERVICE: &str = "SELECT n.name FROM spans s JOIN names n ON n.id = s.service \
    WHERE s.trace_seq = ?1 AND s.span_id = ?2 LIMIT 1";
const PENDING_CHILDREN: &str = "SELECT span_id, service, start_us, error FROM pending_edges \
    WHERE trace_seq = ?1 AND parent_span_id = ?2";
const DELETE_PENDING: &str =
    "DELETE FROM pending_edges WHERE trace_seq = ?1 AND parent_span_id = ?2 AND span_id = ?3";
const INSERT_PENDING: &str = "INSERT OR IGNORE INTO pending_edges (trace_seq, parent_span_id, \
    span_id, service, start_us, error, stored_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

impl Writer {
    /// Counts the cross-service calls these spans complete: a child whose parent is among
    /// them or already stored, and stored children (`pending_edges`) waiting for one of them.
    /// Children whose parent has not arrived yet wait in `pending_edges`. Then the messages
    /// they complete, the same way (`message_edges.rs`). `seqs`: the number of each of their
    /// traces.
    pub(super) fn record_edges(
        &mut self,
        batches: &[(&SpanBatch, Vec<i64>)],
        seqs: &HashMap<TraceId, i64>,
    ) -> rusqlite::Result<()> {
        let seq_of = |id: &TraceId| seqs.get(id).copied().unwrap_or(0);
        let spans: Vec<(&SpanBatch, &SpanRow)> = batches
            .iter()
            .flat_map(|(b, _)| b.rows.iter().map(move |s| (*b, s)))
            .collect();
        let services: HashMap<(TraceId, SpanId), &Arc<str>> = spans
            .iter()
            .map(|(b, s)| ((s.trace_id, s.span_id), b.service(s)))
            .collect();
        let mut edges = EdgeCounts::default();
        let mut unresolved = Vec::new();
        for (b, s) in &spans {
            let Some(parent_id) = s.parent_span_id else {
                continue;
            };
            match services.get(&(s.trace_id, parent_id)) {
                Some(parent) => edges.add(
                    EdgeKind::Call,
                    parent,
                    b.service(s),
                    s.start_us,
                    s.failed_request(),
                ),
                None => unresolved.push(Child {
                    batch: b,
                    span: s,
                    parent_id,
                }),
            }
        }
        let waiting = self.resolve_stored_parents(unresolved, &seq_of, &mut edges)?;
        self.take_pending_children(&spans, &seq_of, &mut edges)?;
        self.park(waiting, &seq_of)?;
        self.record_message_edges(batches, &services, seqs, &mut edges)?;
        let mut upsert = self.conn.prepare_cached(UPSERT_EDGE)?;
        for ((bucket, parent, child, kind), (calls, errors)) in &edges.0 {
            upsert.execute(params![
                bucket,
                &**parent,
                &**child,
                kind.as_str(),
                calls,
                errors
            ])?;
        }
        Ok(())
    }

    /// Counts the children whose parent an earlier transaction stored; returns the others.
    fn resolve_stored_parents<'a>(
        &mut self,
        unresolved: Vec<Child<'a>>,
        seq_of: &impl Fn(&TraceId) -> i64,
        edges: &mut EdgeCounts,
    ) -> rusqlite::Result<Vec<Child<'a>>> {
        let mut waiting = Vec::new();
        let mut lookup = self.conn.prepare_cached(SPAN_SERVICE)?;
        for child in unresolved {
            let parent = span_number(&child.parent_id);
            let service: Option<String> = lookup
                .query_row(params![seq_of(&child.span.trace_id), parent], |row| {
                    row.get(0)
                })
                .optional()?;
            match service {
                Some(parent) => edges.add(
                    EdgeKind::Call,
                    &parent.into(),
                    child.batch.service(child.span),
                    child.span.start_us,
                    child.span.failed_request(),
                ),
                None => waiting.push(child),
            }
        }
        Ok(waiting)
    }

    /// Counts (and forgets) the stored children waiting for one of these spans.
    fn take_pending_children(
        &mut self,
        spans: &[(&SpanBatch, &SpanRow)],
        seq_of: &impl Fn(&TraceId) -> i64,
        edges: &mut EdgeCounts,
    ) -> rusqlite::Result<()> {
        if self.pending_edges == 0 {
            return Ok(());
        }
        let mut lookup = self.conn.prepare_cached(PENDING_CHILDREN)?;
        let mut delete = self.conn.prepare_cached(DELETE_PENDING)?;
        for (b, s) in spans {
            let (trace, parent) = (seq_of(&s.trace_id), span_hex(&s.span_id));
            let found = lookup
                .query_map(params![trace, parent.as_str()], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for (child_span, child, start_us, error) in found {
                edges.add(
                    EdgeKind::Call,
                    b.service(s),
                    &child.into(),
                    start_us,
                    error != 0,
                );
                let deleted = delete.execute(params![trace, parent.as_str(), child_span])?;
                self.pending_edges -= i64::try_from(deleted).unwrap_or(0);
            }
        }
        Ok(())
    }

    /// Stores children whose parent has not arrived, for the parent's arrival to count.
    fn park(
        &mut self,
        waiting: Vec<Child<'_>>,
        seq_of: &impl Fn(&TraceId) -> i64,
    ) -> rusqlite::Result<()> {
        let now = retention::now_us();
        let mut insert = self.conn.prepare_cached(INSERT_PENDING)?;
        for Child {
            batch,
            span: s,
            parent_id,
        } in waiting
        {
            let inserted = insert.execute(params![
                seq_of(&s.trace_id),
                span_hex(&parent_id).as_str(),
                span_hex(&s.span_id).as_str(),
                &**batch.service(s),
                s.start_us,
                i64::from(s.failed_request()),
                now,
            ])?;
            self.pending_edges += i64::try_from(inserted).unwrap_or(0);
        }
        Ok(())
    }
}

/// A span with a parent, and the batch it came in.
struct Child<'a> {
    batch: &'a SpanBatch,
    span: &'a SpanRow,
    parent_id: SpanId,
}

/// What an edge counts: calls (parent/child spans) or messages (a consumer span's link to its
/// producer's span), the `kind` column of `dependency_edges`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum EdgeKind {
    Call,
    Message,
}

impl EdgeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Message => "message",
        }
    }
}

/// Calls (or messages) and errors per edge.
#[derive(Default)]
pub(super) struct EdgeCounts(HashMap<EdgeKey, (i64, i64)>);

/// (time bucket, parent service, child service, kind).
type EdgeKey = (i64, Arc<str>, Arc<str>, EdgeKind);

impl EdgeCounts {
    /// Counts one call or message, in the minute of `start_us` (the child's or consumer's
    /// start); those within a service are not edges.
    pub(super) fn add(
        &mut self,
        kind: EdgeKind,
        parent: &Arc<str>,
        child: &Arc<str>,
        start_us: i64,
        error: bool,
    ) {
        if parent == child {
            return;
        }
        let bucket = start_us - start_us.rem_euclid(EDGE_BUCKET_US);
        let entry = self
            .0
            .entry((bucket, Arc::clone(parent), Arc::clone(child), kind))
            .or_default();
        entry.0 += 1;
        entry.1 += i64::from(error);
    }
}
