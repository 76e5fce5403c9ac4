#![allow(clippy::unwrap_used)]

use std::borrow::Cow;

use opentelemetry::trace::Event;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanEvents};
use prost::Message;

use super::{ScopeGroups, TraceEncoder};
use crate::otlp::fixtures::{bare_span, resource, server_span, transformed, varied_spans};

fn encode(spans: &[SpanData], resource: &Resource) -> Vec<u8> {
    let mut buf = Vec::new();
    TraceEncoder::new(resource).encode(spans, &mut ScopeGroups::default(), &mut buf);
    buf
}

/// Decodes to the transform's value, and is byte for byte what prost makes of it.
#[track_caller]
fn assert_same_as_transform(encoded: &[u8], spans: &[SpanData], resource: &Resource) {
    let expected = transformed(spans, resource);
    let decoded = ExportTraceServiceRequest::decode(encoded).unwrap();
    assert_eq!(decoded, expected);
    assert_eq!(encoded, expected.encode_to_vec(), "the same bytes as prost");
}

#[test]
fn spans_of_every_shape_encode_as_opentelemetry_proto_transforms_them() {
    let spans = varied_spans();
    assert_same_as_transform(&encode(&spans, &resource()), &spans, &resource());
}

#[test]
fn each_span_alone_encodes_as_opentelemetry_proto_transforms_it() {
    for (i, span) in varied_spans().into_iter().enumerate() {
        let spans = [span];
        let encoded = encode(&spans, &resource());
        let expected = transformed(&spans, &resource());
        assert_eq!(encoded, expected.encode_to_vec(), "span {i}");
    }
}

#[test]
fn an_empty_batch_and_an_empty_resource_encode_as_the_transform() {
    let empty = Resource::builder_empty().build();
    assert_same_as_transform(&encode(&[], &resource()), &[], &resource());
    assert_same_as_transform(&encode(&varied_spans(), &empty), &varied_spans(), &empty);

    // Before `set_resource` the exporter sends an empty resource, as opentelemetry-otlp does.
    let mut buf = Vec::new();
    let spans = varied_spans();
    TraceEncoder::default().encode(&spans, &mut ScopeGroups::default(), &mut buf);
    assert_same_as_transform(&buf, &spans, &empty);
}

#[test]
fn messages_longer_than_their_reserved_length_bytes_are_moved_intact() {
    let scope = InstrumentationScope::builder("big").build();
    // An event past 127 bytes, a span past 16 KiB, a batch past 2 MiB.
    let mut big = server_span(&scope, 1);
    let mut events = SpanEvents::default();
    events.events = vec![Event::new(
        "exception",
        big.start_time,
        vec![KeyValue::new(
            "exception.stacktrace",
            "at frame\n".repeat(30),
        )],
        0,
    )];
    big.events = events;
    big.attributes
        .push(KeyValue::new("db.statement", "SELECT 1;".repeat(2_000)));
    let spans = vec![big; 120];
    assert_same_as_transform(&encode(&spans, &resource()), &spans, &resource());

    // And shorter: one span of a few bytes in a batch of a few bytes.
    let mut tiny = bare_span(&scope);
    tiny.name = Cow::Borrowed("t");
    assert_same_as_transform(&encode(&[tiny.clone()], &resource()), &[tiny], &resource());
}

#[test]
fn a_reused_buffer_holds_only_the_latest_batch() {
    let encoder = TraceEncoder::new(&resource());
    let (mut groups, mut buf) = (ScopeGroups::default(), Vec::new());
    let first = varied_spans();
    encoder.encode(&first, &mut groups, &mut buf);
    let second = vec![server_span(&InstrumentationScope::builder("s").build(), 9)];
    encoder.encode(&second, &mut groups, &mut buf);
    assert_same_as_transform(&buf, &second, &resource());
}
