//! Traces as the console's Jaeger API returns them, with the few accessors the tests read.

use std::collections::HashSet;

use serde_json::Value;

/// A trace in Jaeger's JSON shape.
#[derive(Debug, Clone)]
pub struct Trace(pub Value);

impl Trace {
    pub fn spans(&self) -> Vec<Span<'_>> {
        self.0["spans"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| Span {
                        trace: self,
                        json: s,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn services(&self) -> HashSet<String> {
        self.spans()
            .iter()
            .map(|s| s.service().to_owned())
            .collect()
    }
}

/// One span of a [`Trace`].
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    trace: &'a Trace,
    pub json: &'a Value,
}

impl Span<'_> {
    pub fn service(&self) -> &str {
        let pid = self.json["processID"].as_str().unwrap_or_default();
        self.trace.0["processes"][pid]["serviceName"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn operation(&self) -> &str {
        self.json["operationName"].as_str().unwrap_or_default()
    }

    pub fn tag(&self, key: &str) -> Option<&Value> {
        self.json["tags"]
            .as_array()?
            .iter()
            .find(|t| t["key"] == key)
            .map(|t| &t["value"])
    }

    /// Jaeger's `error=true` tag together with `otel.status_code=ERROR`.
    pub fn is_error(&self) -> bool {
        self.tag("error") == Some(&Value::Bool(true))
            && self.tag("otel.status_code").and_then(Value::as_str) == Some("ERROR")
    }

    pub fn parent(&self) -> Option<&str> {
        self.json["references"]
            .as_array()?
            .iter()
            .find(|r| r["refType"] == "CHILD_OF")
            .and_then(|r| r["spanID"].as_str())
    }
}
