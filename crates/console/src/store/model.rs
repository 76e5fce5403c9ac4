//! Rows as the store writes them: OTLP flattened into what the queries need.
//!
//! One export becomes one batch whose variable-length text (names, JSON attributes, events) sits
//! in a single `String`; rows hold ranges of it and fixed-size ids, so converting a span
//! allocates nothing of its own.

use std::sync::Arc;

/// A range of a batch's text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Text {
    start: u32,
    end: u32,
}

impl Text {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        // Batches come from requests of at most `max_request_bytes` (16 MiB by default); JSON
        // escaping cannot grow that past 4 GiB, so saturating never cuts real text.
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            start: clamp(start),
            end: clamp(end),
        }
    }

    /// The text this range names in `text` (empty if it does not fit, which cannot happen
    /// for ranges made by the same batch).
    pub(crate) fn of<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A trace id (16 bytes, not all zero).
pub(crate) type TraceId = [u8; 16];
/// A span id (8 bytes, not all zero).
pub(crate) type SpanId = [u8; 8];

/// A resource (process) shared by the spans or logs of one export.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ResourceRow {
    /// `service.name`, or `unknown_service`.
    pub(crate) service: Arc<str>,
    /// JSON object of the resource attributes, keys sorted: the text is the resource's
    /// identity in the `resources` table.
    pub(crate) attributes: String,
}

/// One span, times in microseconds since the epoch.
#[derive(Debug, Clone)]
pub(crate) struct SpanRow {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    /// `None` for a root span.
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) operation: Text,
    /// OTLP `SpanKind` number.
    pub(crate) kind: i32,
    pub(crate) start_us: i64,
    pub(crate) duration_us: i64,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub(crate) status_code: i32,
    pub(crate) status_message: Text,
    /// JSON object `{key: value}` of the span attributes.
    pub(crate) attributes: Text,
    /// JSON array of `{attrs, name, t}` events (t in µs).
    pub(crate) events: Text,
    /// JSON array of `{attrs, span_id, trace_id}` links.
    pub(crate) links: Text,
    /// Index into the batch's scopes.
    pub(crate) scope: u32,
    /// Index into the batch's resources.
    pub(crate) resource: u32,
    /// The range of the batch's `tag_hashes` that are this span's tags.
    pub(crate) tags: (u32, u32),
}

impl SpanRow {
    /// A failed request: an entry span that failed (`failure.rs` has the rule).
    pub(crate) fn failed_request(&self) -> bool {
        super::failure::failed_request(self.kind, self.parent_span_id.is_none(), self.status_code)
    }
}

/// An instrumentation scope: name and version.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ScopeRow {
    pub(crate) name: Text,
    pub(crate) version: Text,
}

/// One log record.
#[derive(Debug, Clone)]
pub(crate) struct LogRow {
    pub(crate) time_us: i64,
    /// `None` when the record carries no trace context.
    pub(crate) trace_id: Option<TraceId>,
    pub(crate) span_id: Option<SpanId>,
    pub(crate) severity_number: i32,
    pub(crate) severity_text: Text,
    /// The body: text as is, structured bodies as JSON.
    pub(crate) body: Text,
    /// JSON object of the record's attributes.
    pub(crate) attributes: Text,
    /// Index into the batch's resources.
    pub(crate) resource: u32,
}

/// A span link with whole, non-zero ids, for the `span_links` index (the span's `links` JSON
/// keeps every link as sent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkRow {
    /// Index of the linking span in the batch's rows.
    pub(crate) span: u32,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
}

/// The spans of one export.
#[derive(Debug, Default)]
pub(crate) struct SpanBatch {
    pub(crate) text: String,
    pub(crate) resources: Vec<ResourceRow>,
    pub(crate) scopes: Vec<ScopeRow>,
    pub(crate) rows: Vec<SpanRow>,
    /// The links of all rows: empty for most batches, which then cost the index nothing.
    pub(crate) links: Vec<LinkRow>,
    /// Each attribute key of the rows, with the types of its values (bits of
    /// `tag_search::value_type`).
    pub(crate) attribute_types: Vec<(Text, u8)>,
    /// The tags of all rows, hashed for block filters (`blocks::tag_hash`), each row's in the
    /// range `SpanRow::tags` names.
    pub(crate) tag_hashes: Vec<u64>,
}

impl SpanBatch {
    /// The tag hashes of a span of this batch.
    pub(crate) fn tag_hashes(&self, row: &SpanRow) -> &[u64] {
        self.tag_hashes
            .get(row.tags.0 as usize..row.tags.1 as usize)
            .unwrap_or_default()
    }

    /// Service name of a span of this batch.
    pub(crate) fn service(&self, row: &SpanRow) -> &Arc<str> {
        resource_service(&self.resources, row.resource)
    }

    /// Keeps the rows `keep` says yes to, in order, with their links; the text stays whole.
    pub(crate) fn retain_rows(&mut self, mut keep: impl FnMut(&SpanRow) -> bool) {
        // New index of each row kept, for the links that point at rows by index.
        let mut moved_to: Vec<Option<u32>> = Vec::with_capacity(self.rows.len());
        let mut next = 0u32;
        self.rows.retain(|row| {
            let kept = keep(row);
            moved_to.push(kept.then_some(next));
            next += u32::from(kept);
            kept
        });
        self.links.retain_mut(
            |link| match moved_to.get(link.span as usize).copied().flatten() {
                Some(row) => {
                    link.span = row;
                    true
                }
                None => false,
            },
        );
    }
}

/// The log records of one export.
#[derive(Debug, Default)]
pub(crate) struct LogBatch {
    pub(crate) text: String,
    pub(crate) resources: Vec<ResourceRow>,
    pub(crate) rows: Vec<LogRow>,
}

impl LogBatch {
    /// Service name of a record of this batch.
    pub(crate) fn service(&self, row: &LogRow) -> &Arc<str> {
        resource_service(&self.resources, row.resource)
    }
}

fn resource_service(resources: &[ResourceRow], index: u32) -> &Arc<str> {
    static UNKNOWN: std::sync::LazyLock<Arc<str>> =
        std::sync::LazyLock::new(|| Arc::from(UNKNOWN_SERVICE));
    resources
        .get(index as usize)
        .map_or(&*UNKNOWN, |r| &r.service)
}

/// Service name of a resource without `service.name`.
pub(crate) const UNKNOWN_SERVICE: &str = "unknown_service";

/// What one export request becomes; the writer stores batches in one transaction.
#[derive(Debug)]
pub(crate) enum Batch {
    Spans(SpanBatch),
    Logs(LogBatch),
    Metrics(MetricBatch),
}

impl Batch {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Spans(s) => s.rows.len(),
            Self::Logs(l) => l.rows.len(),
            Self::Metrics(m) => m.families.iter().map(|f| f.samples.len()).sum(),
        }
    }
}

/// One scrape of one service's `/metrics`.
#[derive(Debug)]
pub(crate) struct MetricBatch {
    /// The scraped service, stored as every series' `job` label.
    pub(crate) job: String,
    /// When the scrape was taken, in milliseconds since the epoch.
    pub(crate) time_ms: i64,
    pub(crate) families: Vec<crate::metrics::parse::Family>,
}

/// Lowercase hex of an id, on the stack.
#[derive(Clone, Copy)]
pub(crate) struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    /// `N` must be twice the id's length.
    pub(crate) fn new(id: &[u8]) -> Self {
        let mut out = [b'0'; N];
        // Only fails on a length mismatch, which the callers' fixed sizes rule out.
        let _ = hex::encode_to_slice(id, &mut out);
        Self(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Hex of a trace id.
pub(crate) fn trace_hex(id: &TraceId) -> Hex<32> {
    Hex::new(id)
}

/// Hex of a span id.
pub(crate) fn span_hex(id: &SpanId) -> Hex<16> {
    Hex::new(id)
}

/// A span id as the `spans` table stores it: its 64 bits as an integer (OTLP span ids are never
/// zero, so 0 can mean "no parent").
pub(crate) fn span_number(id: &SpanId) -> i64 {
    i64::from_be_bytes(*id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex() {
        assert_eq!(Hex::<6>::new(&[0x00, 0xab, 0x7f]).as_str(), "00ab7f");
        assert_eq!(span_hex(&[0xff; 8]).as_str(), "ffffffffffffffff");
    }

    #[test]
    fn span_numbers_keep_every_bit() {
        assert_eq!(span_number(&[0, 0, 0, 0, 0, 0, 1, 2]), 0x102);
        assert_eq!(span_number(&[0xff; 8]), -1);
        let id = [0x8f, 1, 2, 3, 4, 5, 6, 7];
        assert_eq!(span_number(&id).to_be_bytes(), id);
    }

    #[test]
    fn retained_rows_keep_their_links() {
        let row = |n: u8| SpanRow {
            trace_id: [1; 16],
            span_id: [n; 8],
            parent_span_id: None,
            operation: Text::default(),
            kind: 0,
            start_us: i64::from(n),
            duration_us: 0,
            status_code: 0,
            status_message: Text::default(),
            attributes: Text::default(),
            events: Text::default(),
            links: Text::default(),
            scope: 0,
            resource: 0,
            tags: (0, 0),
        };
        let link = |span: u32| LinkRow {
            span,
            trace_id: [2; 16],
            span_id: [u8::try_from(span).unwrap_or(0); 8],
        };
        let mut batch = SpanBatch {
            rows: (0..4).map(row).collect(),
            links: vec![link(1), link(2), link(3)],
            ..SpanBatch::default()
        };

        batch.retain_rows(|r| r.span_id[0] != 1);

        let ids: Vec<u8> = batch.rows.iter().map(|r| r.span_id[0]).collect();
        assert_eq!(ids, [0, 2, 3]);
        let links: Vec<(u32, u8)> = batch.links.iter().map(|l| (l.span, l.span_id[0])).collect();
        assert_eq!(
            links,
            [(1, 2), (2, 3)],
            "row 1's link is gone, the others follow their rows"
        );
    }

    #[test]
    fn text_ranges_name_their_slice() {
        let text = "hello world";
        assert_eq!(Text::new(6, 11).of(text), "world");
        assert_eq!(Text::new(6, 99).of(text), "");
    }
}
