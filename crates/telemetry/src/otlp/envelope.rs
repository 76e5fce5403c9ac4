//! What every OTLP export request shares around its spans or log records: the resource,
//! encoded once; instrumentation scopes; grouping by scope; timestamps.
//!
//! `ExportTraceServiceRequest` and `ExportLogsServiceRequest` have the same shape (field 1
//! repeats `Resource{Spans,Logs}`, whose fields 1 to 3 are resource, scope groups and schema
//! URL; a scope group's are scope, items and schema URL), so the field numbers here serve both.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

use super::attributes::put_key_value;
use super::wire::{nested, put_str};

pub(super) const REQUEST_RESOURCE_GROUPS: u32 = 1;
const RESOURCE_GROUP_RESOURCE: u32 = 1;
pub(super) const RESOURCE_GROUP_SCOPE_GROUPS: u32 = 2;
const RESOURCE_GROUP_SCHEMA_URL: u32 = 3;
const RESOURCE_ATTRIBUTES: u32 = 1;
const SCOPE_GROUP_SCOPE: u32 = 1;
pub(super) const SCOPE_GROUP_ITEMS: u32 = 2;
const SCOPE_GROUP_SCHEMA_URL: u32 = 3;
const SCOPE_NAME: u32 = 1;
const SCOPE_VERSION: u32 = 2;
const SCOPE_ATTRIBUTES: u32 = 3;

/// Length bytes reserved before a message of unknown length: 1 up to 127 bytes (events,
/// links, scopes, most log records), 2 up to 16 KiB (a span), 3 up to 2 MiB (a batch).
pub(super) const SMALL: usize = 1;
pub(super) const MEDIUM: usize = 2;
pub(super) const BATCH: usize = 3;

/// A resource encoded once for all batches.
#[derive(Debug, Clone)]
pub(super) struct EncodedResource {
    /// The group's `resource` field, key and length included.
    resource: Vec<u8>,
    /// The group's `schema_url` field, key and length included; empty without a schema URL.
    schema_url: Vec<u8>,
}

impl Default for EncodedResource {
    /// What opentelemetry-otlp sends before `set_resource`: an empty resource.
    fn default() -> Self {
        let mut resource = Vec::new();
        nested(&mut resource, RESOURCE_GROUP_RESOURCE, SMALL, |_| {});
        Self {
            resource,
            schema_url: Vec::new(),
        }
    }
}

impl EncodedResource {
    /// Encodes `resource`'s attributes and schema URL.
    pub(super) fn new(resource: &Resource) -> Self {
        let mut encoded = Vec::new();
        nested(&mut encoded, RESOURCE_GROUP_RESOURCE, BATCH, |buf| {
            for (key, value) in resource.iter() {
                put_key_value(buf, RESOURCE_ATTRIBUTES, key.as_str(), value);
            }
        });
        let mut schema_url = Vec::new();
        put_str(
            &mut schema_url,
            RESOURCE_GROUP_SCHEMA_URL,
            resource.schema_url().unwrap_or_default(),
        );
        Self {
            resource: encoded,
            schema_url,
        }
    }

    /// Replaces `buf` with a request of this one resource, whose scope groups `groups` writes.
    pub(super) fn put_request(&self, buf: &mut Vec<u8>, groups: impl FnOnce(&mut Vec<u8>)) {
        buf.clear();
        nested(buf, REQUEST_RESOURCE_GROUPS, BATCH, |buf| {
            buf.extend_from_slice(&self.resource);
            groups(buf);
            buf.extend_from_slice(&self.schema_url);
        });
    }
}

/// A scope group: `scope` (named `name`), the items `items` writes, the scope's schema URL.
pub(super) fn put_scope_group(
    buf: &mut Vec<u8>,
    name: &str,
    scope: &InstrumentationScope,
    items: impl FnOnce(&mut Vec<u8>),
) {
    nested(buf, RESOURCE_GROUP_SCOPE_GROUPS, BATCH, |buf| {
        nested(buf, SCOPE_GROUP_SCOPE, SMALL, |buf| {
            put_str(buf, SCOPE_NAME, name);
            put_str(buf, SCOPE_VERSION, scope.version().unwrap_or_default());
            for kv in scope.attributes() {
                put_key_value(buf, SCOPE_ATTRIBUTES, kv.key.as_str(), &kv.value);
            }
        });
        items(buf);
        put_str(
            buf,
            SCOPE_GROUP_SCHEMA_URL,
            scope.schema_url().unwrap_or_default(),
        );
    });
}

/// Grouping state reused from batch to batch, so that grouping allocates nothing.
#[derive(Debug, Default)]
pub struct ScopeGroups {
    /// For every item, its group's index in `first_item`.
    group_of_item: Vec<usize>,
    /// For every group, in order of appearance, the index of its first item.
    first_item: Vec<usize>,
}

impl ScopeGroups {
    /// Groups `len` items, `same(i, j)` saying whether items `i` and `j` share a group. Runs
    /// of one scope (the usual batch) cost one comparison per item.
    pub(super) fn assign(&mut self, len: usize, same: impl Fn(usize, usize) -> bool) {
        self.group_of_item.clear();
        self.first_item.clear();
        let mut last = 0;
        for i in 0..len {
            let is = |&first: &usize| same(first, i);
            let index = if self.first_item.get(last).is_some_and(is) {
                last
            } else if let Some(index) = self.first_item.iter().position(is) {
                index
            } else {
                self.first_item.push(i);
                self.first_item.len() - 1
            };
            self.group_of_item.push(index);
            last = index;
        }
    }

    /// Every group in order of appearance: its first item, and all its items in order.
    pub(super) fn groups(&self) -> impl Iterator<Item = (usize, impl Iterator<Item = usize>)> {
        let group_of_item = &self.group_of_item;
        self.first_item
            .iter()
            .enumerate()
            .map(move |(index, &first)| {
                let members =
                    (first..group_of_item.len()).filter(move |&i| group_of_item[i] == index);
                (first, members)
            })
    }
}

/// `InstrumentationScope`'s attribute equality (order aside), which the transforms group
/// by; building scopes to compare allocates, so it only decides when the order differs.
pub(super) fn same_attributes(a: &InstrumentationScope, b: &InstrumentationScope) -> bool {
    a.attributes().eq(b.attributes()) || {
        let bare = |s: &InstrumentationScope| {
            InstrumentationScope::builder("")
                .with_attributes(s.attributes().cloned())
                .build()
        };
        bare(a) == bare(b)
    }
}

/// Nanoseconds since the epoch; 0 before it, as the transforms' `to_nanos`.
pub(super) fn nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
