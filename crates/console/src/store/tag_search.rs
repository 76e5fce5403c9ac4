//! Tag search (`tags={"k":"v"}`, `tag=k:v`) over the spans' blocks (`store/blocks.rs`).
//!
//! Each block keeps a filter of its spans' attributes, each hashed with its value as Jaeger
//! shows it; a search opens only the blocks whose filter may hold every tag asked for, newest
//! first, and stops when no block left can change the answer. Jaeger's derived tags
//! (`span.kind`, `error`, `otel.status_code`) come from the span's kind and status: a search
//! for those alone, when no span ever had an attribute of that name, reads the rows' columns
//! (`query.rs`) and opens no block. In an opened block a span's
//! attributes JSON is matched with one literal per form the value can take there: `"k":"v"`
//! for a string, `"k":v` ended by `,` or `}` for a number or a boolean. Which forms to try comes
//! from `attribute_types`, the types each key was stored with (a search for `user.id=7` tries
//! only the integer form if user ids were only ever integers).

use std::collections::HashMap;

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::Store;
use super::blocks::{self, BlockSpan, Decoded, filter};
use super::failure::{STATUS_ERROR, STATUS_OK};
use super::model::trace_hex;
use super::query::{TraceQuery, marks};
use crate::otlp::kind_name;

/// Bits of `attribute_types.types`: the JSON form a key's values were stored in.
pub(crate) mod value_type {
    pub(crate) const STRING: u8 = 1;
    pub(crate) const INTEGER: u8 = 2;
    pub(crate) const DOUBLE: u8 = 4;
    pub(crate) const BOOLEAN: u8 = 8;
}

/// What one `key=value` criterion matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagMatch {
    /// Literals of the attributes JSON that hold the tag, and whether a `,` or `}` must follow
    /// (a scalar's end).
    needles: Vec<(String, bool)>,
    /// A field of the span that answers the criterion too, and its value.
    derived: Option<(Derived, i32)>,
    /// The tag as block filters hold it.
    hash: u64,
}

/// The span fields Jaeger derives tags from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Derived {
    Kind,
    Status,
}

impl TagMatch {
    /// The criterion for `key=value`, given the types `key`'s values were stored with (`None`:
    /// never). A string attribute matches its exact text; an integer, double or boolean matches
    /// the text Jaeger shows for it (`200`, `2.5`, `2` for 2.0, `true`).
    pub(crate) fn new(key: &str, value: &str, types: Option<u8>) -> Self {
        let types = types.unwrap_or(0);
        let member = format!("{}:", json(key));
        let mut needles = Vec::new();
        if types & value_type::STRING != 0 {
            // The closing quote ends the value, so "50" does not find "500".
            needles.push((format!("{member}{}", json(value)), false));
        }
        // A scalar is followed by the next member's `,` or the object's final `}` (the output
        // has no spaces, and nested values are stored as strings).
        let mut scalar = |text: &str| needles.push((format!("{member}{text}"), true));
        let is_bool = value == "true" || value == "false";
        if types & value_type::BOOLEAN != 0 && is_bool {
            scalar(value);
        }
        if types & value_type::INTEGER != 0
            && value.parse::<i64>().is_ok_and(|i| i.to_string() == value)
        {
            scalar(value);
        }
        if types & value_type::DOUBLE != 0
            && let Ok(d) = value.parse::<f64>()
            && d.is_finite()
            && d.to_string() == value
        {
            // Jaeger shows 2.0 as "2"; serde_json stores it as `2.0`.
            scalar(&json(&d));
        }
        Self {
            needles,
            derived: derived(key, value),
            hash: blocks::tag_hash(key, value),
        }
    }

    /// The span column and value this criterion comes down to, when no attribute can match it
    /// (its key was never stored); `None` when it needs the attributes, or matches nothing.
    pub(crate) fn column_only(&self) -> Option<(&'static str, i32)> {
        if !self.needles.is_empty() {
            return None;
        }
        self.derived.map(|(field, value)| match field {
            Derived::Kind => ("kind", value),
            Derived::Status => ("status_code", value),
        })
    }

    /// Whether no span can match: no attribute form and no derived field.
    pub(crate) fn matches_nothing(&self) -> bool {
        self.needles.is_empty() && self.derived.is_none()
    }

    /// Whether the span carries the tag.
    pub(crate) fn matches(&self, span: &BlockSpan<'_>) -> bool {
        let by_field = self.derived.is_some_and(|(field, want)| match field {
            Derived::Kind => span.kind == want,
            Derived::Status => span.status_code == want,
        });
        by_field
            || self.needles.iter().any(|(needle, scalar)| {
                span.attributes
                    .match_indices(needle.as_str())
                    .any(|(at, _)| {
                        !*scalar
                            || matches!(
                                span.attributes.as_bytes().get(at + needle.len()),
                                Some(b',' | b'}')
                            )
                    })
            })
    }
}

impl Store {
    /// Ids of the most recent traces with a span matching the query and every tag criterion,
    /// newest first: by the matching span's start when a service is named (Jaeger's search),
    /// else by the trace's start, within the window.
    pub(crate) async fn find_by_tags(
        &self,
        q: &TraceQuery,
        tags: &[TagMatch],
    ) -> Result<Vec<String>, sqlx::Error> {
        let limit = q.limit.max(1);
        let by_span_start = q.service.is_some();
        // A trace starts no later than its spans: blocks whose spans all started before the
        // window hold none of its traces.
        let candidates: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT first_span_id, max_start_us, filter FROM span_blocks \
             WHERE max_start_us >= ? AND min_start_us <= ? ORDER BY max_start_us DESC",
        )
        .bind(q.start_us)
        .bind(if by_span_start { q.end_us } else { i64::MAX })
        .fetch_all(&self.pool)
        .await?;
        // Trace id -> what orders it (the latest matching span's start, or the trace's).
        let mut found: HashMap<String, i64> = HashMap::new();
        for (first, max_start, block_filter) in candidates {
            if found.len() >= limit && max_start < kth_largest(&found, limit) {
                // Every span left started before the `limit`-th trace found.
                break;
            }
            if !tags
                .iter()
                .all(|t| t.derived.is_some() || filter::may_contain(&block_filter, t.hash))
            {
                continue;
            }
            let data: Vec<u8> =
                sqlx::query_scalar("SELECT data FROM span_blocks WHERE first_span_id = ?")
                    .bind(first)
                    .fetch_one(&self.pool)
                    .await?;
            let hits = match Decoded::new(&data)
                .and_then(|d| Ok(matching_spans(&d.spans()?, q, tags, by_span_start)))
            {
                Ok(hits) => hits,
                Err(e) => {
                    tracing::warn!(block = first, error = %e, "console could not read a span block");
                    continue;
                }
            };
            self.add_stored(&mut found, hits, q, by_span_start).await?;
        }
        let mut ids: Vec<(String, i64)> = found.into_iter().collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ids.truncate(limit);
        Ok(ids.into_iter().map(|(id, _)| id).collect())
    }

    /// Adds the hits (trace id, span start) of traces still stored to `found`: a block keeps
    /// the spans of traces retention deleted until its last trace goes.
    async fn add_stored(
        &self,
        found: &mut HashMap<String, i64>,
        hits: HashMap<String, i64>,
        q: &TraceQuery,
        by_span_start: bool,
    ) -> Result<(), sqlx::Error> {
        if hits.is_empty() {
            return Ok(());
        }
        let ids: Vec<&String> = hits.keys().collect();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT trace_id, start_us FROM traces WHERE trace_id IN ({}) AND span_count > 0{}",
                marks(chunk.len()),
                q.failed_filter("")
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for (id, trace_start) in query.fetch_all(&self.pool).await? {
                let key = if by_span_start {
                    hits.get(&id).copied().unwrap_or(trace_start)
                } else if (q.start_us..=q.end_us).contains(&trace_start) {
                    trace_start
                } else {
                    continue;
                };
                let entry = found.entry(id).or_insert(key);
                *entry = (*entry).max(key);
            }
        }
        Ok(())
    }
}

/// The spans of a block that match the query, as trace id -> the latest such span's start.
fn matching_spans(
    spans: &[Option<BlockSpan<'_>>],
    q: &TraceQuery,
    tags: &[TagMatch],
    by_span_start: bool,
) -> HashMap<String, i64> {
    let mut hits: HashMap<String, i64> = HashMap::new();
    for s in spans.iter().flatten() {
        let wanted = q.service.as_deref().is_none_or(|v| v == s.service)
            && q.operation.as_deref().is_none_or(|v| v == s.operation)
            && q.min_duration_us.is_none_or(|min| s.duration_us >= min)
            && q.max_duration_us.is_none_or(|max| s.duration_us <= max)
            && (!by_span_start || (q.start_us..=q.end_us).contains(&s.start_us))
            && tags.iter().all(|t| t.matches(s));
        if wanted {
            let start = hits
                .entry(trace_hex(&s.trace_id).as_str().to_owned())
                .or_insert(s.start_us);
            *start = (*start).max(s.start_us);
        }
    }
    hits
}

/// The `k`-th largest value of `found` (`k` >= 1, at most its length).
fn kth_largest(found: &HashMap<String, i64>, k: usize) -> i64 {
    let mut values: Vec<i64> = found.values().copied().collect();
    let at = values.len().saturating_sub(k);
    *values.select_nth_unstable(at).1
}

fn json(value: &(impl Serialize + ?Sized)) -> String {
    // Strings and finite numbers always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// Jaeger's tags derived from a span's kind and status.
fn derived(key: &str, value: &str) -> Option<(Derived, i32)> {
    match (key, value) {
        ("span.kind", name) => (1..=5)
            .find(|&k| kind_name(k) == Some(name))
            .map(|k| (Derived::Kind, k)),
        ("error", "true") | ("otel.status_code", "ERROR") => Some((Derived::Status, STATUS_ERROR)),
        ("otel.status_code", "OK") => Some((Derived::Status, STATUS_OK)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::value_type::{BOOLEAN, DOUBLE, INTEGER, STRING};
    use super::*;

    /// Spans as blocks hold them: attributes JSON, kind and status.
    struct Spans(Vec<(String, i32, i32)>);

    impl Spans {
        fn new(rows: &[(&str, &str, i32, i32)]) -> Self {
            Self(
                rows.iter()
                    .map(|(attributes, _, kind, status)| ((*attributes).to_owned(), *kind, *status))
                    .collect(),
            )
        }

        /// Numbers (from 1) of the spans `m` matches.
        fn matching(&self, m: &TagMatch) -> Vec<i64> {
            (1..)
                .zip(&self.0)
                .filter(|(_, (attributes, kind, status))| {
                    m.matches(&BlockSpan {
                        trace_id: [1; 16],
                        span_id: [1; 8],
                        parent_span_id: None,
                        service: "order",
                        operation: "op",
                        kind: *kind,
                        start_us: 0,
                        duration_us: 0,
                        status_code: *status,
                        status_message: "",
                        attributes,
                        events: "[]",
                        links: "[]",
                        scope_name: "",
                        scope_version: "",
                        resource_id: 0,
                    })
                })
                .map(|(n, _)| n)
                .collect()
        }
    }

    fn attrs(value: serde_json::Value) -> String {
        value.to_string()
    }

    #[test]
    fn values_match_whole_in_the_form_their_key_was_stored_in() {
        let row = attrs(serde_json::json!({
            "cached": false,
            "http.response.status_code": 500,
            "http.route": "/orders/{id}",
            "quoted": "say \"hi\" [*?]",
            "ratio": 2.5,
            "whole": 2.0,
        }));
        let spans = Spans::new(&[(&row, "", 2, 0)]);
        let hit = |k: &str, v: &str, types: u8| {
            !spans.matching(&TagMatch::new(k, v, Some(types))).is_empty()
        };
        assert!(hit("http.route", "/orders/{id}", STRING));
        assert!(hit("http.response.status_code", "500", INTEGER));
        assert!(hit("ratio", "2.5", DOUBLE));
        assert!(hit("whole", "2", DOUBLE | INTEGER));
        assert!(hit("cached", "false", BOOLEAN));
        assert!(
            hit("quoted", "say \"hi\" [*?]", STRING),
            "quotes and wildcards are literal"
        );
        assert!(hit("http.response.status_code", "500", INTEGER | STRING));

        assert!(
            !hit("http.response.status_code", "50", INTEGER),
            "a prefix of a number"
        );
        assert!(
            !hit("http.route", "/orders", STRING),
            "a prefix of a string"
        );
        assert!(!hit("route", "/orders/{id}", STRING), "a suffix of a key");
        assert!(!hit("cached", "true", BOOLEAN));
        assert!(
            !hit("http.response.status_code", "0500", INTEGER),
            "not the text Jaeger shows"
        );
        assert!(
            !hit("quoted", "say \"hi\" [a]", STRING),
            "[a] is not a class"
        );
        assert!(
            !hit("http.response.status_code", "500", STRING),
            "stored as a number only"
        );
    }

    #[test]
    fn a_key_never_stored_matches_nothing_new() {
        let row = attrs(serde_json::json!({"user.id": 7}));
        let spans = Spans::new(&[(&row, "", 2, 0)]);
        assert!(
            spans
                .matching(&TagMatch::new("user.id", "7", None))
                .is_empty()
        );
    }

    #[test]
    fn a_key_that_ends_another_key_or_sits_in_a_nested_value_is_not_a_member() {
        let rows = [
            attrs(serde_json::json!({"app.user.id": 7, "user.id": 8})),
            // Arrays and maps are stored as JSON text inside a string: their quotes are escaped.
            attrs(serde_json::json!({"nested": "{\"user.id\":7}"})),
            attrs(serde_json::json!({"user.id": 7})),
        ];
        let spans = Spans::new(&[
            (&rows[0], "", 2, 0),
            (&rows[1], "", 2, 0),
            (&rows[2], "", 2, 0),
        ]);
        assert_eq!(
            spans.matching(&TagMatch::new("user.id", "7", Some(INTEGER | STRING))),
            vec![3]
        );
        assert_eq!(
            spans.matching(&TagMatch::new("user.id", "8", Some(INTEGER))),
            vec![1]
        );
    }

    #[test]
    fn derived_tags_come_from_kind_and_status() {
        let spans = Spans::new(&[
            ("{}", "", 2, 2),
            ("{}", "", 3, 1),
            (r#"{"error":true}"#, "", 1, 0),
        ]);
        let find = |k: &str, v: &str, types| spans.matching(&TagMatch::new(k, v, types));
        assert_eq!(find("span.kind", "server", None), vec![1]);
        assert_eq!(find("span.kind", "client", None), vec![2]);
        assert_eq!(find("otel.status_code", "OK", None), vec![2]);
        // An attribute of the same name matches too, as it did when both were tags.
        assert_eq!(find("error", "true", Some(BOOLEAN)), vec![1, 3]);
        assert!(find("span.kind", "sideways", None).is_empty());
    }
}
