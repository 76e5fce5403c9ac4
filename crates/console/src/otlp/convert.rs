//! Decoded OTLP ([`wire`]) into store batches, with Jaeger's tag conventions applied once, at
//! ingest.
//!
//! Every span's text (name, JSON attributes, events, links) is appended to its batch's one
//! buffer: JSON is streamed by serde_json straight from the decoded request, without an
//! intermediate `serde_json::Value` or a `String` per attribute. Readers parse the JSON into
//! maps, so span and log attribute objects keep the sender's key order (a repeated key reads
//! as its last value, as before); resource attributes are sorted, because their text is the
//! resource's identity in the store.

use std::collections::HashMap;

use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::wire::{self, AnyValue, KeyValue, LogsRequest, NotUtf8, TraceRequest, utf8};
use crate::store::blocks::tag_hash;
use crate::store::failure;
use crate::store::model::{
    LinkRow, LogBatch, LogRow, ResourceRow, ScopeRow, SpanBatch, SpanRow, Text, UNKNOWN_SERVICE,
};
use crate::store::tag_search::value_type;

/// A batch decoded from one request, and how many spans were refused (bad ids) or left out
/// (beyond the request's limit).
#[derive(Debug)]
pub(crate) struct Converted<T> {
    pub(crate) batch: T,
    pub(crate) rejected: i64,
    pub(crate) over_limit: i64,
}

/// Why a request could not be converted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConvertError {
    /// A string field is not UTF-8.
    #[error(transparent)]
    NotUtf8(#[from] NotUtf8),
    /// An attribute could not be written as JSON (only a non-UTF-8 key or value does that).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Flattens the spans of a trace export, the first `max_spans` of them; `size_hint` is the
/// encoded request's length.
pub(crate) fn spans(
    req: &TraceRequest,
    size_hint: usize,
    max_spans: usize,
) -> Result<Converted<SpanBatch>, ConvertError> {
    let mut text = TextBuf::with_capacity(size_hint + size_hint / 2);
    let empty_array = text.push("[]");
    let mut batch = SpanBatch::default();
    let mut rejected = 0;
    let mut over_limit = 0;
    // The types each attribute key arrived with, for tag search (store/tag_search.rs).
    let mut attribute_types: HashMap<&bytes::Bytes, u8> = HashMap::new();
    // Reused for the text of numbers whose tag is hashed.
    let mut shown = String::new();
    for rs in &req.resource_spans {
        let resource = index(batch.resources.len());
        batch.resources.push(resource_row(rs.resource.as_ref())?);
        for ss in &rs.scope_spans {
            let scope = index(batch.scopes.len());
            batch.scopes.push(match &ss.scope {
                Some(s) => ScopeRow {
                    name: text.push(utf8(&s.name)?),
                    version: text.push(utf8(&s.version)?),
                },
                None => ScopeRow::default(),
            });
            for span in &ss.spans {
                let (Some(trace_id), Some(span_id)) = (id(&span.trace_id), id(&span.span_id))
                else {
                    rejected += 1;
                    continue;
                };
                if batch.rows.len() >= max_spans {
                    over_limit += 1;
                    continue;
                }
                let start_us = nanos_to_micros(span.start_time_unix_nano);
                let end_us = nanos_to_micros(span.end_time_unix_nano).max(start_us);
                let row = index(batch.rows.len());
                batch.links.extend(span.links.iter().filter_map(|l| {
                    Some(LinkRow {
                        span: row,
                        trace_id: id(&l.trace_id)?,
                        span_id: id(&l.span_id)?,
                    })
                }));
                let (status_code, status_message) = match &span.status {
                    Some(s) => (s.code, text.push(utf8(&s.message)?)),
                    None => (0, Text::default()),
                };
                let status_code =
                    failure::status(span.kind, status_code, http_status(&span.attributes));
                let tags_start = index(batch.tag_hashes.len());
                for kv in &span.attributes {
                    push_tag_hash(
                        &mut batch.tag_hashes,
                        &kv.key,
                        kv.value.as_ref(),
                        &mut shown,
                    )?;
                }
                let tags = (tags_start, index(batch.tag_hashes.len()));
                batch.rows.push(SpanRow {
                    trace_id,
                    span_id,
                    parent_span_id: id(&span.parent_span_id),
                    operation: text.push(utf8(&span.name)?),
                    kind: span.kind,
                    start_us,
                    duration_us: end_us - start_us,
                    status_code,
                    status_message,
                    attributes: text.json(&Attributes(&span.attributes))?,
                    events: if span.events.is_empty() {
                        empty_array
                    } else {
                        text.json(&Events(&span.events))?
                    },
                    links: if span.links.is_empty() {
                        empty_array
                    } else {
                        text.json(&Links(&span.links))?
                    },
                    scope,
                    resource,
                    tags,
                });
                for kv in &span.attributes {
                    if let Some(bit) = value_type_of(kv.value.as_ref()) {
                        *attribute_types.entry(&kv.key).or_default() |= bit;
                    }
                }
            }
        }
    }
    for (key, types) in attribute_types {
        batch.attribute_types.push((text.push(utf8(key)?), types));
    }
    batch.text = text.finish()?;
    Ok(Converted {
        batch,
        rejected,
        over_limit,
    })
}

/// The HTTP status a span answered (`http.response.status_code`, or the older
/// `http.status_code`), for the error rule.
fn http_status(attributes: &[KeyValue]) -> Option<i64> {
    attributes
        .iter()
        .filter(|kv| {
            &kv.key[..] == b"http.response.status_code" || &kv.key[..] == b"http.status_code"
        })
        .find_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
            wire::Value::Int(n) => Some(*n),
            wire::Value::String(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            _ => None,
        })
}

/// Flattens the records of a logs export; `size_hint` is the encoded request's length.
pub(crate) fn logs(
    req: &LogsRequest,
    size_hint: usize,
) -> Result<Converted<LogBatch>, ConvertError> {
    let mut text = TextBuf::with_capacity(size_hint + size_hint / 2);
    let mut batch = LogBatch::default();
    for rl in &req.resource_logs {
        let resource = index(batch.resources.len());
        batch.resources.push(resource_row(rl.resource.as_ref())?);
        for sl in &rl.scope_logs {
            for rec in &sl.log_records {
                let time = if rec.time_unix_nano != 0 {
                    rec.time_unix_nano
                } else {
                    rec.observed_time_unix_nano
                };
                let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                    Some(wire::Value::String(s)) => text.push(utf8(s)?),
                    Some(other) => text.push(&value(other)?.to_string()),
                    None => Text::default(),
                };
                batch.rows.push(LogRow {
                    time_us: nanos_to_micros(time),
                    trace_id: id(&rec.trace_id),
                    span_id: id(&rec.span_id),
                    severity_number: rec.severity_number,
                    severity_text: text.push(utf8(&rec.severity_text)?),
                    body,
                    attributes: text.json(&Attributes(&rec.attributes))?,
                    resource,
                });
            }
        }
    }
    batch.text = text.finish()?;
    Ok(Converted {
        batch,
        rejected: 0,
        over_limit: 0,
    })
}

/// Jaeger's `span.kind` values; unspecified has none.
pub(crate) fn kind_name(kind: i32) -> Option<&'static str> {
    match kind {
        1 => Some("internal"),
        2 => Some("server"),
        3 => Some("client"),
        4 => Some("producer"),
        5 => Some("consumer"),
        _ => None,
    }
}

/// A valid id: exactly `N` bytes, not all zero.
fn id<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    <[u8; N]>::try_from(bytes)
        .ok()
        .filter(|id| id.iter().any(|b| *b != 0))
}

fn nanos_to_micros(ns: u64) -> i64 {
    i64::try_from(ns / 1000).unwrap_or(i64::MAX)
}

/// Row indexes into a batch's resources or scopes (a request holds far fewer than 2^32).
fn index(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn resource_row(resource: Option<&wire::Resource>) -> Result<ResourceRow, NotUtf8> {
    let attrs = match resource {
        Some(r) => attribute_map(&r.attributes)?,
        None => Map::new(),
    };
    let service = match attrs.get("service.name") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str().into(),
        _ => UNKNOWN_SERVICE.into(),
    };
    Ok(ResourceRow {
        service,
        attributes: Value::Object(attrs).to_string(),
    })
}

/// Attributes as a sorted JSON map (a repeated key keeps its last value).
fn attribute_map(kvs: &[KeyValue]) -> Result<Map<String, Value>, NotUtf8> {
    kvs.iter()
        .map(|kv| Ok((utf8(&kv.key)?.to_owned(), any_value(kv.value.as_ref())?)))
        .collect()
}

fn any_value(v: Option<&AnyValue>) -> Result<Value, NotUtf8> {
    match v.and_then(|v| v.value.as_ref()) {
        Some(v) => value(v),
        None => Ok(Value::Null),
    }
}

/// Scalars map to JSON scalars; arrays and maps become JSON text, as Jaeger shows them.
fn value(v: &wire::Value) -> Result<Value, NotUtf8> {
    use wire::Value as V;
    Ok(match v {
        V::String(s) => Value::String(utf8(s)?.to_owned()),
        V::Bool(b) => Value::Bool(*b),
        V::Int(i) => Value::from(*i),
        V::Double(d) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        V::Bytes(b) => Value::String(hex::encode(b)),
        V::Array(a) => Value::String(
            Value::Array(
                a.values
                    .iter()
                    .map(|v| any_value(Some(v)))
                    .collect::<Result<_, _>>()?,
            )
            .to_string(),
        ),
        V::Kvlist(kv) => Value::String(Value::Object(attribute_map(&kv.values)?).to_string()),
        // Dictionary-encoded strings (profiles only); the dictionary is not ours to resolve.
        V::StringIndex(i) => Value::String(format!("strindex:{i}")),
    })
}

/// Adds the hash of `key` and its value as Jaeger shows it (and a tag search names it) to a
/// block filter's hashes (`store/blocks/filter.rs`); a missing value is no tag.
fn push_tag_hash(
    hashes: &mut Vec<u64>,
    key: &bytes::Bytes,
    value: Option<&AnyValue>,
    scratch: &mut String,
) -> Result<(), NotUtf8> {
    use std::fmt::Write as _;
    use wire::Value as V;
    let Some(value) = value.and_then(|v| v.value.as_ref()) else {
        return Ok(());
    };
    let key = utf8(key)?;
    let hash = match value {
        V::String(s) => tag_hash(key, utf8(s)?),
        V::Bool(b) => tag_hash(key, if *b { "true" } else { "false" }),
        V::Int(i) => {
            scratch.clear();
            let _ = write!(scratch, "{i}");
            tag_hash(key, scratch)
        }
        V::Double(d) => {
            scratch.clear();
            let _ = write!(scratch, "{d}");
            tag_hash(key, scratch)
        }
        // What is stored as text (hex bytes, JSON of arrays and maps) is shown as that text.
        other => match self::value(other)? {
            Value::String(text) => tag_hash(key, &text),
            _ => return Ok(()),
        },
    };
    hashes.push(hash);
    Ok(())
}

/// The JSON form [`Attributes`] gives a value, as a bit of `attribute_types`; none for a
/// missing value (`null`, which no tag matches).
fn value_type_of(v: Option<&AnyValue>) -> Option<u8> {
    use wire::Value as V;
    Some(match v?.value.as_ref()? {
        V::Int(_) => value_type::INTEGER,
        V::Double(d) if d.is_finite() => value_type::DOUBLE,
        V::Bool(_) => value_type::BOOLEAN,
        // Strings, and what is written as text: bytes (hex), arrays and maps (JSON), other
        // doubles.
        _ => value_type::STRING,
    })
}

/// Serializes attributes as a JSON object, in the sender's order.
struct Attributes<'a>(&'a [KeyValue]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for kv in self.0 {
            let key = utf8(&kv.key).map_err(S::Error::custom)?;
            map.serialize_entry(key, &Any(kv.value.as_ref()))?;
        }
        map.end()
    }
}

/// Serializes one attribute value as [`value`] maps it.
struct Any<'a>(Option<&'a AnyValue>);

impl Serialize for Any<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use wire::Value as V;
        match self.0.and_then(|v| v.value.as_ref()) {
            None => s.serialize_unit(),
            Some(V::String(b)) => s.serialize_str(utf8(b).map_err(S::Error::custom)?),
            Some(V::Bool(b)) => s.serialize_bool(*b),
            Some(V::Int(i)) => s.serialize_i64(*i),
            Some(V::Double(d)) if d.is_finite() => s.serialize_f64(*d),
            // Rare shapes go through the reference mapping.
            Some(other) => value(other).map_err(S::Error::custom)?.serialize(s),
        }
    }
}

/// Serializes span events as `[{attrs, name, t}]`.
struct Events<'a>(&'a [wire::Event]);

impl Serialize for Events<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for e in self.0 {
            seq.serialize_element(&Event(e))?;
        }
        seq.end()
    }
}

struct Event<'a>(&'a wire::Event);

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("attrs", &Attributes(&self.0.attributes))?;
        map.serialize_entry("name", utf8(&self.0.name).map_err(S::Error::custom)?)?;
        map.serialize_entry("t", &nanos_to_micros(self.0.time_unix_nano))?;
        map.end()
    }
}

/// Serializes span links as `[{attrs, span_id, trace_id}]`.
struct Links<'a>(&'a [wire::Link]);

impl Serialize for Links<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for l in self.0 {
            seq.serialize_element(&Link(l))?;
        }
        seq.end()
    }
}

struct Link<'a>(&'a wire::Link);

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("attrs", &Attributes(&self.0.attributes))?;
        map.serialize_entry("span_id", &hex::encode(&self.0.span_id))?;
        map.serialize_entry("trace_id", &hex::encode(&self.0.trace_id))?;
        map.end()
    }
}

/// A batch's text under construction.
struct TextBuf {
    buf: Vec<u8>,
}

impl TextBuf {
    fn with_capacity(n: usize) -> Self {
        Self {
            buf: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, s: &str) -> Text {
        let start = self.buf.len();
        self.buf.extend_from_slice(s.as_bytes());
        Text::new(start, self.buf.len())
    }

    fn json(&mut self, value: &impl Serialize) -> Result<Text, serde_json::Error> {
        let start = self.buf.len();
        value.serialize(&mut serde_json::Serializer::new(&mut self.buf))?;
        Ok(Text::new(start, self.buf.len()))
    }

    fn finish(self) -> Result<String, NotUtf8> {
        // Everything appended was `&str` or serde_json output, so this only scans.
        String::from_utf8(self.buf).map_err(|_| NotUtf8)
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
