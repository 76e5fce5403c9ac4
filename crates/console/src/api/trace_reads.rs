//! Reading whole traces for an answer within bounds. One answer returns at most
//! `max_spans_per_answer` spans, shared among the traces it holds (a small trace whole, the
//! largest the earliest of their spans); and the spans being read and rendered by all answers
//! at once are bounded too, so that many readers of a large trace queue instead of each
//! holding its own copy: that is what took the console to gigabytes.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::query::{StoredResource, StoredSpan};
use crate::store::spans::TraceSize;

/// Full answers' worth of spans read and rendered at once; further readers wait their turn.
/// Four answers of 5,000 spans (the default) are some 40 MB of rows and JSON at most.
const ANSWERS_AT_ONCE: usize = 4;

/// The span budget of the trace answers; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct TraceReads {
    max_spans_per_answer: usize,
    /// One permit per span being read or rendered.
    in_flight: Arc<Semaphore>,
}

/// A trace as an answer returns it.
#[derive(Debug)]
pub(crate) struct ReadTrace {
    pub(crate) trace_id: String,
    /// The earliest spans by start time: all stored ones unless the answer's budget cut them.
    pub(crate) spans: Vec<StoredSpan>,
    /// Spans stored of the trace.
    pub(crate) stored: i64,
    /// Spans the console received of the trace: stored and dropped at ingest.
    pub(crate) total: i64,
}

impl ReadTrace {
    /// Whether the answer leaves spans of the trace out.
    pub(crate) fn truncated(&self) -> bool {
        i64::try_from(self.spans.len()).unwrap_or(i64::MAX) < self.total
    }
}

impl TraceReads {
    pub(crate) fn new(max_spans_per_answer: usize) -> Self {
        let max = max_spans_per_answer.max(1);
        let permits = max
            .saturating_mul(ANSWERS_AT_ONCE)
            .min(Semaphore::MAX_PERMITS);
        Self {
            max_spans_per_answer: max,
            in_flight: Arc::new(Semaphore::new(permits)),
        }
    }

    /// Reads the traces `ids` that have spans (in that order) within the answer's budget,
    /// and hands them with their resources to `render`, which turns them into the answer
    /// while the spans still count against the budget of all answers.
    pub(crate) async fn read<R>(
        &self,
        store: &Store,
        ids: &[String],
        render: impl FnOnce(&[ReadTrace], &HashMap<i64, StoredResource>) -> R,
    ) -> Result<R, ApiError> {
        let sizes = store.trace_sizes(ids).await?;
        let stored: Vec<usize> = sizes
            .iter()
            .map(|t| usize::try_from(t.stored).unwrap_or(usize::MAX))
            .collect();
        let shares = shares(self.max_spans_per_answer, &stored);
        let wanted: usize = shares.iter().sum();
        let permits = u32::try_from(wanted.clamp(1, self.capacity())).unwrap_or(u32::MAX);
        // The semaphore is never closed, so acquiring fails only if it were.
        let _turn = self
            .in_flight
            .acquire_many(permits)
            .await
            .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
        let traces = read_spans(store, sizes, &shares).await?;
        let resource_ids: HashSet<i64> = traces
            .iter()
            .flat_map(|t| t.spans.iter().map(|s| s.resource_id))
            .collect();
        let resources = store.resources(&resource_ids).await?;
        Ok(render(&traces, &resources))
    }

    fn capacity(&self) -> usize {
        self.max_spans_per_answer.saturating_mul(ANSWERS_AT_ONCE)
    }
}

/// The spans of each trace: whole traces in one query, cut ones each on its own.
async fn read_spans(
    store: &Store,
    sizes: Vec<TraceSize>,
    shares: &[usize],
) -> Result<Vec<ReadTrace>, ApiError> {
    let whole: HashSet<i64> = sizes
        .iter()
        .zip(shares)
        .filter(|(t, share)| usize::try_from(t.stored).is_ok_and(|n| n <= **share))
        .map(|(t, _)| t.seq)
        .collect();
    let mut by_trace: HashMap<String, Vec<StoredSpan>> = HashMap::new();
    let whole_seqs: Vec<i64> = whole.iter().copied().collect();
    for span in store.all_spans(&whole_seqs).await? {
        by_trace
            .entry(span.trace_id.clone())
            .or_default()
            .push(span);
    }
    let mut traces = Vec::with_capacity(sizes.len());
    for (t, share) in sizes.into_iter().zip(shares) {
        let spans = match by_trace.remove(&t.trace_id) {
            Some(spans) => spans,
            None if whole.contains(&t.seq) => Vec::new(),
            None => store.first_spans(t.seq, *share).await?,
        };
        traces.push(ReadTrace {
            trace_id: t.trace_id,
            spans,
            stored: t.stored,
            total: t.stored.saturating_add(t.dropped),
        });
    }
    Ok(traces)
}

/// Splits `budget` spans among traces of these sizes, smallest first: each gets all its spans
/// while an equal share of what is left allows, the largest split the rest equally. Every
/// trace gets at least one span (its earliest), so a search lists every trace it found.
fn shares(budget: usize, sizes: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let mut left = budget;
    let mut out = vec![0; sizes.len()];
    for (k, &i) in order.iter().enumerate() {
        let equal = left / (sizes.len() - k);
        out[i] = sizes[i].min(equal.max(1));
        left = left.saturating_sub(out[i]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_traces_come_whole_and_the_largest_share_what_is_left() {
        let cases: [(&str, usize, &[usize], &[usize]); 5] = [
            ("all fit", 100, &[10, 20, 30], &[10, 20, 30]),
            ("one too large", 100, &[10, 500, 20], &[10, 70, 20]),
            ("two too large", 100, &[900, 10, 500], &[45, 10, 45]),
            ("one trace", 5_000, &[100_000], &[5_000]),
            ("more traces than spans", 2, &[10, 10, 10], &[1, 1, 1]),
        ];
        for (name, budget, sizes, want) in cases {
            assert_eq!(shares(budget, sizes), want, "{name}");
        }
    }
}
