//! A trace's span rows as a tree: where its failure starts, and each span's self time.

use std::collections::HashMap;

use crate::store::diagnose::SpanRow;
use crate::store::failure;

/// OTLP span kinds the diagnosis tells apart.
pub(crate) const SERVER: i32 = 2;
pub(crate) const CLIENT: i32 = 3;
pub(crate) const PRODUCER: i32 = 4;

/// One trace: its rows and, for each, the indexes of its children and its parent.
pub(crate) struct Trace<'a> {
    pub(crate) spans: &'a [SpanRow],
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
}

/// The traces of rows sorted by trace number.
pub(crate) fn traces(rows: &[SpanRow]) -> impl Iterator<Item = Trace<'_>> {
    rows.chunk_by(|a, b| a.trace_seq == b.trace_seq)
        .map(Trace::new)
}

pub(crate) fn failed(span: &SpanRow) -> bool {
    failure::failed(span.status_code)
}

impl<'a> Trace<'a> {
    fn new(spans: &'a [SpanRow]) -> Self {
        let index: HashMap<i64, usize> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                index
                    .get(&s.parent_span_id)
                    .copied()
                    .filter(|&p| p != i && s.parent_span_id != 0)
            })
            .collect();
        let mut children = vec![Vec::new(); spans.len()];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        Self {
            spans,
            parent,
            children,
        }
    }

    pub(crate) fn seq(&self) -> i64 {
        self.spans.first().map_or(0, |s| s.trace_seq)
    }

    /// A failing trace: one with a failed request, as every page counts it (a refused order
    /// whose client span failed is not one).
    pub(crate) fn failed(&self) -> bool {
        self.spans
            .iter()
            .any(|s| failure::failed_request(s.kind, s.parent_span_id == 0, s.status_code))
    }

    /// Where the failure starts: of the failed spans with no failed span below them (their
    /// callers failed because of them, not the other way round), the earliest to start, the
    /// deepest of those that start together.
    pub(crate) fn origin(&self) -> Option<usize> {
        let n = self.spans.len();
        let mut failed_below = vec![false; n];
        for (i, s) in self.spans.iter().enumerate() {
            if !failed(s) {
                continue;
            }
            let mut up = self.parent[i];
            // Stops where an earlier walk went: everything above is marked already (and a
            // malformed cycle ends there too).
            while let Some(p) = up {
                if failed_below[p] {
                    break;
                }
                failed_below[p] = true;
                up = self.parent[p];
            }
        }
        (0..n)
            .filter(|&i| failed(&self.spans[i]) && !failed_below[i])
            .min_by_key(|&i| (self.spans[i].start_us, std::cmp::Reverse(self.depth(i))))
    }

    fn depth(&self, i: usize) -> usize {
        let mut depth = 0;
        let mut up = self.parent[i];
        while let Some(p) = up {
            depth += 1;
            if depth > self.spans.len() {
                break;
            }
            up = self.parent[p];
        }
        depth
    }

    /// The span's own time: its duration less the time its children cover (clipped to it).
    pub(crate) fn self_time(&self, i: usize) -> i64 {
        let span = &self.spans[i];
        let (start, end) = (span.start_us, span.start_us + span.duration_us.max(0));
        let mut covered: Vec<(i64, i64)> = self.children[i]
            .iter()
            .map(|&c| {
                let c = &self.spans[c];
                (
                    c.start_us.clamp(start, end),
                    (c.start_us + c.duration_us.max(0)).clamp(start, end),
                )
            })
            .filter(|(a, b)| b > a)
            .collect();
        covered.sort_unstable();
        let mut busy = 0;
        let mut reach = start;
        for (a, b) in covered {
            let a = a.max(reach);
            if b > a {
                busy += b - a;
                reach = b;
            }
        }
        (end - start - busy).max(0)
    }

    /// The callee's side of a client span: a SERVER child in another service.
    pub(crate) fn server_child(&self, i: usize) -> Option<&SpanRow> {
        let span = &self.spans[i];
        self.children[i]
            .iter()
            .map(|&c| &self.spans[c])
            .find(|c| c.kind == SERVER && c.service != span.service)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn span(id: i64, parent: i64, kind: i32, start: i64, duration: i64, status: i32) -> SpanRow {
        SpanRow {
            id,
            trace_seq: 1,
            span_id: id,
            parent_span_id: parent,
            service: 0,
            operation: id,
            kind,
            start_us: start,
            duration_us: duration,
            status_code: status,
        }
    }

    #[test]
    fn a_failure_starts_at_the_deepest_failed_span_without_failed_children() {
        // server(1, failed) -> client(2, failed) -> callee server(3, failed) -> db(4, ok)
        let rows = [
            span(1, 0, SERVER, 0, 100, 2),
            span(2, 1, CLIENT, 10, 50, 2),
            span(3, 2, SERVER, 12, 40, 2),
            span(4, 3, CLIENT, 14, 5, 1),
            span(5, 1, CLIENT, 70, 5, 2),
        ];
        let trace = traces(&rows).next().unwrap();
        assert!(trace.failed());
        assert_eq!(trace.origin(), Some(2));
    }

    #[test]
    fn a_failed_client_span_with_nothing_below_is_the_origin() {
        let rows = [span(1, 0, SERVER, 0, 100, 2), span(2, 1, CLIENT, 10, 80, 2)];
        let trace = traces(&rows).next().unwrap();
        assert_eq!(trace.origin(), Some(1));
    }

    #[test]
    fn self_time_leaves_out_what_children_cover_once() {
        // 0..100, children 10..40 and 30..50 (overlapping), and 90..120 (past the end).
        let rows = [
            span(1, 0, SERVER, 0, 100, 0),
            span(2, 1, CLIENT, 10, 30, 0),
            span(3, 1, CLIENT, 30, 20, 0),
            span(4, 1, CLIENT, 90, 30, 0),
        ];
        let trace = traces(&rows).next().unwrap();
        assert_eq!(trace.self_time(0), 100 - 40 - 10);
        assert_eq!(trace.self_time(1), 30);
    }
}
