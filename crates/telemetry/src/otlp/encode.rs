//! The OTLP protobuf `ExportTraceServiceRequest`, written straight from the SDK's `SpanData`.
//!
//! Field for field what opentelemetry-proto 0.33's `group_spans_by_resource_and_scope` builds
//! and prost encodes: fields in tag order, zero and empty values skipped as prost skips them
//! (but oneof values and `Some` messages always written), so the bytes are the same.
//!
//! A nested message's length precedes it. Attributes are measured exactly before they are
//! written; larger messages (span, event, link, scope, the batch) reserve the number of length
//! bytes they usually need and move their body in the rare case it needed another number.

use opentelemetry::trace::{Event, Link, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

use super::attributes::put_key_value;
use super::envelope::{
    EncodedResource, MEDIUM, SCOPE_GROUP_ITEMS, SMALL, ScopeGroups, nanos, put_scope_group,
    same_attributes,
};
use super::wire::{
    nested, put_bytes, put_fixed32, put_fixed64, put_len_key, put_str, put_uint, str_field_len,
};

#[cfg(test)]
mod tests;

// Field numbers (opentelemetry-proto: trace/v1); the request's, resource's and scope's are
// in `envelope`.
const SPAN_TRACE_ID: u32 = 1;
const SPAN_SPAN_ID: u32 = 2;
const SPAN_TRACE_STATE: u32 = 3;
const SPAN_PARENT_SPAN_ID: u32 = 4;
const SPAN_NAME: u32 = 5;
const SPAN_KIND: u32 = 6;
const SPAN_START_TIME: u32 = 7;
const SPAN_END_TIME: u32 = 8;
const SPAN_ATTRIBUTES: u32 = 9;
const SPAN_DROPPED_ATTRIBUTES_COUNT: u32 = 10;
const SPAN_EVENTS: u32 = 11;
const SPAN_DROPPED_EVENTS_COUNT: u32 = 12;
const SPAN_LINKS: u32 = 13;
const SPAN_DROPPED_LINKS_COUNT: u32 = 14;
const SPAN_STATUS: u32 = 15;
const SPAN_FLAGS: u32 = 16;
const EVENT_TIME: u32 = 1;
const EVENT_NAME: u32 = 2;
const EVENT_ATTRIBUTES: u32 = 3;
const EVENT_DROPPED_ATTRIBUTES_COUNT: u32 = 4;
const LINK_TRACE_ID: u32 = 1;
const LINK_SPAN_ID: u32 = 2;
const LINK_TRACE_STATE: u32 = 3;
const LINK_ATTRIBUTES: u32 = 4;
const LINK_DROPPED_ATTRIBUTES_COUNT: u32 = 5;
const LINK_FLAGS: u32 = 6;
const STATUS_MESSAGE: u32 = 2;
const STATUS_CODE: u32 = 3;

/// `SpanFlags`: the span's (or link's) context says whether its parent is remote.
const FLAG_CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_CONTEXT_IS_REMOTE: u32 = 0x200;

/// Encodes batches of spans of one resource, which is encoded once.
#[derive(Debug, Clone, Default)]
pub struct TraceEncoder {
    /// Empty, as opentelemetry-otlp sends it, until `new` is given one.
    resource: EncodedResource,
}

impl TraceEncoder {
    /// Encodes `resource`'s attributes and schema URL, once for all batches.
    pub fn new(resource: &Resource) -> Self {
        Self {
            resource: EncodedResource::new(resource),
        }
    }

    /// Replaces `buf` with the request carrying `spans`, grouped by instrumentation scope in
    /// order of first appearance (each scope's spans in their batch order).
    pub fn encode(&self, spans: &[SpanData], groups: &mut ScopeGroups, buf: &mut Vec<u8>) {
        groups.assign(spans.len(), |a, b| {
            same_scope(
                &spans[a].instrumentation_scope,
                &spans[b].instrumentation_scope,
            )
        });
        self.resource.put_request(buf, |buf| {
            for (first, members) in groups.groups() {
                let scope = &spans[first].instrumentation_scope;
                put_scope_group(buf, scope.name(), scope, |buf| {
                    for i in members {
                        put_span(buf, &spans[i]);
                    }
                });
            }
        });
    }
}

/// `InstrumentationScope`'s equality, which the transform groups spans by.
fn same_scope(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.name() == b.name()
        && a.version() == b.version()
        && a.schema_url() == b.schema_url()
        && same_attributes(a, b)
}

fn put_span(buf: &mut Vec<u8>, span: &SpanData) {
    let context = &span.span_context;
    nested(buf, SCOPE_GROUP_ITEMS, MEDIUM, |buf| {
        put_bytes(buf, SPAN_TRACE_ID, &context.trace_id().to_bytes());
        put_bytes(buf, SPAN_SPAN_ID, &context.span_id().to_bytes());
        put_trace_state(buf, SPAN_TRACE_STATE, context.trace_state());
        if span.parent_span_id != SpanId::INVALID {
            put_bytes(buf, SPAN_PARENT_SPAN_ID, &span.parent_span_id.to_bytes());
        }
        put_str(buf, SPAN_NAME, &span.name);
        put_uint(buf, SPAN_KIND, kind(&span.span_kind));
        put_fixed64(buf, SPAN_START_TIME, nanos(span.start_time));
        put_fixed64(buf, SPAN_END_TIME, nanos(span.end_time));
        put_attributes(buf, SPAN_ATTRIBUTES, &span.attributes);
        put_uint(
            buf,
            SPAN_DROPPED_ATTRIBUTES_COUNT,
            span.dropped_attributes_count.into(),
        );
        for event in &span.events.events {
            put_event(buf, event);
        }
        put_uint(
            buf,
            SPAN_DROPPED_EVENTS_COUNT,
            span.events.dropped_count.into(),
        );
        for link in &span.links.links {
            put_link(buf, link);
        }
        put_uint(
            buf,
            SPAN_DROPPED_LINKS_COUNT,
            span.links.dropped_count.into(),
        );
        put_status(buf, &span.status);
        let flags = flags(span.parent_span_is_remote, context.trace_flags());
        put_fixed32(buf, SPAN_FLAGS, flags);
    });
}

fn put_event(buf: &mut Vec<u8>, event: &Event) {
    nested(buf, SPAN_EVENTS, SMALL, |buf| {
        put_fixed64(buf, EVENT_TIME, nanos(event.timestamp));
        put_str(buf, EVENT_NAME, &event.name);
        put_attributes(buf, EVENT_ATTRIBUTES, &event.attributes);
        put_uint(
            buf,
            EVENT_DROPPED_ATTRIBUTES_COUNT,
            event.dropped_attributes_count.into(),
        );
    });
}

fn put_link(buf: &mut Vec<u8>, link: &Link) {
    let context = &link.span_context;
    nested(buf, SPAN_LINKS, SMALL, |buf| {
        put_bytes(buf, LINK_TRACE_ID, &context.trace_id().to_bytes());
        put_bytes(buf, LINK_SPAN_ID, &context.span_id().to_bytes());
        put_trace_state(buf, LINK_TRACE_STATE, context.trace_state());
        put_attributes(buf, LINK_ATTRIBUTES, &link.attributes);
        put_uint(
            buf,
            LINK_DROPPED_ATTRIBUTES_COUNT,
            link.dropped_attributes_count.into(),
        );
        put_fixed32(
            buf,
            LINK_FLAGS,
            flags(context.is_remote(), context.trace_flags()),
        );
    });
}

/// Always present (the transform sets `Some`); the message only with an error, as there.
fn put_status(buf: &mut Vec<u8>, status: &Status) {
    let (code, message) = match status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, &**description),
    };
    let len = str_field_len(message) + usize::from(code != 0) * 2;
    put_len_key(buf, SPAN_STATUS, len);
    put_str(buf, STATUS_MESSAGE, message);
    put_uint(buf, STATUS_CODE, code);
}

/// The proto's `SpanKind`: the SDK's, plus one (0 is "unspecified").
fn kind(kind: &SpanKind) -> u64 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// As the transform's `build_span_flags`: the W3C trace flags, plus whether the parent (of a
/// span) or the linked context (of a link) is remote.
fn flags(is_remote: bool, trace_flags: TraceFlags) -> u32 {
    let remote = if is_remote { FLAG_CONTEXT_IS_REMOTE } else { 0 };
    FLAG_CONTEXT_HAS_IS_REMOTE | remote | u32::from(trace_flags.to_u8())
}

fn put_attributes(buf: &mut Vec<u8>, tag: u32, attributes: &[KeyValue]) {
    for kv in attributes {
        put_key_value(buf, tag, kv.key.as_str(), &kv.value);
    }
}

/// The W3C `tracestate` header text, as `TraceState::header()` but without building it.
fn put_trace_state(buf: &mut Vec<u8>, tag: u32, state: &TraceState) {
    let entries = state.into_iter().len();
    if entries == 0 {
        return;
    }
    let len = state
        .into_iter()
        .map(|(k, v)| k.len() + 1 + v.len())
        .sum::<usize>()
        + entries
        - 1;
    put_len_key(buf, tag, len);
    for (i, (k, v)) in state.into_iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        buf.extend_from_slice(k.as_bytes());
        buf.push(b'=');
        buf.extend_from_slice(v.as_bytes());
    }
}
