//! Tag search (`tags={"k":"v"}`, `tag=k:v`) over the spans' stored attributes JSON.
//!
//! Spans once kept a second copy of their attributes, as `\x1fk=v\x1f` items in a `tags`
//! column, for `instr()` to find: about 360 bytes per span, nearly half of the row, written at
//! ingest for a search that is rare. The attributes column already holds every key and value,
//! in serde_json's form, so new spans leave `tags` empty and a search matches the attributes
//! with one `GLOB` per form the value can take there: `"k":"v"` for a string, `"k":v` ended
//! by `,` or `}` for a number or a boolean. Which forms to try comes from `attribute_types`,
//! the types each key was stored with (a search for `user.id=7` tries only the integer form
//! if user ids were only ever integers): one pass over each row, as the old column took.
//! Rows stored before keep their `tags` and are searched in it, exactly as before. Jaeger's
//! derived tags (`span.kind`, `error`, `otel.status_code`) come from the span's own columns.

use serde::Serialize;

use super::model::{STATUS_ERROR, STATUS_OK};
use crate::otlp::kind_name;

/// Bits of `attribute_types.types`: the JSON form a key's values were stored in.
pub(crate) mod value_type {
    pub(crate) const STRING: u8 = 1;
    pub(crate) const INTEGER: u8 = 2;
    pub(crate) const DOUBLE: u8 = 4;
    pub(crate) const BOOLEAN: u8 = 8;
}

/// Separates the `key=value` items of the `tags` column of spans stored before.
const OLD_TAG_SEPARATOR: char = '\u{1f}';

/// What one `key=value` criterion matches.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagMatch {
    /// `GLOB` patterns for the attributes JSON of spans stored with an empty `tags`.
    patterns: Vec<String>,
    /// The item `\x1fk=v\x1f` in the `tags` column of spans stored before.
    old_item: String,
    /// A column of the span that answers the criterion too, and its value.
    derived: Option<(&'static str, i64)>,
}

impl TagMatch {
    /// The criterion for `key=value`, given the types `key`'s values were stored with (`None`:
    /// never). A string attribute matches its exact text; an integer, double or boolean matches
    /// the text Jaeger shows for it (`200`, `2.5`, `2` for 2.0, `true`).
    pub(crate) fn new(key: &str, value: &str, types: Option<u8>) -> Self {
        let types = types.unwrap_or(0);
        let member = format!("*{}:", glob_literal(&json(key)));
        let mut patterns = Vec::new();
        if types & value_type::STRING != 0 {
            // The closing quote ends the value, so "50" does not find "500".
            patterns.push(format!("{member}{}*", glob_literal(&json(value))));
        }
        // A scalar is followed by the next member's `,` or the object's final `}` (the output
        // has no spaces, and nested values are stored as strings).
        let mut scalar =
            |text: &str| patterns.push(format!("{member}{}[,}}]*", glob_literal(text)));
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
            patterns,
            old_item: old_tag_item(key, value),
            derived: derived(key, value),
        }
    }

    /// Appends ` AND (...)` for this criterion to a WHERE clause over spans aliased `s`; bind
    /// [`TagMatch::binds`] in the same place.
    pub(crate) fn push_sql(&self, sql: &mut String) {
        sql.push_str(" AND (CASE WHEN s.tags = '' THEN ");
        if self.patterns.is_empty() {
            sql.push('0');
        } else {
            sql.push('(');
            for i in 0..self.patterns.len() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push_str("s.attributes GLOB ?");
            }
            sql.push(')');
        }
        sql.push_str(" ELSE instr(s.tags, ?) > 0 END");
        if let Some((column, _)) = self.derived {
            sql.push_str(" OR s.");
            sql.push_str(column);
            sql.push_str(" = ?");
        }
        sql.push(')');
    }

    /// The values [`TagMatch::push_sql`]'s placeholders take, in order.
    pub(crate) fn binds(&self) -> impl Iterator<Item = Bind<'_>> {
        self.patterns
            .iter()
            .map(|p| Bind::Text(p))
            .chain([Bind::Text(&self.old_item)])
            .chain(self.derived.map(|(_, v)| Bind::Int(v)))
    }
}

/// One placeholder's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

fn json(value: &(impl Serialize + ?Sized)) -> String {
    // Strings and finite numbers always serialize.
    serde_json::to_string(value).unwrap_or_default()
}

/// `text` matched literally by GLOB: its wildcards and bracket each in a class of their own.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The item the old `tags` column held for `key=value` (a separator inside either was stored
/// as a space).
fn old_tag_item(key: &str, value: &str) -> String {
    let clean = |s: &str| s.replace(OLD_TAG_SEPARATOR, " ");
    format!(
        "{OLD_TAG_SEPARATOR}{}={}{OLD_TAG_SEPARATOR}",
        clean(key),
        clean(value)
    )
}

/// Jaeger's tags derived from a span's kind and status, as the span's columns hold them.
fn derived(key: &str, value: &str) -> Option<(&'static str, i64)> {
    match (key, value) {
        ("span.kind", name) => (1..=5)
            .find(|&k| kind_name(k) == Some(name))
            .map(|k| ("kind", i64::from(k))),
        ("error", "true") | ("otel.status_code", "ERROR") => {
            Some(("status_code", i64::from(STATUS_ERROR)))
        }
        ("otel.status_code", "OK") => Some(("status_code", i64::from(STATUS_OK))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::value_type::{BOOLEAN, DOUBLE, INTEGER, STRING};
    use super::*;

    /// SQLite with spans as the console stores them: `(attributes, tags)` rows, kind and
    /// status; the criterion is run as `find_trace_ids` runs it.
    struct Spans(rusqlite::Connection);

    impl Spans {
        fn new(rows: &[(&str, &str, i32, i32)]) -> Self {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.execute_batch(
                "CREATE TABLE spans (id INTEGER PRIMARY KEY, attributes TEXT NOT NULL, \
                 tags TEXT NOT NULL, kind INTEGER NOT NULL, status_code INTEGER NOT NULL)",
            )
            .unwrap();
            for (attributes, tags, kind, status) in rows {
                conn.execute(
                    "INSERT INTO spans (attributes, tags, kind, status_code) VALUES (?, ?, ?, ?)",
                    rusqlite::params![attributes, tags, kind, status],
                )
                .unwrap();
            }
            Self(conn)
        }

        /// Ids of the rows `m` matches.
        fn matching(&self, m: &TagMatch) -> Vec<i64> {
            let mut sql = "SELECT s.id FROM spans s WHERE 1".to_owned();
            m.push_sql(&mut sql);
            let mut stmt = self.0.prepare(&sql).unwrap();
            let binds: Vec<rusqlite::types::Value> = m
                .binds()
                .map(|b| match b {
                    Bind::Text(t) => rusqlite::types::Value::Text(t.to_owned()),
                    Bind::Int(i) => rusqlite::types::Value::Integer(i),
                })
                .collect();
            stmt.query_map(rusqlite::params_from_iter(binds), |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
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
            "quotes and GLOB wildcards are literal"
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
    fn rows_stored_with_tags_are_searched_in_them_as_before() {
        let old_tags = "\u{1f}http.route=/x\u{1f}user.id=7\u{1f}odd key=v\u{1f}";
        let spans = Spans::new(&[
            (r#"{"http.route":"/x","user.id":7}"#, old_tags, 2, 0),
            (r#"{"http.route":"/x","user.id":8}"#, "", 2, 0),
        ]);
        assert_eq!(
            spans.matching(&TagMatch::new("user.id", "7", Some(INTEGER))),
            vec![1]
        );
        assert_eq!(
            spans.matching(&TagMatch::new("user.id", "8", Some(INTEGER))),
            vec![2]
        );
        assert_eq!(
            spans.matching(&TagMatch::new("http.route", "/x", Some(STRING))),
            vec![1, 2]
        );
        // The old column wrote its separator inside a key as a space.
        assert_eq!(
            spans.matching(&TagMatch::new("odd\u{1f}key", "v", None)),
            vec![1]
        );
        assert!(
            spans
                .matching(&TagMatch::new("user.id", "70", Some(INTEGER)))
                .is_empty()
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
