//! The layer that writes each event as one JSON line with the seed's keys, the current trace
//! and span ids and the context's fields (request id, the order's baggage).
//!
//! A layer of its own rather than a `FormatEvent` for tracing-subscriber's fmt layer: that layer
//! also formats every span's fields into a String (with ANSI styles) that these lines never
//! use, which cost about as much as the lines themselves.

use std::cell::RefCell;
use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;

use super::context::context_fields;
use super::line::{Line, Source, quoted};
use super::writer::LogWriter;
use crate::ids::{span_hex, trace_hex};

/// Writes every event it sees as a JSON line to its [`LogWriter`].
pub(crate) struct JsonLogLayer {
    /// `service` and `version` as JSON strings, encoded once.
    service: String,
    version: String,
    writer: LogWriter,
}

/// Per-thread buffers, reused from line to line.
struct Scratch {
    line: Line,
    text: String,
    /// The thread's name as JSON; a thread's name never changes.
    thread: Option<String>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const {
        RefCell::new(Scratch { line: Line::new(), text: String::new(), thread: None })
    };
}

/// A line longer than this gives its buffer back afterwards, so one huge event does not pin
/// memory in every thread that logged it.
const KEEP_CAPACITY: usize = 16 * 1024;

impl JsonLogLayer {
    pub(crate) fn new(service: &str, version: &str, writer: LogWriter) -> Self {
        let json = |s: &str| {
            let mut out = String::new();
            quoted(&mut out, s);
            out
        };
        Self {
            service: json(service),
            version: json(version),
            writer,
        }
    }

    fn write(&self, scratch: &mut Scratch, event: &Event<'_>) {
        let meta = event.metadata();
        let line = &mut scratch.line;
        line.clear();
        let mut visitor = EventVisitor {
            line,
            message: false,
        };
        event.record(&mut visitor);
        if !visitor.message {
            line.raw("message", Source::Line, "\"\"");
        }
        // In key order, which makes sorting them nearly free.
        if let Some(file) = meta.file() {
            line.str("filename", Source::Line, file);
        }
        line.str("level", Source::Line, meta.level().as_str());
        if let Some(lineno) = meta.line() {
            line.u64("lineno", Source::Line, u64::from(lineno));
        }
        line.str("logger", Source::Line, meta.target());
        let ids = opentelemetry::Context::map_current(|cx| {
            context_fields(cx, |k, v| line.str(k, Source::Line, v));
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
        });
        line.raw("service", Source::Line, &self.service);
        if let Some((_, span_id)) = ids {
            line.str("span_id", Source::Line, span_hex(span_id).as_str());
        }
        let thread = scratch.thread.get_or_insert_with(|| {
            let mut out = String::new();
            quoted(&mut out, std::thread::current().name().unwrap_or("unnamed"));
            out
        });
        line.raw("thread", Source::Line, thread);
        line.timestamp("timestamp", Source::Line, chrono::Utc::now());
        if let Some((trace_id, _)) = ids {
            line.str("trace_id", Source::Line, trace_hex(trace_id).as_str());
        }
        line.raw("version", Source::Line, &self.version);

        let text = &mut scratch.text;
        text.clear();
        line.write_to(text);
        text.push('\n');
        self.writer.write_line(text.as_bytes());
        if text.capacity() > KEEP_CAPACITY {
            scratch.text = String::new();
            scratch.line = Line::new();
        }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for JsonLogLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let written = SCRATCH
            .try_with(|cell| {
                cell.try_borrow_mut()
                    .map(|mut scratch| self.write(&mut scratch, event))
                    .is_ok()
            })
            .unwrap_or(false);
        // A field whose Debug logs, or a thread being torn down: buffers of its own.
        if !written {
            self.write(&mut Scratch::new(), event);
        }
    }
}

impl Scratch {
    fn new() -> Self {
        Self {
            line: Line::new(),
            text: String::new(),
            thread: None,
        }
    }
}

/// The event's fields: `message` is the line's own, every other one the event's.
struct EventVisitor<'a> {
    line: &'a mut Line,
    message: bool,
}

impl EventVisitor<'_> {
    fn source(&mut self, field: &Field) -> Source {
        if field.name() == "message" {
            self.message = true;
            Source::Line
        } else {
            Source::Event
        }
    }
}

impl Visit for EventVisitor<'_> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        let source = self.source(f);
        self.line.f64(f.name(), source, v);
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        let source = self.source(f);
        self.line.i64(f.name(), source, v);
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        let source = self.source(f);
        self.line.u64(f.name(), source, v);
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        let source = self.source(f);
        self.line.bool(f.name(), source, v);
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        let source = self.source(f);
        self.line.str(f.name(), source, v);
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        let source = self.source(f);
        self.line.error(f.name(), source, v);
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        let source = self.source(f);
        self.line.fmt(f.name(), source, format_args!("{v:?}"));
    }
}
