//! Jaeger's trace shape, written straight from the stored rows into the answer's bytes: a span
//! is turned into JSON while it is serialised (its attributes parsed for that moment), so an
//! answer holds its rows and its bytes, never a JSON tree of every span as well. OTLP-to-Jaeger
//! tag conventions: `span.kind`, `error=true`, `otel.status_code`, `otel.status_description`,
//! `otel.scope.name`.
//!
//! Besides Jaeger's fields a trace carries `truncated`, `totalSpans` (spans the console
//! received of it) and `storedSpans`; a truncated one also says so in `warnings`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::trace_reads::ReadTrace;
use crate::otlp::kind_name;
use crate::store::query::{StoredResource, StoredSpan};

/// One trace of an answer, with its processes numbered `p1`, `p2`, … in order of first use.
pub(crate) struct JaegerTrace<'a> {
    trace: &'a ReadTrace,
    resources: &'a HashMap<i64, StoredResource>,
    /// Resource id of each process, in process order.
    processes: Vec<i64>,
    process_of: HashMap<i64, String>,
}

impl<'a> JaegerTrace<'a> {
    pub(crate) fn new(trace: &'a ReadTrace, resources: &'a HashMap<i64, StoredResource>) -> Self {
        let mut processes = Vec::new();
        let mut process_of = HashMap::new();
        for s in &trace.spans {
            if let Entry::Vacant(e) = process_of.entry(s.resource_id) {
                processes.push(s.resource_id);
                e.insert(format!("p{}", processes.len()));
            }
        }
        Self {
            trace,
            resources,
            processes,
            process_of,
        }
    }

    fn warnings(&self) -> Option<[String; 1]> {
        let t = self.trace;
        t.truncated().then(|| {
            let mut warning = format!(
                "trace truncated: {} of its {} spans, the earliest by start time",
                t.spans.len(),
                t.total
            );
            if t.stored < t.total {
                warning.push_str(&format!(
                    "; the console stored {} and dropped the rest at its per-trace limit",
                    t.stored
                ));
            }
            [warning]
        })
    }
}

impl Serialize for JaegerTrace<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(7))?;
        m.serialize_entry("traceID", &self.trace.trace_id)?;
        m.serialize_entry("spans", &Spans(self))?;
        m.serialize_entry("processes", &Processes(self))?;
        m.serialize_entry("warnings", &self.warnings())?;
        m.serialize_entry("truncated", &self.trace.truncated())?;
        m.serialize_entry("totalSpans", &self.trace.total)?;
        m.serialize_entry("storedSpans", &self.trace.stored)?;
        m.end()
    }
}

struct Spans<'t, 'a>(&'t JaegerTrace<'a>);

impl Serialize for Spans<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut seq = ser.serialize_seq(Some(t.trace.spans.len()))?;
        for s in &t.trace.spans {
            let process = t
                .process_of
                .get(&s.resource_id)
                .map_or("p1", String::as_str);
            seq.serialize_element(&JaegerSpan { s, process })?;
        }
        seq.end()
    }
}

struct Processes<'t, 'a>(&'t JaegerTrace<'a>);

impl Serialize for Processes<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = ser.serialize_map(Some(t.processes.len()))?;
        for (n, id) in t.processes.iter().enumerate() {
            let (service, attributes) = match t.resources.get(id) {
                Some(r) => (r.service.as_str(), parse_object(&r.attributes)),
                // Its spans name their service; the resource row is gone (it never is).
                None => (
                    t.trace
                        .spans
                        .iter()
                        .find(|s| s.resource_id == *id)
                        .map_or("", |s| s.service.as_str()),
                    Map::new(),
                ),
            };
            let tags: Vec<Tag<'_>> = attributes
                .iter()
                .filter(|(k, _)| *k != "service.name")
                .map(|(k, v)| Tag::borrowed(k, v))
                .collect();
            m.serialize_entry(
                &format!("p{}", n + 1),
                &Process {
                    service_name: service,
                    tags,
                },
            )?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct Process<'a> {
    #[serde(rename = "serviceName")]
    service_name: &'a str,
    tags: Vec<Tag<'a>>,
}

struct JaegerSpan<'a> {
    s: &'a StoredSpan,
    process: &'a str,
}

#[derive(Serialize)]
struct Reference<'a> {
    #[serde(rename = "refType")]
    ref_type: &'static str,
    #[serde(rename = "traceID")]
    trace_id: Option<&'a str>,
    #[serde(rename = "spanID")]
    span_id: Option<&'a str>,
}

impl Serialize for JaegerSpan<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let s = self.s;
        let links = parse_array(&s.links);
        let mut references = Vec::with_capacity(1 + links.len());
        if !s.parent_span_id.is_empty() {
            references.push(Reference {
                ref_type: "CHILD_OF",
                trace_id: Some(&s.trace_id),
                span_id: Some(&s.parent_span_id),
            });
        }
        references.extend(links.iter().map(|link| Reference {
            ref_type: "FOLLOWS_FROM",
            trace_id: link.get("trace_id").and_then(Value::as_str),
            span_id: link.get("span_id").and_then(Value::as_str),
        }));
        let attributes = parse_object(&s.attributes);
        let mut tags: Vec<Tag<'_>> = attributes
            .iter()
            .map(|(k, v)| Tag::borrowed(k, v))
            .collect();
        if let Some(kind) = kind_name(s.kind) {
            tags.push(Tag::owned("span.kind", Value::from(kind)));
        }
        match s.status_code {
            2 => {
                tags.push(Tag::owned("error", Value::Bool(true)));
                tags.push(Tag::owned("otel.status_code", Value::from("ERROR")));
            }
            1 => tags.push(Tag::owned("otel.status_code", Value::from("OK"))),
            _ => {}
        }
        for (key, text) in [
            ("otel.status_description", &s.status_message),
            ("otel.scope.name", &s.scope_name),
            ("otel.scope.version", &s.scope_version),
        ] {
            if !text.is_empty() {
                tags.push(Tag::owned(key, Value::from(text.as_str())));
            }
        }
        let events = parse_array(&s.events);
        let logs: Vec<Log<'_>> = events.iter().map(Log).collect();

        let mut m = ser.serialize_map(Some(11))?;
        m.serialize_entry("traceID", &s.trace_id)?;
        m.serialize_entry("spanID", &s.span_id)?;
        m.serialize_entry("operationName", &s.operation)?;
        m.serialize_entry("references", &references)?;
        m.serialize_entry("flags", &1)?;
        m.serialize_entry("startTime", &s.start_us)?;
        m.serialize_entry("duration", &s.duration_us)?;
        m.serialize_entry("tags", &tags)?;
        m.serialize_entry("logs", &logs)?;
        m.serialize_entry("processID", self.process)?;
        m.serialize_entry("warnings", &None::<()>)?;
        m.end()
    }
}

/// A span event as a Jaeger log: its time and its name and attributes as fields.
struct Log<'a>(&'a Value);

impl Serialize for Log<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let mut fields = vec![Tag {
            key: "event",
            value: e.get("name").map_or(Cow::Owned(Value::Null), Cow::Borrowed),
        }];
        if let Some(Value::Object(attrs)) = e.get("attrs") {
            fields.extend(attrs.iter().map(|(k, v)| Tag::borrowed(k, v)));
        }
        let mut m = ser.serialize_map(Some(2))?;
        m.serialize_entry("timestamp", &e.get("t"))?;
        m.serialize_entry("fields", &fields)?;
        m.end()
    }
}

/// A Jaeger key/value with its type name.
struct Tag<'a> {
    key: &'a str,
    value: Cow<'a, Value>,
}

impl<'a> Tag<'a> {
    fn borrowed(key: &'a str, value: &'a Value) -> Self {
        Self {
            key,
            value: Cow::Borrowed(value),
        }
    }

    fn owned(key: &'a str, value: Value) -> Self {
        Self {
            key,
            value: Cow::Owned(value),
        }
    }
}

impl Serialize for Tag<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut m = ser.serialize_map(Some(3))?;
        m.serialize_entry("key", self.key)?;
        match &*self.value {
            Value::Bool(b) => {
                m.serialize_entry("type", "bool")?;
                m.serialize_entry("value", b)?;
            }
            Value::Number(n) => {
                let ty = if n.is_i64() || n.is_u64() {
                    "int64"
                } else {
                    "float64"
                };
                m.serialize_entry("type", ty)?;
                m.serialize_entry("value", n)?;
            }
            Value::String(s) => {
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", s)?;
            }
            Value::Null => {
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", "")?;
            }
            other => {
                m.serialize_entry("type", "string")?;
                m.serialize_entry("value", &other.to_string())?;
            }
        }
        m.end()
    }
}

/// The JSON object in `text`, or an empty one.
pub(crate) fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn parse_array(text: &str) -> Vec<Value> {
    match serde_json::from_str(text) {
        Ok(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}
