//! `tracemart traces` (search, as the console's search page) and `tracemart trace ID` (one
//! trace as an indented tree of spans with their log lines), from the console's API.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::cli::{TraceArgs, TracesArgs};
use crate::console_client::{Console, clock, ms, parameters};

/// Exit code when nothing matched: scripts can tell "no trace" from "found some".
const NOTHING_FOUND: u8 = 3;

pub(crate) async fn search(args: TracesArgs) -> u8 {
    let console = match Console::from_flags(&args.console) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let mut query = parameters(
        &[
            ("lookback", args.lookback.clone()),
            ("limit", args.limit.to_string()),
        ],
        &[
            ("service", &args.service),
            ("operation", &args.operation),
            ("minDuration", &args.min_duration),
            ("maxDuration", &args.max_duration),
        ],
    );
    for tag in &args.tag {
        query.push(("tag", tag.replacen('=', ":", 1)));
    }
    if args.errors {
        query.push(("status", "error".to_owned()));
    }
    let body = match console.get("/api/console/traces", &query).await {
        Ok(b) => b,
        Err(e) => return fail(&e),
    };
    let traces = body["data"].as_array().cloned().unwrap_or_default();
    if args.json {
        println!("{}", Value::Array(traces.clone()));
    } else {
        print!("{}", summary_table(&traces));
    }
    if traces.is_empty() { NOTHING_FOUND } else { 0 }
}

/// One line per trace, newest first as the console answers.
fn summary_table(traces: &[Value]) -> String {
    if traces.is_empty() {
        return "no trace matches\n".to_owned();
    }
    let mut out = format!(
        "{:<12} {:<32} {:>10} {:>5} {:>6}  {}\n",
        "START (UTC)", "TRACE ID", "DURATION", "SPANS", "ERRORS", "ROOT"
    );
    for t in traces {
        let services: Vec<&str> = t["services"]
            .as_array()
            .map(|s| s.iter().filter_map(|s| s["service"].as_str()).collect())
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<12} {:<32} {:>10} {:>5} {:>6}  {}: {}  [{}]{}\n",
            clock(t["start_us"].as_i64().unwrap_or_default()),
            t["trace_id"].as_str().unwrap_or("?"),
            ms(t["duration_us"].as_i64().unwrap_or_default()),
            t["span_count"].as_i64().unwrap_or_default(),
            t["error_count"].as_i64().unwrap_or_default(),
            t["root_service"].as_str().unwrap_or("?"),
            t["root_operation"].as_str().unwrap_or("?"),
            services.join(", "),
            if t["truncated"].as_bool() == Some(true) {
                "  (truncated)"
            } else {
                ""
            },
        ));
    }
    out
}

pub(crate) async fn show(args: TraceArgs) -> u8 {
    let console = match Console::from_flags(&args.console) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let id = args.trace_id.trim().to_ascii_lowercase();
    let trace = match console.get(&format!("/api/traces/{id}"), &[]).await {
        Ok(b) => b["data"][0].clone(),
        Err(e) => return fail(&e),
    };
    let logs = match console
        .get(&format!("/api/console/traces/{id}/logs"), &[])
        .await
    {
        Ok(b) => b["data"].as_array().cloned().unwrap_or_default(),
        Err(e) => return fail(&e),
    };
    if args.json {
        println!("{}", serde_json::json!({"trace": trace, "logs": logs}));
    } else {
        print!("{}", waterfall(&trace, &logs));
    }
    0
}

/// A span of the tree, read from Jaeger's JSON.
struct Node<'a> {
    span: &'a Value,
    id: &'a str,
    start: i64,
}

/// The trace as an indented tree: each span's offset from the trace's start, its duration,
/// service, name and kind, `ERROR` when it failed, and under it the log lines it wrote.
fn waterfall(trace: &Value, logs: &[Value]) -> String {
    let spans = trace["spans"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let services: HashMap<&str, &str> = trace["processes"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(id, proc)| (id.as_str(), proc["serviceName"].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    let ids: HashSet<&str> = spans.iter().filter_map(|s| s["spanID"].as_str()).collect();
    let mut children: HashMap<&str, Vec<Node>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        let node = Node {
            span,
            id: span["spanID"].as_str().unwrap_or_default(),
            start: span["startTime"].as_i64().unwrap_or_default(),
        };
        // A span whose parent is missing (not yet received, or dropped) is shown as a root.
        let parent = span["references"].as_array().and_then(|refs| {
            refs.iter()
                .find(|r| r["refType"] == "CHILD_OF")
                .and_then(|r| r["spanID"].as_str())
                .filter(|p| ids.contains(*p))
        });
        match parent {
            Some(p) => children.entry(p).or_default().push(node),
            None => roots.push(node),
        }
    }
    let mut logs_of: HashMap<&str, Vec<&Value>> = HashMap::new();
    for log in logs {
        logs_of
            .entry(log["span_id"].as_str().unwrap_or_default())
            .or_default()
            .push(log);
    }
    let origin = roots.iter().map(|n| n.start).min().unwrap_or_default();
    let end = spans
        .iter()
        .map(|s| {
            s["startTime"].as_i64().unwrap_or_default() + s["duration"].as_i64().unwrap_or_default()
        })
        .max()
        .unwrap_or(origin);
    let mut out = format!(
        "trace {} · {} spans · {} services · {}\n",
        trace["traceID"].as_str().unwrap_or("?"),
        spans.len(),
        services.len(),
        ms(end - origin)
    );
    if let Some(w) = trace["warnings"].as_array() {
        for w in w.iter().filter_map(Value::as_str) {
            out.push_str(&format!("warning: {w}\n"));
        }
    }
    let tree = Tree {
        children,
        logs_of,
        services,
        origin,
    };
    roots.sort_by_key(|n| n.start);
    for root in &roots {
        tree.write(root, 0, &mut out);
    }
    // Log lines of spans the trace does not hold (or of none) still belong to the trace.
    for (span, lines) in &tree.logs_of {
        if !ids.contains(span) {
            for line in lines {
                out.push_str(&log_line(line, 0, tree.origin));
            }
        }
    }
    out
}

struct Tree<'a> {
    children: HashMap<&'a str, Vec<Node<'a>>>,
    logs_of: HashMap<&'a str, Vec<&'a Value>>,
    services: HashMap<&'a str, &'a str>,
    origin: i64,
}

impl Tree<'_> {
    fn write(&self, node: &Node, depth: usize, out: &mut String) {
        let s = node.span;
        let tags = s["tags"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let tag = |key: &str| tags.iter().find(|t| t["key"] == key).map(|t| &t["value"]);
        let failed = tag("error") == Some(&Value::Bool(true))
            || tag("otel.status_code").and_then(Value::as_str) == Some("ERROR");
        let kind = tag("span.kind")
            .and_then(Value::as_str)
            .unwrap_or("internal");
        out.push_str(&format!(
            "{:>10} {:>10}  {}{}  {} ({kind}){}\n",
            ms(node.start - self.origin),
            ms(s["duration"].as_i64().unwrap_or_default()),
            "  ".repeat(depth),
            self.services
                .get(s["processID"].as_str().unwrap_or_default())
                .unwrap_or(&"?"),
            s["operationName"].as_str().unwrap_or("?"),
            if failed { "  ERROR" } else { "" },
        ));
        // The span's log lines and child spans, in the order they happened.
        let mut under: Vec<(i64, Result<&Value, &Node>)> = self
            .logs_of
            .get(node.id)
            .into_iter()
            .flatten()
            .map(|l| (l["time"].as_i64().unwrap_or_default(), Ok(*l)))
            .chain(
                self.children
                    .get(node.id)
                    .into_iter()
                    .flatten()
                    .map(|n| (n.start, Err(n))),
            )
            .collect();
        under.sort_by_key(|(t, _)| *t);
        for (_, item) in under {
            match item {
                Ok(line) => out.push_str(&log_line(line, depth + 1, self.origin)),
                Err(kid) => self.write(kid, depth + 1, out),
            }
        }
    }
}

fn log_line(log: &Value, depth: usize, origin: i64) -> String {
    format!(
        "{:>10} {:>10}  {}· {:<5} {}\n",
        ms(log["time"].as_i64().unwrap_or_default() - origin),
        "",
        "  ".repeat(depth),
        log["severity"].as_str().unwrap_or("?"),
        log["body"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| log["body"].to_string()),
    )
}

fn fail(e: &str) -> u8 {
    eprintln!("error: {e}");
    1
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn a_trace_prints_as_a_tree_with_its_log_lines_under_their_spans() {
        let trace = json!({
            "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spans": [
                {"spanID": "b", "operationName": "GET /users/{id}", "startTime": 1_000_500,
                 "duration": 2_000, "processID": "p2",
                 "references": [{"refType": "CHILD_OF", "spanID": "a"}],
                 "tags": [{"key": "span.kind", "value": "server"},
                          {"key": "error", "value": true}]},
                {"spanID": "a", "operationName": "POST /orders", "startTime": 1_000_000,
                 "duration": 12_500, "processID": "p1", "references": [],
                 "tags": [{"key": "span.kind", "value": "server"}]},
            ],
            "processes": {"p1": {"serviceName": "order-service"},
                          "p2": {"serviceName": "user-service"}},
        });
        let logs = [
            json!({"time": 1_000_100, "severity": "INFO", "body": "Request started",
                          "span_id": "a"}),
        ];
        let text = waterfall(&trace, &logs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 · 2 spans · 2 services · 12.5 ms"
        );
        assert!(
            lines[1].ends_with("order-service  POST /orders (server)"),
            "{text}"
        );
        assert!(lines[2].contains("  · INFO  Request started"), "{text}");
        assert!(lines[2].trim_start().starts_with("0.1 ms"), "{text}");
        assert!(
            lines[3].ends_with("  user-service  GET /users/{id} (server)  ERROR"),
            "{text}"
        );
        assert!(lines[3].trim_start().starts_with("0.5 ms"), "{text}");
    }

    #[test]
    fn a_span_whose_parent_is_missing_is_shown_as_a_root() {
        let trace = json!({
            "traceID": "t",
            "spans": [{"spanID": "c", "operationName": "process order.created",
                       "startTime": 5, "duration": 1, "processID": "p1",
                       "references": [{"refType": "CHILD_OF", "spanID": "gone"}], "tags": []}],
            "processes": {"p1": {"serviceName": "payment-service"}},
        });
        let text = waterfall(&trace, &[]);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .ends_with("  payment-service  process order.created (internal)"),
            "{text}"
        );
    }
}
