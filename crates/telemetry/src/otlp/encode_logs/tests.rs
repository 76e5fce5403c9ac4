#![allow(clippy::unwrap_used)]

use opentelemetry::InstrumentationScope;
use opentelemetry::logs::{AnyValue, LogRecord as _};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_sdk::Resource;
use prost::Message;

use super::LogEncoder;
use crate::otlp::ScopeGroups;
use crate::otlp::fixtures::resource;
use crate::otlp::log_fixtures::{
    Records, every_log_value, server_log_record, transformed_logs, varied_records, with_batch,
};

fn encode(records: &Records, resource: &Resource) -> Vec<u8> {
    encode_with(&LogEncoder::new(resource), records)
}

fn encode_with(encoder: &LogEncoder, records: &Records) -> Vec<u8> {
    let mut buf = Vec::new();
    with_batch(records, |batch| {
        encoder.encode(batch, &mut ScopeGroups::default(), &mut buf);
    });
    buf
}

/// Decodes to the transform's value (its scope groups in our order), and is byte for byte
/// what prost makes of it.
#[track_caller]
fn assert_same_as_transform(encoded: &[u8], records: &Records, resource: &Resource) {
    let decoded = ExportLogsServiceRequest::decode(encoded).unwrap();
    let expected = transformed_logs(records, resource, &decoded);
    assert_eq!(decoded, expected);
    assert_eq!(encoded, expected.encode_to_vec(), "the same bytes as prost");
}

#[test]
fn records_of_every_shape_encode_as_opentelemetry_proto_transforms_them() {
    let records = varied_records();
    assert_same_as_transform(&encode(&records, &resource()), &records, &resource());
}

#[test]
fn each_record_alone_encodes_as_opentelemetry_proto_transforms_it() {
    for (i, record) in varied_records().into_iter().enumerate() {
        let records = vec![record];
        let encoded = encode(&records, &resource());
        let expected = transformed_logs(&records, &resource(), &Default::default());
        assert_eq!(encoded, expected.encode_to_vec(), "record {i}");
    }
}

#[test]
fn scopes_are_grouped_as_the_transform_groups_them_in_order_of_first_appearance() {
    let records = varied_records();
    let decoded = ExportLogsServiceRequest::decode(&*encode(&records, &resource())).unwrap();

    let groups: Vec<(&str, &str, usize)> = decoded.resource_logs[0]
        .scope_logs
        .iter()
        .map(|g| {
            let scope = g.scope.as_ref().unwrap();
            (
                scope.name.as_str(),
                scope.version.as_str(),
                g.log_records.len(),
            )
        })
        .collect();

    let store_records = every_log_value().len() + 1;
    assert_eq!(
        groups,
        [
            // The target names the scope, whatever the bridge's scope is called.
            ("tracemart_product::api", "", 3),
            ("", "", 2),
            // An empty version or schema URL is the same as none.
            ("tracemart_order::saga", "", 2),
            // Attributes in another order are the same attributes.
            ("tracemart_product::api", "0.1.0", store_records),
        ]
    );
}

#[test]
fn an_empty_batch_and_an_empty_resource_encode_as_the_transform() {
    let empty = Resource::builder_empty().build();
    assert_same_as_transform(&encode(&Vec::new(), &resource()), &Vec::new(), &resource());
    let records = varied_records();
    assert_same_as_transform(&encode(&records, &empty), &records, &empty);

    // Before `set_resource` the exporter sends an empty resource, as opentelemetry-otlp does.
    let buf = encode_with(&LogEncoder::default(), &records);
    assert_same_as_transform(&buf, &records, &empty);
}

#[test]
fn records_longer_than_their_reserved_length_bytes_are_moved_intact() {
    let scope = InstrumentationScope::builder("big").build();
    // A record past 16 KiB, a batch past 2 MiB.
    let mut big = server_log_record(1);
    big.set_body(AnyValue::from("at frame\n".repeat(2_000)));
    let records: Records = vec![(big, scope); 120];
    assert_same_as_transform(&encode(&records, &resource()), &records, &resource());
}

#[test]
fn a_reused_buffer_holds_only_the_latest_batch() {
    let encoder = LogEncoder::new(&resource());
    let (mut groups, mut buf) = (ScopeGroups::default(), Vec::new());
    let first = varied_records();
    with_batch(&first, |batch| encoder.encode(batch, &mut groups, &mut buf));
    let second: Records = vec![(
        server_log_record(9),
        InstrumentationScope::builder("s").build(),
    )];
    with_batch(&second, |batch| {
        encoder.encode(batch, &mut groups, &mut buf)
    });
    assert_same_as_transform(&buf, &second, &resource());
}
