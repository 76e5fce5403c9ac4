//! JSON log lines with the seed's fields and the current trace, span and request ids.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::names::baggage;

/// Span fields that every log line written inside that span carries.
const CONTEXT_FIELDS: [&str; 3] = [
    "request_id",
    baggage::ORDER_USER_ID,
    baggage::ORDER_CORRELATION_ID,
];

/// Remembers [`CONTEXT_FIELDS`] of each span so the formatter can add them to log lines.
pub(crate) struct ContextFieldsLayer;

#[derive(Default, Clone)]
struct ContextFields(Vec<(&'static str, String)>);

struct ContextVisitor<'a>(&'a mut ContextFields);

impl Visit for ContextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(name) = CONTEXT_FIELDS.iter().find(|n| **n == field.name()) {
            self.0.0.retain(|(k, _)| k != name);
            self.0.0.push((name, value.to_owned()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if CONTEXT_FIELDS.contains(&field.name()) {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for ContextFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = ContextFields::default();
        attrs.record(&mut ContextVisitor(&mut fields));
        if let (false, Some(span)) = (fields.0.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let mut fields = ext.remove::<ContextFields>().unwrap_or_default();
        values.record(&mut ContextVisitor(&mut fields));
        if !fields.0.is_empty() {
            ext.insert(fields);
        }
    }
}

/// Formats each event as one JSON object with the seed's keys.
pub(crate) struct SeedJsonFormat {
    pub(crate) service: String,
    pub(crate) version: String,
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.0.insert(f.name().into(), Value::from(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.insert(f.name().into(), Value::from(v));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.insert(f.name().into(), Value::from(v));
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.insert(f.name().into(), Value::from(v));
    }
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.insert(f.name().into(), Value::from(v));
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        let mut chain = v.to_string();
        let mut source = v.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        self.0.insert(f.name().into(), Value::from(chain));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.0
            .insert(f.name().into(), Value::from(format!("{v:?}")));
    }
}

impl<S, N> FormatEvent<S, N> for SeedJsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields.remove("message").unwrap_or(Value::from(""));

        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("service".into(), self.service.as_str().into());
        line.insert("version".into(), self.version.as_str().into());
        line.insert("logger".into(), meta.target().into());
        line.insert("message".into(), message);
        let otel_cx = opentelemetry::Context::current();
        let span_ref = otel_cx.span();
        let sc = span_ref.span_context();
        if sc.is_valid() {
            line.insert("trace_id".into(), sc.trace_id().to_string().into());
            line.insert("span_id".into(), sc.span_id().to_string().into());
        }
        if let Some(scope) = ctx.event_scope() {
            // Root first, so an inner span's value wins.
            for span in scope.from_root() {
                if let Some(cf) = span.extensions().get::<ContextFields>() {
                    for (k, v) in &cf.0 {
                        line.insert((*k).into(), v.as_str().into());
                    }
                }
            }
        }
        let thread = std::thread::current();
        line.insert("thread".into(), thread.name().unwrap_or("unnamed").into());
        if let Some(file) = meta.file() {
            line.insert("filename".into(), file.into());
        }
        if let Some(lineno) = meta.line() {
            line.insert("lineno".into(), lineno.into());
        }
        for (k, v) in fields {
            line.entry(k).or_insert(v);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}
