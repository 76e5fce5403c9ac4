//! Tag search (`tags={"k":"v"}`, `tag=k:v`) over the spans' stored attributes JSON.
//!
//! Spans once kept a second copy of their attributes, as `\x1fk=v\x1f` items in a `tags`
//! column, for `instr()` to find: about 360 bytes per span, nearly half of the row, written at
//! ingest for a search that is rare. The attributes column already holds every key and value
//! in one canonical form (serde_json's), so a search now looks there for each form the value
//! could have been stored in, and answers Jaeger's derived tags (`span.kind`, `error`,
//! `otel.status_code`) from the span's own columns. Rows written before keep their old column
//! until retention deletes them; it is no longer read or written.

use serde::Serialize;

use super::model::{STATUS_ERROR, STATUS_OK};
use crate::otlp::kind_name;

/// What one `key=value` criterion matches: any of `needles` in the attributes JSON, or the
/// span column `derived` names equal to its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagMatch {
    needles: Vec<String>,
    derived: Option<(&'static str, i64)>,
}

impl TagMatch {
    /// The criterion for `key=value`. A string attribute matches its exact text; an integer,
    /// double or boolean attribute matches the text Jaeger shows for it (`200`, `2.5`, `true`).
    pub(crate) fn new(key: &str, value: &str) -> Self {
        let key_json = json(key);
        // A string value's closing quote ends the match, so "50" does not find "500".
        let mut needles = vec![format!("{key_json}:{}", json(value))];
        // Scalars end at the next member (`,`) or at the end of the object (`}`).
        let mut scalar = |text: String| {
            needles.push(format!("{key_json}:{text},"));
            needles.push(format!("{key_json}:{text}}}"));
        };
        if value == "true" || value == "false" {
            scalar(value.to_owned());
        } else if let Ok(i) = value.parse::<i64>() {
            if i.to_string() == value {
                scalar(value.to_owned());
            }
            // A double with a whole value shows as "2" but is stored as `2.0`.
            if let Some(d) = whole_double(i) {
                scalar(d);
            }
        } else if let Ok(d) = value.parse::<f64>()
            && d.is_finite()
            && d.to_string() == value
        {
            scalar(json(&d));
        }
        Self {
            needles,
            derived: derived(key, value),
        }
    }

    /// Appends ` AND (...)` for this criterion to a WHERE clause over spans aliased `s`; bind
    /// [`TagMatch::binds`] in the same place.
    pub(crate) fn push_sql(&self, sql: &mut String) {
        sql.push_str(" AND (");
        for (i, _) in self.needles.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str("instr(s.attributes, ?) > 0");
        }
        if let Some((column, _)) = self.derived {
            sql.push_str(" OR s.");
            sql.push_str(column);
            sql.push_str(" = ?");
        }
        sql.push(')');
    }

    /// The values [`TagMatch::push_sql`]'s placeholders take, in order.
    pub(crate) fn binds(&self) -> impl Iterator<Item = Bind<'_>> {
        self.needles
            .iter()
            .map(|n| Bind::Text(n))
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

/// serde_json's text for `i` as a double, when the double is exactly `i`.
fn whole_double(i: i64) -> Option<String> {
    let d = i as f64;
    (d as i64 == i && d.to_string() == i.to_string()).then(|| json(&d))
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
    use super::*;

    /// Whether the criterion finds a span with these attributes (as the store serializes them)
    /// and this kind and status.
    fn finds(m: &TagMatch, attributes: &serde_json::Value, kind: i64, status: i64) -> bool {
        let text = attributes.to_string();
        m.needles.iter().any(|n| text.contains(n.as_str()))
            || m.derived.is_some_and(|(column, v)| match column {
                "kind" => kind == v,
                _ => status == v,
            })
    }

    #[test]
    fn values_match_whole_and_in_every_stored_form() {
        let attrs = serde_json::json!({
            "http.route": "/orders/{id}",
            "http.response.status_code": 500,
            "ratio": 2.5,
            "whole": 2.0,
            "cached": false,
            "quoted": "say \"hi\"",
            "last": 7
        });
        let hit = |k: &str, v: &str| finds(&TagMatch::new(k, v), &attrs, 1, 0);
        assert!(hit("http.route", "/orders/{id}"));
        assert!(hit("http.response.status_code", "500"));
        assert!(hit("ratio", "2.5"));
        assert!(hit("whole", "2"));
        assert!(hit("cached", "false"));
        assert!(hit("quoted", "say \"hi\""));
        assert!(hit("last", "7"), "the last member ends with the object");

        assert!(
            !hit("http.response.status_code", "50"),
            "a prefix of a number"
        );
        assert!(!hit("http.route", "/orders"), "a prefix of a string");
        assert!(!hit("route", "/orders/{id}"), "a suffix of a key");
        assert!(!hit("cached", "true"));
        assert!(!hit("last", "07"), "not the text Jaeger shows");
    }

    #[test]
    fn a_string_inside_a_nested_value_is_not_a_member() {
        // Arrays and maps are stored as JSON text inside a string, so their quotes are escaped.
        let attrs = serde_json::json!({"nested": "{\"k\":\"v\"}", "list": "[\"k\",1]"});
        assert!(!finds(&TagMatch::new("k", "v"), &attrs, 1, 0));
        assert!(finds(
            &TagMatch::new("nested", "{\"k\":\"v\"}"),
            &attrs,
            1,
            0
        ));
    }

    #[test]
    fn derived_tags_come_from_kind_and_status() {
        let none = serde_json::json!({});
        assert!(finds(&TagMatch::new("span.kind", "server"), &none, 2, 0));
        assert!(!finds(&TagMatch::new("span.kind", "server"), &none, 3, 0));
        assert!(finds(&TagMatch::new("error", "true"), &none, 1, 2));
        assert!(!finds(&TagMatch::new("error", "true"), &none, 1, 1));
        assert!(finds(&TagMatch::new("otel.status_code", "OK"), &none, 1, 1));
        // An attribute of the same name matches too, as it did when both were tags.
        let set = serde_json::json!({"error": true});
        assert!(finds(&TagMatch::new("error", "true"), &set, 1, 0));
    }

    #[test]
    fn placeholders_and_binds_line_up() {
        let m = TagMatch::new("span.kind", "server");
        let mut sql = String::new();
        m.push_sql(&mut sql);
        assert_eq!(sql.matches('?').count(), m.binds().count());
        assert_eq!(m.binds().last(), Some(Bind::Int(2)));
    }
}
