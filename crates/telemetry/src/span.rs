//! Spans made with the OpenTelemetry SDK directly, carried as the current OpenTelemetry
//! [`Context`] while their work runs: several times cheaper per span than `tracing` spans
//! converted by tracing-opentelemetry (docs/benchmarks.md, "Telemetry cost"). `tracing` stays
//! for log lines, which read the trace ids, the request id and the order's baggage from the
//! current context.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use opentelemetry::baggage::{Baggage, BaggageExt};
use opentelemetry::context::{FutureExt as _, WithContext};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{
    Link, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceId, Tracer as _,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_sdk::trace::SdkTracer;

use crate::ids::trace_hex;
use crate::names::attr::{code, error, exception, operation};
use crate::names::baggage;

/// The tracer every span is made with, once `init` has installed it: one provider, sampler,
/// resource and instrumentation scope. Unset with the SDK disabled: then no span is made,
/// but contexts still carry the request id and baggage for log lines.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Called by `init` once its subscriber is installed (at most once per process).
pub(crate) fn install(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

/// Whether spans are made and contexts propagated: not with the SDK disabled, where, as
/// other SDKs' `OTEL_SDK_DISABLED` does, nothing is extracted, recorded or injected.
pub(crate) fn enabled() -> bool {
    TRACER.get().is_some()
}

/// Where a span is made, written with [`span_site!`](crate::span_site): its `code.*`
/// attributes and the `target` (the area of the shop it belongs to).
#[derive(Debug, Clone, Copy)]
pub struct SpanSite {
    pub target: &'static str,
    pub module: &'static str,
    pub file: &'static str,
    pub line: u32,
}

/// The [`SpanSite`] of the line it is written on, under `target`, made once:
/// `span_site!("tracemart::order")` is a `&'static SpanSite`.
#[macro_export]
macro_rules! span_site {
    ($target:expr) => {{
        static SITE: $crate::SpanSite = $crate::SpanSite {
            target: $target,
            module: ::std::module_path!(),
            file: ::std::file!(),
            line: ::std::line!(),
        };
        &SITE
    }};
}

/// The request id a context carries: the log lines written in it show it as `request_id`.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) http::HeaderValue);

/// The request id `cx` carries, if any.
pub(crate) fn request_id(cx: &Context) -> Option<&str> {
    cx.get::<RequestId>().and_then(|id| id.0.to_str().ok())
}

/// Baggage entries of an order that its spans and log lines carry as fields of their own.
pub(crate) const ORDER_BAGGAGE: [&str; 2] = [baggage::ORDER_USER_ID, baggage::ORDER_CORRELATION_ID];

/// The order's entries of `bag` ([`ORDER_BAGGAGE`]), as span attributes.
pub fn order_baggage_attributes(bag: &Baggage) -> impl Iterator<Item = KeyValue> + '_ {
    ORDER_BAGGAGE
        .into_iter()
        .filter_map(|key| bag.get(key).map(|value| KeyValue::new(key, value.clone())))
}

/// What a span starts from: where it is made, its kind, name and attributes.
pub struct SpanStart {
    site: &'static SpanSite,
    kind: SpanKind,
    name: Cow<'static, str>,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
}

impl SpanStart {
    pub fn attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    pub fn attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Links the span to another trace's span (a consumer to its producer).
    pub fn link(mut self, span: SpanContext) -> Self {
        if span.is_valid() {
            self.links.push(Link::with_context(span));
        }
        self
    }

    /// Starts the span as a child of the current context.
    pub fn start(self) -> Span {
        Context::map_current(|cx| self.start_in(cx))
    }

    /// Starts the span as a child of `parent` (an extracted remote context, or a new one
    /// carrying baggage only), keeping what else `parent` carries.
    pub fn start_in(self, parent: &Context) -> Span {
        let Some(tracer) = TRACER.get() else {
            return Span {
                cx: parent.clone(),
                owned: false,
            };
        };
        let mut attributes = self.attributes;
        attributes.extend([
            KeyValue::new(code::FILE_PATH, self.site.file),
            KeyValue::new(code::MODULE_NAME, self.site.module),
            KeyValue::new(code::LINE_NUMBER, i64::from(self.site.line)),
            KeyValue::new(code::TARGET, self.site.target),
        ]);
        let mut builder = tracer
            .span_builder(self.name)
            .with_kind(self.kind)
            .with_attributes(attributes);
        if !self.links.is_empty() {
            builder = builder.with_links(self.links);
        }
        let span = builder.start_with_context(tracer, parent);
        Span {
            cx: parent.with_span(span),
            owned: true,
        }
    }
}

/// A span and the context its work runs in; the span ends when this is dropped. With the
/// SDK disabled it holds the parent's context and records nothing.
pub struct Span {
    cx: Context,
    /// Whether the span in `cx` is this one's to end (not a parent's, nor the current one's).
    owned: bool,
}

impl Span {
    /// A span named `name` of `kind`, made at `site`.
    pub fn build(
        site: &'static SpanSite,
        kind: SpanKind,
        name: impl Into<Cow<'static, str>>,
    ) -> SpanStart {
        SpanStart {
            site,
            kind,
            name: name.into(),
            attributes: Vec::new(),
            links: Vec::new(),
        }
    }

    /// An INTERNAL span (a step of the shop's own work).
    pub fn internal(site: &'static SpanSite, name: impl Into<Cow<'static, str>>) -> SpanStart {
        Self::build(site, SpanKind::Internal, name)
    }

    /// The span of the current context, to add to; it is not ended by this handle.
    pub fn current() -> Self {
        Self {
            cx: Context::current(),
            owned: false,
        }
    }

    /// The context the span's work runs in.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// Runs `f` with this span as the current one.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.cx.clone().attach();
        f()
    }

    /// `future` with this span as the current one whenever it runs.
    pub fn instrument<F: Future>(&self, future: F) -> WithContext<F> {
        future.with_context(self.cx.clone())
    }

    pub fn set_attribute(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// ERROR status with no message: the outcome an answer's status code tells (a 5xx).
    pub fn set_error_status(&self) {
        self.cx.span().set_status(Status::error(""));
    }

    pub fn add_event(&self, name: &'static str, attributes: Vec<KeyValue>) {
        self.cx.span().add_event(name, attributes);
    }

    /// Marks the span failed the OpenTelemetry way: an `exception` event, `error.type`,
    /// `operation.result` and ERROR status with the message.
    pub fn record_error(&self, error_type: &'static str, error: &dyn fmt::Display) {
        let message = error.to_string();
        let span = self.cx.span();
        span.add_event(
            "exception",
            vec![
                KeyValue::new(exception::TYPE, error_type),
                KeyValue::new(exception::MESSAGE, message.clone()),
            ],
        );
        span.set_attribute(KeyValue::new(operation::RESULT, "error"));
        span.set_attribute(KeyValue::new(error::TYPE, error_type));
        span.set_status(Status::error(message));
    }

    /// The trace and span id of the span this handle started (none with the SDK disabled,
    /// when it holds its parent's context instead).
    pub fn ids(&self) -> Option<(TraceId, SpanId)> {
        if !self.owned {
            return None;
        }
        let span = self.cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id(), sc.span_id()))
    }

    /// Writes `traceparent`, `tracestate` and `baggage` for this span into outgoing headers.
    pub fn inject(&self, headers: &mut http::HeaderMap) {
        if !enabled() {
            return;
        }
        global::get_text_map_propagator(|p| {
            p.inject_context(&self.cx, &mut opentelemetry_http::HeaderInjector(headers))
        });
    }

    /// The `traceparent`, `tracestate` and `baggage` of this span, as a message carries them.
    pub fn carrier(&self) -> BTreeMap<String, String> {
        let mut carrier = BTreeMap::new();
        if !enabled() {
            return carrier;
        }
        global::get_text_map_propagator(|p| {
            p.inject_context(&self.cx, &mut MapCarrier(&mut carrier))
        });
        carrier
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if self.owned {
            self.cx.span().end();
        }
    }
}

/// Whether the current context holds a span: work outside one (a relay's polling, a
/// sweeper) is measured but not traced, instead of each operation becoming a trace.
pub fn in_span() -> bool {
    Context::map_current(|cx| cx.has_active_span())
}

/// The trace id of the current span, if one is being recorded.
pub fn current_trace_id() -> Option<String> {
    Context::map_current(|cx| {
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid()
            .then(|| trace_hex(sc.trace_id()).as_str().to_owned())
    })
}

/// The id of the request being served (or the correlation id of the message being
/// handled), for error bodies; `None` outside one.
pub fn current_request_id() -> Option<String> {
    Context::map_current(|cx| request_id(cx).map(str::to_owned))
}

/// The current context with `entries` added to its baggage (kept from the request
/// otherwise: `Context::with_baggage` replaces, so merge first), for a span to start in.
pub fn with_baggage(entries: &[(&'static str, String)]) -> Context {
    Context::map_current(|cx| {
        let mut all: Vec<KeyValue> = cx
            .baggage()
            .iter()
            .filter(|(k, _)| !entries.iter().any(|(e, _)| *e == k.as_str()))
            .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
            .collect();
        all.extend(entries.iter().map(|(k, v)| KeyValue::new(*k, v.clone())));
        cx.with_baggage(all)
    })
}

/// A context carrying `request_id` as the request id of the log lines written in it.
pub(crate) fn with_request_id(cx: Context, request_id: http::HeaderValue) -> Context {
    cx.with_value(RequestId(request_id))
}

/// A new context (no span: what starts in it starts a trace of its own) carrying `baggage`
/// and, if given, `request_id` for log lines.
pub fn detached_context(baggage: Vec<KeyValue>, request_id: Option<&str>) -> Context {
    let cx = Context::new().with_baggage(baggage);
    match request_id.and_then(|id| http::HeaderValue::from_str(id).ok()) {
        Some(id) => with_request_id(cx, id),
        None => cx,
    }
}

/// The trace context and baggage a message carries; empty (no span, no baggage) when the
/// entries are missing or malformed.
pub fn context_from_carrier(carrier: &BTreeMap<String, String>) -> Context {
    global::get_text_map_propagator(|p| p.extract(&MapCarrier(carrier)))
}

/// A message's headers as the propagators read and write them.
struct MapCarrier<M>(M);

impl Injector for MapCarrier<&mut BTreeMap<String, String>> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for MapCarrier<&BTreeMap<String, String>> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| v.len() <= crate::server::MAX_PROPAGATION_HEADER)
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{TraceFlags, TraceState};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use super::*;
    use crate::TelemetryConfig;
    use crate::names::baggage;

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn attr(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    // One test: `init` installs the process's subscriber and tracer once.
    #[test]
    fn spans_nest_through_the_context_carry_baggage_and_follow_their_parents_sampling() {
        let exported = Collect::default();
        let guard = crate::bench::init_exporting_spans_to(
            &TelemetryConfig::new("svc", "1"),
            exported.clone(),
        )
        .unwrap();
        let remote = SpanContext::new(
            TraceId::from(5),
            SpanId::from(6),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let request = with_request_id(
            Context::new().with_remote_span_context(remote),
            http::HeaderValue::from_static("req-1"),
        );
        let server = Span::build(span_site!("tracemart::test"), SpanKind::Server, "GET /x")
            .attribute(KeyValue::new("http.route", "/x"))
            .start_in(&request);
        let (mut inner_ids, mut request_id, mut user) = (None, None, None);
        server.in_scope(|| {
            let parent = with_baggage(&[(baggage::ORDER_USER_ID, "7".to_owned())]);
            let step = Span::internal(span_site!("tracemart::test"), "step").start_in(&parent);
            step.in_scope(|| {
                let db =
                    Span::build(span_site!("tracemart::db"), SpanKind::Client, "SELECT t").start();
                db.set_attribute(KeyValue::new("db.duration_ms", 1.5));
                db.record_error("DatabaseError", &"disk I/O error");
                inner_ids = db.ids();
                request_id = current_request_id();
                user = Span::current().carrier().get("baggage").cloned();
            });
        });
        drop(server);
        assert!(!in_span(), "the context is restored after in_scope");

        let unsampled = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        let dropped = Span::internal(span_site!("tracemart::test"), "unsampled")
            .start_in(&Context::new().with_remote_span_context(unsampled));
        assert!(dropped.ids().is_some(), "an unsampled span still has ids");
        drop(dropped);
        guard.flush();

        let spans = exported.0.lock().unwrap().clone();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(names.len(), 3, "the sampled spans only: {names:?}");
        let find = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
        let (server, step, db) = (find("GET /x"), find("step"), find("SELECT t"));
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(server.parent_span_id, SpanId::from(6));
        assert_eq!(server.span_context.trace_id(), TraceId::from(5));
        assert_eq!(step.parent_span_id, server.span_context.span_id());
        assert_eq!(db.parent_span_id, step.span_context.span_id());
        assert_eq!(db.span_context.trace_id(), TraceId::from(5));
        assert_eq!(db.span_kind, SpanKind::Client);
        assert_eq!(
            inner_ids,
            Some((db.span_context.trace_id(), db.span_context.span_id()))
        );
        assert_eq!(request_id.as_deref(), Some("req-1"));
        assert_eq!(user.as_deref(), Some("order.user_id=7"));
        assert_eq!(attr(db, "db.duration_ms"), Some(1.5.into()));
        assert_eq!(attr(db, code::TARGET), Some("tracemart::db".into()));
        assert_eq!(attr(db, code::MODULE_NAME), Some(module_path!().into()));
        assert_eq!(attr(db, code::FILE_PATH), Some(file!().into()));
        assert_eq!(attr(db, error::TYPE), Some("DatabaseError".into()));
        assert_eq!(db.status, Status::error("disk I/O error"));
        assert_eq!(db.events.events[0].name, "exception");
        assert_eq!(attr(server, "http.route"), Some("/x".into()));
    }
}
