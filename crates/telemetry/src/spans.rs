//! Helpers that put OpenTelemetry facts on `tracing` spans: errors, events, baggage, injection.

use std::collections::BTreeMap;

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue, global};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::names::attr::{error, exception, operation};

/// Marks `span` failed the OpenTelemetry way: an `exception` event and ERROR status.
pub fn record_error(span: &Span, error_type: &'static str, error: &dyn std::fmt::Display) {
    mark_failed(&mut &*span, error_type, error);
}

/// What marking a span failed writes, on a `tracing` span or an SDK span alike.
pub(crate) trait FailureRecord {
    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>);
    fn attribute(&mut self, attribute: KeyValue);
    fn status(&mut self, status: Status);
}

impl FailureRecord for &Span {
    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>) {
        self.add_event(name, attributes);
    }
    fn attribute(&mut self, attribute: KeyValue) {
        self.set_attribute(attribute.key, attribute.value);
    }
    fn status(&mut self, status: Status) {
        self.set_status(status);
    }
}

/// An `exception` event, `operation.result` and `error.type`, and ERROR status with the message.
pub(crate) fn mark_failed(
    span: &mut impl FailureRecord,
    error_type: &'static str,
    error: &dyn std::fmt::Display,
) {
    let message = error.to_string();
    span.event(
        "exception",
        vec![
            KeyValue::new(exception::TYPE, error_type),
            KeyValue::new(exception::MESSAGE, message.clone()),
        ],
    );
    span.attribute(KeyValue::new(operation::RESULT, "error"));
    span.attribute(KeyValue::new(error::TYPE, error_type));
    span.status(Status::error(message));
}

/// The trace id of the current span, if one is being recorded.
pub fn current_trace_id() -> Option<String> {
    let cx = Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid()
        .then(|| crate::ids::trace_hex(sc.trace_id()).as_str().to_owned())
}

/// Makes `span` a child of the current span that also carries `entries` as baggage, keeping
/// baggage that came with the request (`Context::with_baggage` replaces, so merge first).
/// Call before `span` is first entered.
pub fn with_baggage(span: &Span, entries: &[(&'static str, String)]) {
    let cx = Span::current().context();
    let mut all: Vec<KeyValue> = cx
        .baggage()
        .iter()
        .filter(|(k, _)| !entries.iter().any(|(e, _)| *e == k.as_str()))
        .map(|(k, (v, _))| KeyValue::new(k.clone(), v.clone()))
        .collect();
    all.extend(entries.iter().map(|(k, v)| KeyValue::new(*k, v.clone())));
    let _ = span.set_parent(cx.with_baggage(all));
}

/// The `traceparent`, `tracestate` and `baggage` of `span`, as a message carries them.
pub fn context_carrier(span: &Span) -> BTreeMap<String, String> {
    let cx = span.context();
    let mut carrier = BTreeMap::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MapCarrier(&mut carrier)));
    carrier
}

/// The trace context and baggage a message carries; empty (no span, no baggage) when the
/// entries are missing or malformed.
pub fn context_from_carrier(carrier: &BTreeMap<String, String>) -> Context {
    global::get_text_map_propagator(|p| p.extract(&MapCarrier::read(carrier)))
}

/// A message's headers as the propagators read and write them.
struct MapCarrier<M>(M);

impl<'a> MapCarrier<&'a BTreeMap<String, String>> {
    fn read(map: &'a BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

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

/// Writes `traceparent`, `tracestate` and `baggage` for `span` into outgoing headers.
pub fn inject_context(span: &Span, headers: &mut http::HeaderMap) {
    let cx = span.context();
    global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut opentelemetry_http::HeaderInjector(headers))
    });
}
