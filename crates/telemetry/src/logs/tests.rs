//! The JSON lines must stay byte for byte what the seed-compatible formatter wrote: the
//! formatter as it was (a `serde_json::Map` per line) is kept here as the reference, and both
//! format the same events side by side.
#![allow(clippy::unwrap_used)]

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::{TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;

use super::{JsonLogLayer, LogWriter};
use crate::span::{RequestId, with_request_id};

/// The formatter before the rewrite, unchanged but for its name and where it reads the
/// context fields (from the OpenTelemetry context now, as they were from `tracing` spans).
struct Reference {
    service: String,
    version: String,
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

impl<S, N> FormatEvent<S, N> for Reference
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
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
        if let Some(id) = otel_cx.get::<RequestId>() {
            line.insert("request_id".into(), id.0.to_str().unwrap().into());
        }
        for key in ["order.user_id", "order.correlation_id"] {
            if let Some(v) = otel_cx.baggage().get(key) {
                line.insert(key.into(), v.as_str().into());
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

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// The lines, each timestamp masked (the two formatters read the clock separately).
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let at = l.find("\"timestamp\":\"").unwrap() + 13;
                format!("{}{}", &l[..at], &l[at + 27..])
            })
            .collect()
    }
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot reserve \"stock\"")
    }
}
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("database is locked")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Inner {}

fn log_everything() {
    tracing::info!("plain message");
    tracing::info!(
        s = "str",
        i = -5i64,
        u = 7u64,
        f = 0.1,
        big = 1e20,
        nan = f64::NAN,
        b = true,
        wide = 1u128,
        d = ?vec![1, 2],
        disp = %"x\"y",
        "message with \"quotes\"\n\t{} and {}",
        42,
        "주문 생성 실패 🦀\u{1}"
    );
    tracing::warn!(
        service = "other",
        level = "x",
        trace_id = "fake",
        zzz = 1,
        "collide"
    );
    tracing::info!(only = 1);
    let request = with_request_id(
        Context::new(),
        http::HeaderValue::from_static("5fa3339a-90b1"),
    )
    .with_baggage([KeyValue::new("order.user_id", "7")]);
    let _request = request.attach();
    tracing::info!(method = "POST", path = "/orders", "Request started");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let inner = with_request_id(
        Context::current(),
        http::HeaderValue::from_static("inner-id"),
    )
    .with_baggage([
        KeyValue::new("order.user_id", "7"),
        KeyValue::new("order.correlation_id", "corr-1"),
    ])
    .with_span(provider.tracer("test").start("inner"));
    let _inner = inner.attach();
    let err = Outer(Inner);
    tracing::error!(
        error = &err as &(dyn std::error::Error + 'static),
        status_code = 500u64,
        duration_ms = 1.25,
        "Request completed"
    );
    tracing::info!(
        message = "explicit",
        request_id = "from the event",
        span_id = "fake"
    );
}

#[test]
fn lines_are_the_same_as_the_map_based_formatters() {
    let new = Capture::default();
    let old = Capture::default();
    let (writer, guard) = LogWriter::new(Box::new(new.clone()), usize::MAX).unwrap();
    let old_writer = old.clone();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogLayer::new("order-service", "0.1.0", writer))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(Reference {
                    service: "order-service".into(),
                    version: "0.1.0".into(),
                })
                .with_writer(move || old_writer.clone()),
        );
    tracing::subscriber::with_default(subscriber, log_everything);
    guard.flush();

    let (new, old) = (new.lines(), old.lines());
    assert_eq!(new.len(), 7);
    for (n, o) in new.iter().zip(&old) {
        assert_eq!(n, o);
    }
    assert_eq!(new, old);
    // The context's fields reach the lines, an inner context's overriding an outer one's.
    let started: serde_json::Value = serde_json::from_str(&new[4]).unwrap();
    assert_eq!(started["request_id"], "5fa3339a-90b1");
    assert_eq!(started["order.user_id"], "7");
    assert!(started.get("order.correlation_id").is_none(), "{started}");
    let completed: serde_json::Value = serde_json::from_str(&new[5]).unwrap();
    assert_eq!(completed["request_id"], "inner-id");
    assert_eq!(completed["order.correlation_id"], "corr-1");
    assert_eq!(
        completed["error"],
        "cannot reserve \"stock\": database is locked"
    );
    assert_eq!(completed["trace_id"].as_str().map(str::len), Some(32));
}

#[test]
fn pretty_lines_start_with_the_request_id_and_trace_id_of_their_context() {
    let out = Capture::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .event_format(super::WithContext(
                tracing_subscriber::fmt::format().compact(),
            ))
            .with_writer(move || writer.clone()),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let cx = with_request_id(Context::new(), http::HeaderValue::from_static("req-1"))
        .with_span(provider.tracer("test").start("inner"));
    let trace_id = cx.span().span_context().trace_id();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside");
        let _cx = cx.attach();
        tracing::info!(path = "/orders", "inside");
    });

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("outside") && !lines[0].contains("trace_id="));
    let prefix = format!("request_id=req-1 trace_id={trace_id} ");
    assert!(lines[1].starts_with(&prefix), "{}", lines[1]);
    assert!(lines[1].contains("inside") && lines[1].contains("path=\"/orders\""));
}
