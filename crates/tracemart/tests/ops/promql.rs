//! Talking to a running Prometheus (instant queries, alerts, exemplars), and the metric names
//! a PromQL expression reads.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

/// A running Prometheus's HTTP API.
#[derive(Clone)]
pub struct Prom {
    pub url: String,
    pub http: reqwest::Client,
}

impl Prom {
    /// `GET /api/v1/<path>?<query>`; panics unless Prometheus says success.
    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let url = reqwest::Url::parse_with_params(&format!("{}/api/v1/{path}", self.url), query)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let resp: Value = self
            .http
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(resp["status"], "success", "{path} {query:?}: {resp}");
        resp["data"].clone()
    }

    /// The result of an instant query (a vector's samples); panics on a query error.
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        match self.api("query", &[("query", expr)]).await["result"].clone() {
            Value::Array(a) => a,
            // A scalar answers one value.
            other => vec![other],
        }
    }

    /// Alerts Prometheus holds now: (alertname, labels, state).
    pub async fn alerts(&self) -> Vec<(String, Value, String)> {
        let data = self.api("alerts", &[]).await;
        data["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                let name = a["labels"]["alertname"].as_str().unwrap_or_default();
                let state = a["state"].as_str().unwrap_or_default();
                (name.to_owned(), a["labels"].clone(), state.to_owned())
            })
            .collect()
    }

    /// Every metric name Prometheus holds a series of.
    pub async fn metric_names(&self) -> BTreeSet<String> {
        let data = self.api("label/__name__/values", &[]).await;
        data.as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(String::from))
            .collect()
    }

    /// Exemplars of `expr` over the last `seconds`.
    pub async fn exemplars(&self, expr: &str, seconds: i64) -> Vec<Value> {
        let now = chrono::Utc::now().timestamp();
        let since = now - seconds;
        let data = self
            .api(
                "query_exemplars",
                &[
                    ("query", expr),
                    ("start", &since.to_string()),
                    ("end", &now.to_string()),
                ],
            )
            .await;
        data.as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["exemplars"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// The keywords that take a list of label names: `by (...)`, `on (...)` and the like.
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// The other keywords.
const KEYWORDS: &[&str] = &["and", "or", "unless", "offset", "bool", "inf", "nan"];

/// The metric names `expr` reads (recording rules' names included), without functions,
/// keywords, label names or label values.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    // Drop what is not a metric name: strings, label matchers, ranges, grouping label lists.
    let mut plain = String::new();
    let mut depth_braces = 0;
    let mut in_string = None;
    let mut in_range = false;
    for c in expr.chars() {
        if let Some(q) = in_string {
            if c == q {
                in_string = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => in_string = Some(c),
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => in_range = true,
            ']' => in_range = false,
            _ if depth_braces > 0 || in_range => {}
            _ => plain.push(c),
        }
        if matches!(c, '{' | '}' | '[' | ']') {
            plain.push(' ');
        }
    }
    let plain = without_grouping_labels(&plain);
    let chars: Vec<char> = plain.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':' | '$'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
            let lower = word.to_ascii_lowercase();
            let keyword = KEYWORDS.contains(&lower.as_str()) || GROUPING.contains(&lower.as_str());
            if !keyword && !word.starts_with('$') && next != Some('(') {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number, with its exponent or duration unit.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    names
}

/// `text` without the label lists of `by (...)`, `on (...)` and the like.
fn without_grouping_labels(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_');
        let word_here = GROUPING.iter().find(|w| {
            let end = i + w.len();
            boundary
                && end <= chars.len()
                && chars[i..end]
                    .iter()
                    .collect::<String>()
                    .eq_ignore_ascii_case(w)
                && chars
                    .get(end)
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        });
        if let Some(w) = word_here {
            let mut j = i + w.len();
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            if chars.get(j) == Some(&'(') {
                while j < chars.len() && chars[j] != ')' {
                    j += 1;
                }
                out.push(' ');
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[test]
fn metric_names_are_told_apart_from_functions_labels_and_keywords() {
    let names = metric_names(
        r#"(sum by (service, le) (rate(http_requests_total{status_class="5xx", a=~"b|c"}[$__rate_interval])) or on() vector(0)) / ignoring(x) slo:order:ratio_rate5m > 1e3 and up == 0"#,
    );
    let expected: BTreeSet<String> = ["http_requests_total", "slo:order:ratio_rate5m", "up"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, expected);
}
