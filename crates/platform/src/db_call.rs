//! One database operation as telemetry, the same on both engines: a CLIENT `db` span named
//! "{operation} {table}" with the current semantic conventions and the seed's `db.*` names (a
//! child of the caller's span), and the seed's `database_query_duration_seconds` histogram.
//!
//! Background work (a relay's polling, a sweeper) runs outside any span: its operations are
//! timed into the histogram only, instead of each becoming a one-span trace.
//!
//! A slow-database fault (`db-latency`) is drawn here too, for every store on both engines;
//! each engine waits in its own way (SQLite's calls are synchronous, PostgreSQL's async).

use std::fmt;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use tracemart_telemetry::names::attr;
use tracemart_telemetry::{Metrics, Span, SpanKind};

use crate::faults::{FaultTarget, Faults};

/// An operation under way: its span (when traced) and its start.
pub(crate) struct DbCall {
    span: Option<Span>,
    operation: &'static str,
    table: &'static str,
    start: Instant,
}

impl DbCall {
    /// Starts timing `operation` on `table` of a database whose `db.system.name` is `system`.
    pub(crate) fn start(
        system: &'static str,
        operation: &'static str,
        table: &'static str,
    ) -> Self {
        let span = tracemart_telemetry::in_span().then(|| {
            Span::build(
                tracemart_telemetry::span_site!("tracemart::db"),
                SpanKind::Client,
                format!("{operation} {table}"),
            )
            .attributes([
                KeyValue::new(attr::db::SYSTEM, system),
                KeyValue::new(attr::db::SYSTEM_NAME, system),
                KeyValue::new(attr::db::OPERATION, operation),
                KeyValue::new(attr::db::OPERATION_NAME, operation),
                KeyValue::new(attr::db::COLLECTION_NAME, table),
                KeyValue::new(attr::db::TABLE, table),
            ])
            .start()
        });
        Self {
            span,
            operation,
            table,
            start: Instant::now(),
        }
    }

    /// The wait slow-database faults add to this operation, if any is drawn: each recorded on
    /// the operation's span (which the wait, made by the caller, then lengthens), counted and
    /// logged.
    pub(crate) fn injected_delay(&self, faults: &Faults, metrics: &Metrics) -> Option<Duration> {
        let drawn = faults.draw(FaultTarget::Database, "");
        if drawn.is_empty() {
            return None;
        }
        let endpoint = format!("{} {}", self.operation, self.table);
        let mut total = Duration::ZERO;
        for fault in drawn {
            let Some(delay) = fault.spec.kind.delay() else {
                continue;
            };
            let effect = format!("database call slowed by {} ms", delay.as_millis());
            let record = || fault.record(metrics, &endpoint, &effect);
            match &self.span {
                Some(span) => span.in_scope(record),
                None => record(),
            }
            total += delay;
        }
        (!total.is_zero()).then_some(total)
    }

    /// Records the duration into the histogram and the span, and the failure if there was one;
    /// the span ends here.
    pub(crate) fn finish(self, metrics: &Metrics, failure: Option<&dyn fmt::Display>) {
        let elapsed = self.start.elapsed();
        metrics.db_query(self.operation, self.table, elapsed);
        if let Some(span) = self.span {
            span.set_attribute(KeyValue::new(
                attr::db::DURATION_MS,
                elapsed.as_secs_f64() * 1000.0,
            ));
            if let Some(failure) = failure {
                span.record_error("DatabaseError", failure);
            }
        }
    }
}
