//! Diagnosis from the stored traces alone: for a window, the service and operation most likely
//! behind recent failures and slowness, compared with the window before it.
//!
//! Three signals, each attributed where the fault is rather than where it shows:
//! - **errors**: in each failing trace, the span where the failure starts (a failed span with
//!   no failed span below it). A failed CLIENT span whose callee did not fail, or that has no
//!   callee span at all (a timeout, a dropped connection, an open circuit), points at the
//!   callee: the service its own SERVER child names, or its `peer.service` attribute.
//! - **latency**: each operation's self time (its duration less its children's), window
//!   against baseline; a CLIENT span's self time (waiting for an answer or a slot) is its
//!   callee's.
//! - **messages**: how long published messages wait for their consumer span (or have waited,
//!   not consumed), by consumer.
//!
//! Failures rank first (a slowdown that breaks requests shows as failures of the same
//! culprit), then latency by how much the mean grew, then message waits. Nothing here reads fault settings or the
//! `fault.*` attributes: a real outage has none.

mod errors;
mod latency;
mod messages;
mod report;
mod trees;

use std::collections::{HashMap, HashSet};

pub(crate) use report::{Diagnosis, Window};

use crate::store::Store;
use crate::store::diagnose::{MAX_TRACES_PER_WINDOW, SpanRow};
use errors::Origin;
use messages::MessageWaits;
use report::{Candidate, Ranked, Signal, TraceCounts};
use trees::{CLIENT, traces};

/// Samples an operation needs in each window for its time to be compared.
const MIN_SAMPLES: usize = 5;
const MAX_CANDIDATES: usize = 10;
const EXAMPLES: usize = 5;

/// A (service, operation) pair of name ids.
type Key = (i64, i64);

/// Self times and durations of one operation's spans in a window.
#[derive(Debug, Default)]
struct Times {
    client: bool,
    /// A row of one of its spans (to read a client span's peer).
    row: i64,
    /// (self time, duration, trace number).
    samples: Vec<(i64, i64, i64)>,
}

/// What one window's traces say.
#[derive(Debug, Default)]
struct Facts {
    traces: usize,
    failing: usize,
    origins: HashMap<Origin, Vec<i64>>,
    times: HashMap<Key, Times>,
    /// Client operations and the service their server children belong to.
    callees: HashMap<Key, i64>,
}

impl Facts {
    fn of(rows: &[SpanRow]) -> Self {
        let mut facts = Self::default();
        for trace in traces(rows) {
            facts.traces += 1;
            let seq = trace.seq();
            if trace.failed() {
                facts.failing += 1;
                if let Some(i) = trace.origin() {
                    let span = &trace.spans[i];
                    let key = (span.service, span.operation);
                    let origin = match (span.kind, trace.server_child(i)) {
                        (CLIENT, Some(child)) if !trees::failed(child) => {
                            Origin::AnswerLost(key, child.service)
                        }
                        (CLIENT, None) => Origin::NoAnswer(key),
                        _ => Origin::Own(key),
                    };
                    facts.origins.entry(origin).or_default().push(seq);
                }
            }
            for (i, span) in trace.spans.iter().enumerate() {
                let key = (span.service, span.operation);
                if span.kind == CLIENT
                    && let Some(child) = trace.server_child(i)
                {
                    facts.callees.insert(key, child.service);
                }
                let times = facts.times.entry(key).or_insert_with(|| Times {
                    client: span.kind == CLIENT,
                    row: span.id,
                    samples: Vec::new(),
                });
                times
                    .samples
                    .push((trace.self_time(i), span.duration_us, seq));
            }
        }
        facts
    }
}

/// Diagnoses `window` against its baseline.
pub(crate) async fn diagnose(store: &Store, window: Window) -> Result<Diagnosis, sqlx::Error> {
    let in_window = store.traces_between(window.start_us, window.end_us).await?;
    let in_baseline = store
        .traces_between(window.baseline_start_us, window.baseline_end_us)
        .await?;
    // One sampling for both, so that their counts compare.
    let every =
        ((in_window.max(in_baseline) + MAX_TRACES_PER_WINDOW - 1) / MAX_TRACES_PER_WINDOW).max(1);
    let now_rows = store
        .span_rows(window.start_us, window.end_us, every)
        .await?;
    let base_rows = store
        .span_rows(window.baseline_start_us, window.baseline_end_us, every)
        .await?;
    let now = Facts::of(&now_rows);
    let base = Facts::of(&base_rows);
    let waits = MessageWaits::of(store, &window, &now_rows, &base_rows).await?;

    let mut callees = base.callees.clone();
    callees.extend(now.callees.iter().map(|(k, v)| (*k, *v)));
    let mut names = Names::default();
    for rows in [&now_rows, &base_rows] {
        for r in rows.iter() {
            names.wanted.extend([r.service, r.operation]);
        }
    }
    names.wanted.extend(waits.name_ids());

    // Client operations whose callee no server span showed: their spans' peer attribute.
    let mut unresolved: HashMap<Key, i64> = HashMap::new();
    for origin in now.origins.keys() {
        if let Origin::NoAnswer(key) = origin
            && !callees.contains_key(key)
            && let Some(t) = now.times.get(key)
        {
            unresolved.insert(*key, t.row);
        }
    }
    let slow = latency::slow_operations(&now, &base);
    for (key, _) in &slow {
        if let Some(t) = now.times.get(key)
            && t.client
            && !callees.contains_key(key)
        {
            unresolved.insert(*key, t.row);
        }
    }
    let rows: Vec<i64> = unresolved.values().copied().collect();
    let peers_by_row = store.peers_of(&rows).await?;
    let peers: HashMap<Key, String> = unresolved
        .iter()
        .filter_map(|(key, row)| Some((*key, peers_by_row.get(row)?.clone())))
        .collect();
    names.load(store).await?;
    let callee_of = |key: &Key| -> Option<String> {
        callees
            .get(key)
            .map(|s| names.of(*s))
            .or_else(|| peers.get(key).cloned())
    };

    let mut candidates = Vec::new();
    let mut examples: HashSet<i64> = HashSet::new();
    for (_, c, seqs) in errors::candidates(&now, &base, &window, &names, &callee_of) {
        examples.extend(seqs.iter().copied());
        candidates.push((c, seqs));
    }
    let mut slower = latency::candidates(&slow, &now, &base, &names, &callee_of);
    slower.extend(waits.candidates(&names));
    // Time measured inside spans first: a message's wait is read where no span shows anything
    // (the delivery itself is untraced), and it also grows behind a consumer slowed by one of
    // its own callees, which its latency names directly.
    let waits_only = |r: &Ranked| r.1.signal == Signal::Messages;
    slower.sort_by(|a, b| waits_only(a).cmp(&waits_only(b)).then(b.0.total_cmp(&a.0)));
    for (_, candidate, seqs) in slower {
        let seqs: Vec<i64> = seqs.into_iter().take(EXAMPLES).collect();
        examples.extend(seqs.iter().copied());
        candidates.push((candidate, seqs));
    }

    // One entry per service, operation and signal: the strongest.
    let mut seen = HashSet::new();
    candidates.retain(|(c, _)| seen.insert((c.service.clone(), c.operation.clone(), c.signal)));
    candidates.truncate(MAX_CANDIDATES);
    let trace_ids = store.trace_ids_of(&examples).await?;
    let candidates: Vec<Candidate> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, (mut c, seqs))| {
            c.rank = i + 1;
            c.example_traces = seqs
                .iter()
                .filter_map(|s| trace_ids.get(s).cloned())
                .collect();
            c
        })
        .collect();
    Ok(Diagnosis {
        window,
        traces: TraceCounts {
            window: now.traces,
            window_failing: now.failing,
            baseline: base.traces,
            baseline_failing: base.failing,
            sampled_one_in: every,
        },
        found: !candidates.is_empty(),
        culprit: candidates.first().cloned(),
        candidates,
    })
}

/// The values in order, each once.
fn distinct(values: impl Iterator<Item = i64>) -> Vec<i64> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(*v)).collect()
}

/// Name ids and their names, read once.
#[derive(Debug, Default)]
struct Names {
    wanted: HashSet<i64>,
    names: HashMap<i64, String>,
}

impl Names {
    async fn load(&mut self, store: &Store) -> Result<(), sqlx::Error> {
        self.names = store.names_of(&self.wanted).await?;
        Ok(())
    }

    fn of(&self, id: i64) -> String {
        self.names.get(&id).cloned().unwrap_or_default()
    }
}
