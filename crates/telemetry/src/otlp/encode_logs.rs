//! The OTLP protobuf `ExportLogsServiceRequest`, written straight from the SDK's `LogBatch`.
//!
//! Field for field what opentelemetry-proto 0.33's `group_logs_by_resource_and_scope` builds
//! and prost encodes, as `encode` does for spans; one difference: the transform collects its
//! scope groups in a `HashMap` and so sends them in no particular order, where here they come
//! in order of first appearance.

use std::borrow::Cow;

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{LogBatch, SdkLogRecord};

use super::attributes::{put_any_value_field, put_key_value};
use super::envelope::{
    EncodedResource, MEDIUM, SCOPE_GROUP_ITEMS, ScopeGroups, nanos, put_scope_group,
    same_attributes,
};
use super::wire::{nested, put_bytes, put_fixed32, put_fixed64, put_str, put_uint};

#[cfg(test)]
mod tests;

// Field numbers (opentelemetry-proto: logs/v1); the request's, resource's and scope's are in
// `envelope`.
const LOG_TIME: u32 = 1;
const LOG_SEVERITY_NUMBER: u32 = 2;
const LOG_SEVERITY_TEXT: u32 = 3;
const LOG_BODY: u32 = 5;
const LOG_ATTRIBUTES: u32 = 6;
const LOG_FLAGS: u32 = 8;
const LOG_TRACE_ID: u32 = 9;
const LOG_SPAN_ID: u32 = 10;
const LOG_OBSERVED_TIME: u32 = 11;
const LOG_EVENT_NAME: u32 = 12;

/// Encodes batches of log records of one resource, which is encoded once.
#[derive(Debug, Clone, Default)]
pub struct LogEncoder {
    /// Empty, as opentelemetry-otlp sends it, until `new` is given one.
    resource: EncodedResource,
}

impl LogEncoder {
    /// Encodes `resource`'s attributes and schema URL, once for all batches.
    pub fn new(resource: &Resource) -> Self {
        Self {
            resource: EncodedResource::new(resource),
        }
    }

    /// Replaces `buf` with the request carrying `batch`, grouped by exported scope (a record's
    /// target names its scope) in order of first appearance, each group's records in batch
    /// order.
    pub fn encode(&self, batch: &LogBatch<'_>, groups: &mut ScopeGroups, buf: &mut Vec<u8>) {
        // `LogBatch` only iterates; grouping needs to look back.
        let records: Vec<_> = batch.iter().collect();
        groups.assign(records.len(), |a, b| {
            same_exported_scope(records[a], records[b])
        });
        self.resource.put_request(buf, |buf| {
            for (first, members) in groups.groups() {
                let (record, scope) = records[first];
                put_scope_group(buf, &scope_name(record, scope), scope, |buf| {
                    for i in members {
                        put_log_record(buf, records[i].0);
                    }
                });
            }
        });
    }
}

/// The scope a record is exported under: its target, if any, names it.
fn scope_name<'a>(record: &'a SdkLogRecord, scope: &'a InstrumentationScope) -> Cow<'a, str> {
    record
        .target()
        .map_or(Cow::Borrowed(scope.name()), |t| Cow::Borrowed(t.as_ref()))
}

/// The transform's grouping key's equality: exported name, then version, schema URL (absent
/// the same as empty) and attributes.
fn same_exported_scope(
    (a_record, a): (&SdkLogRecord, &InstrumentationScope),
    (b_record, b): (&SdkLogRecord, &InstrumentationScope),
) -> bool {
    scope_name(a_record, a) == scope_name(b_record, b)
        && a.version().unwrap_or_default() == b.version().unwrap_or_default()
        && a.schema_url().unwrap_or_default() == b.schema_url().unwrap_or_default()
        && same_attributes(a, b)
}

fn put_log_record(buf: &mut Vec<u8>, record: &SdkLogRecord) {
    nested(buf, SCOPE_GROUP_ITEMS, MEDIUM, |buf| {
        put_fixed64(buf, LOG_TIME, record.timestamp().map_or(0, nanos));
        // `Severity`'s discriminants are the proto's `SeverityNumber`s.
        put_uint(
            buf,
            LOG_SEVERITY_NUMBER,
            record.severity_number().map_or(0, |s| s as u64),
        );
        put_str(
            buf,
            LOG_SEVERITY_TEXT,
            record.severity_text().unwrap_or_default(),
        );
        if let Some(body) = record.body() {
            put_any_value_field(buf, LOG_BODY, body);
        }
        for (key, value) in record.attributes_iter() {
            put_key_value(buf, LOG_ATTRIBUTES, key.as_str(), value);
        }
        // The SDK keeps no count of dropped attributes; the transform writes 0, i.e. nothing.
        if let Some(context) = record.trace_context() {
            let flags = context.trace_flags.map_or(0, |f| f.to_u8());
            put_fixed32(buf, LOG_FLAGS, flags.into());
            put_bytes(buf, LOG_TRACE_ID, &context.trace_id.to_bytes());
            put_bytes(buf, LOG_SPAN_ID, &context.span_id.to_bytes());
        }
        put_fixed64(
            buf,
            LOG_OBSERVED_TIME,
            record.observed_timestamp().map_or(0, nanos),
        );
        put_str(buf, LOG_EVENT_NAME, record.event_name().unwrap_or_default());
    });
}
