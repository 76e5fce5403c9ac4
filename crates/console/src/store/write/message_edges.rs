//! Message edges, counted as spans arrive: a message's consumer starts a trace of its own with
//! a link to its producer's span, so a CONSUMER span's link to a span of another service is
//! counted (producer's service -> consumer's service) when the second of the two is stored,
//! whichever comes first. A consumer whose linked span has not arrived waits in
//! `pending_links` (migration 0004 says why it is keyed as it is).
//!
//! Spans without links, most of them, cost a hash lookup per trace: the links of a batch are
//! listed apart from its rows, and the traces some consumer waits for are kept in memory.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use super::Writer;
use super::edges::{EdgeCounts, EdgeKind, SPAN_SERVICE};
use crate::store::model::{
    LinkRow, SpanBatch, SpanId, SpanRow, TraceId, span_hex, span_number, trace_hex,
};
use crate::store::retention;

/// OTLP `SpanKind` of a span that handles a message.
const SPAN_KIND_CONSUMER: i32 = 5;

const PENDING_LINKS: &str = "SELECT linked_span_id, trace_seq, span_id, service, start_us, \
    error FROM pending_links WHERE linked_trace_id = ?1";
const DELETE_PENDING_LINK: &str = "DELETE FROM pending_links WHERE linked_trace_id = ?1 \
    AND linked_span_id = ?2 AND trace_seq = ?3 AND span_id = ?4";
/// `OR IGNORE`: a consumer span exported twice waits once.
const INSERT_PENDING_LINK: &str = "INSERT OR IGNORE INTO pending_links (linked_trace_id, \
    linked_span_id, trace_seq, span_id, service, start_us, error, stored_us) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const AWAITED_TRACES: &str =
    "SELECT linked_trace_id, COUNT(*) FROM pending_links GROUP BY linked_trace_id";

/// The traces that consumers in `pending_links` wait for, with how many rows each: a stored
/// span whose trace is not here completes no waiting link, and none of the group's traces
/// being here skips the table. A count of rows, as `pending_edges` keeps, would rarely be
/// zero: a consumer whose producer was not sampled waits until retention prunes it.
#[derive(Debug, Default)]
pub(super) struct AwaitedTraces(HashMap<TraceId, i64>);

impl AwaitedTraces {
    /// Reads what waits in `pending_links`.
    pub(super) fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut awaited = HashMap::new();
        let mut rows = conn.prepare(AWAITED_TRACES)?;
        let mut rows = rows.query([])?;
        while let Some(row) = rows.next()? {
            let (trace, n): (String, i64) = (row.get(0)?, row.get(1)?);
            // Only ids written by `park_link` are stored, so every one decodes.
            let mut id = TraceId::default();
            if hex::decode_to_slice(&trace, &mut id).is_ok() {
                awaited.insert(id, n);
            }
        }
        Ok(Self(awaited))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn contains(&self, trace: &TraceId) -> bool {
        self.0.contains_key(trace)
    }

    fn add(&mut self, trace: TraceId, rows: usize) {
        if rows > 0 {
            *self.0.entry(trace).or_default() += i64::try_from(rows).unwrap_or(0);
        }
    }

    fn remove(&mut self, trace: &TraceId, rows: usize) {
        if let Some(n) = self.0.get_mut(trace) {
            *n -= i64::try_from(rows).unwrap_or(0);
            if *n <= 0 {
                self.0.remove(trace);
            }
        }
    }
}

/// A consumer span waiting in `pending_links` for the span it links to.
struct Waiting {
    linked_span_id: String,
    trace_seq: i64,
    span_id: String,
    service: String,
    start_us: i64,
    error: bool,
}

impl Writer {
    /// Counts the messages these spans complete: stored consumers (`pending_links`) waiting
    /// for one of them, and their consumer spans whose linked span is among them or already
    /// stored. Consumers whose linked span has not arrived yet wait in `pending_links`.
    /// `services`: the service of each of these spans; `seqs`: the number of their traces.
    pub(super) fn record_message_edges(
        &mut self,
        batches: &[(&SpanBatch, Vec<i64>)],
        services: &HashMap<(TraceId, SpanId), &Arc<str>>,
        seqs: &HashMap<TraceId, i64>,
        edges: &mut EdgeCounts,
    ) -> rusqlite::Result<()> {
        self.take_waiting_consumers(services, seqs, edges)?;
        for (batch, _) in batches {
            for link in &batch.links {
                let Some(span) = batch.rows.get(link.span as usize) else {
                    continue;
                };
                if span.kind != SPAN_KIND_CONSUMER {
                    continue;
                }
                let producer = match services.get(&(link.trace_id, link.span_id)) {
                    Some(service) => Some(Arc::clone(service)),
                    None => self.stored_service(&link.trace_id, &link.span_id)?,
                };
                match producer {
                    Some(producer) => edges.add(
                        EdgeKind::Message,
                        &producer,
                        batch.service(span),
                        span.start_us,
                        span.failed_request(),
                    ),
                    None => {
                        let seq = seqs.get(&span.trace_id).copied().unwrap_or(0);
                        self.park_link(link, batch, span, seq)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The service of a span stored by an earlier transaction, if it is.
    fn stored_service(
        &mut self,
        trace: &TraceId,
        span: &SpanId,
    ) -> rusqlite::Result<Option<Arc<str>>> {
        let Some(seq) = self.stored_trace_seq(trace)? else {
            return Ok(None);
        };
        let service: Option<String> = self
            .conn
            .prepare_cached(SPAN_SERVICE)?
            .query_row(params![seq, span_number(span)], |row| row.get(0))
            .optional()?;
        Ok(service.map(Arc::from))
    }

    /// Counts (and forgets) the stored consumers waiting for one of these spans.
    fn take_waiting_consumers(
        &mut self,
        services: &HashMap<(TraceId, SpanId), &Arc<str>>,
        seqs: &HashMap<TraceId, i64>,
        edges: &mut EdgeCounts,
    ) -> rusqlite::Result<()> {
        if self.awaited.is_empty() {
            return Ok(());
        }
        let awaited: Vec<&TraceId> = seqs
            .keys()
            .filter(|trace| self.awaited.contains(trace))
            .collect();
        if awaited.is_empty() {
            return Ok(());
        }
        let mut lookup = self.conn.prepare_cached(PENDING_LINKS)?;
        let mut delete = self.conn.prepare_cached(DELETE_PENDING_LINK)?;
        for trace in awaited {
            let hex = trace_hex(trace);
            let waiting = lookup
                .query_map([hex.as_str()], |row| {
                    Ok(Waiting {
                        linked_span_id: row.get(0)?,
                        trace_seq: row.get(1)?,
                        span_id: row.get(2)?,
                        service: row.get(3)?,
                        start_us: row.get(4)?,
                        error: row.get::<_, i64>(5)? != 0,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            for w in waiting {
                let mut linked = SpanId::default();
                if hex::decode_to_slice(&w.linked_span_id, &mut linked).is_err() {
                    continue;
                }
                // Others of the trace's spans may come in a later export.
                let Some(producer) = services.get(&(*trace, linked)) else {
                    continue;
                };
                edges.add(
                    EdgeKind::Message,
                    producer,
                    &w.service.into(),
                    w.start_us,
                    w.error,
                );
                let deleted = delete.execute(params![
                    hex.as_str(),
                    w.linked_span_id,
                    w.trace_seq,
                    w.span_id
                ])?;
                self.awaited.remove(trace, deleted);
            }
        }
        Ok(())
    }

    /// Stores a consumer span whose linked span has not arrived, for that span's arrival to
    /// count. `seq`: the number of the consumer's trace.
    fn park_link(
        &mut self,
        link: &LinkRow,
        batch: &SpanBatch,
        span: &SpanRow,
        seq: i64,
    ) -> rusqlite::Result<()> {
        let inserted = self
            .conn
            .prepare_cached(INSERT_PENDING_LINK)?
            .execute(params![
                trace_hex(&link.trace_id).as_str(),
                span_hex(&link.span_id).as_str(),
                seq,
                span_hex(&span.span_id).as_str(),
                &**batch.service(span),
                span.start_us,
                i64::from(span.failed_request()),
                retention::now_us(),
            ])?;
        self.awaited.add(link.trace_id, inserted);
        Ok(())
    }
}
