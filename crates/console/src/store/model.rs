//! Rows as the store writes them: OTLP flattened into what the queries need. Text is
//! `Arc<str>` so the writer binds it without copying (sqlx copies `&str` and `String`).

use std::sync::Arc;

/// A resource (process) shared by the spans and logs of one export.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ResourceRow {
    /// `service.name`, or `unknown_service`.
    pub(crate) service: Arc<str>,
    /// JSON object of the resource attributes.
    pub(crate) attributes: Arc<str>,
}

/// One span, ids hex-encoded, times in microseconds since the epoch.
#[derive(Debug, Clone)]
pub(crate) struct SpanRow {
    pub(crate) trace_id: Arc<str>,
    pub(crate) span_id: Arc<str>,
    /// Empty for a root span.
    pub(crate) parent_span_id: Arc<str>,
    pub(crate) operation: Arc<str>,
    /// OTLP `SpanKind` number.
    pub(crate) kind: i32,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub(crate) status_code: i32,
    pub(crate) status_message: Arc<str>,
    /// JSON object `{key: value}` of the span attributes.
    pub(crate) attributes: Arc<str>,
    /// JSON array of `{t, name, attrs}` events (t in µs).
    pub(crate) events: Arc<str>,
    /// JSON array of `{trace_id, span_id, attrs}` links.
    pub(crate) links: Arc<str>,
    pub(crate) scope_name: Arc<str>,
    pub(crate) scope_version: Arc<str>,
    pub(crate) resource: Arc<ResourceRow>,
    /// Searchable tags (scalar attributes plus Jaeger's derived tags), encoded by
    /// [`encode_tags`].
    pub(crate) tags: Arc<str>,
}

/// One log record.
#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub(crate) time_us: i64,
    /// Empty when the record carries no trace context.
    pub(crate) trace_id: Arc<str>,
    pub(crate) span_id: Arc<str>,
    pub(crate) severity_number: i32,
    pub(crate) severity_text: Arc<str>,
    /// The body: text as is, structured bodies as JSON.
    pub(crate) body: Arc<str>,
    /// JSON object of the record's attributes.
    pub(crate) attributes: Arc<str>,
    pub(crate) resource: Arc<ResourceRow>,
}

/// What one export request becomes; the writer stores a batch in one transaction.
#[derive(Debug)]
pub(crate) enum Batch {
    Spans(Vec<SpanRow>),
    Logs(Vec<LogRow>),
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Spans(s) => s.len(),
            Self::Logs(l) => l.len(),
        }
    }
}

/// Separates the `key=value` items of the `spans.tags` column.
pub(crate) const TAG_SEPARATOR: char = '\u{1f}';

/// `\x1fk=v\x1fk2=v2\x1f`; the separator inside a key or value becomes a space.
pub(crate) fn encode_tags<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from(TAG_SEPARATOR);
    for (k, v) in tags {
        out.extend(k.chars().map(clean));
        out.push('=');
        out.extend(v.chars().map(clean));
        out.push(TAG_SEPARATOR);
    }
    out
}

/// The needle that finds one `key=value` item in an encoded tags column.
pub(crate) fn tag_needle(key: &str, value: &str) -> String {
    encode_tags([(key, value)])
}

fn clean(c: char) -> char {
    if c == TAG_SEPARATOR { ' ' } else { c }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_needle_matches_only_a_whole_item() {
        let tags = encode_tags([("http.status", "500"), ("odd\u{1f}key", "v")]);
        assert!(tags.contains(&tag_needle("http.status", "500")));
        assert!(!tags.contains(&tag_needle("http.status", "50")));
        assert!(!tags.contains(&tag_needle("status", "500")));
        assert!(tags.contains(&tag_needle("odd key", "v")));
    }
}
