//! Latency: each operation's self time (its duration less what its children cover), window
//! against baseline. A CLIENT span's self time is time spent waiting on its callee (for an
//! answer, or for a free connection), so it counts against the callee.

use super::report::{Candidate, Change, Evidence, LatencyEvidence, Ranked};
use super::{Facts, Key, MIN_SAMPLES, Names, Times, distinct};

/// Operations whose self time grew, most first.
pub(super) fn slow_operations(now: &Facts, base: &Facts) -> Vec<(Key, Change)> {
    let mut out: Vec<(Key, Change)> = now
        .times
        .iter()
        .filter_map(|(key, times)| {
            let before = base.times.get(key)?;
            if times.samples.len() < MIN_SAMPLES || before.samples.len() < MIN_SAMPLES {
                return None;
            }
            let selfs = |t: &Times| -> Vec<i64> { t.samples.iter().map(|s| s.0).collect() };
            let change = Change::of(&selfs(before), &selfs(times));
            change.grew().then_some((*key, change))
        })
        .collect();
    out.sort_by(|a, b| b.1.growth_ms().total_cmp(&a.1.growth_ms()));
    out
}

/// Candidates of the operations whose self time grew.
pub(super) fn candidates(
    slow: &[(Key, Change)],
    now: &Facts,
    base: &Facts,
    names: &Names,
    callee_of: &dyn Fn(&Key) -> Option<String>,
) -> Vec<Ranked> {
    let mut out = Vec::new();
    for (key, change) in slow {
        let Some(times) = now.times.get(key) else {
            continue;
        };
        let (service, seen_as) = if times.client {
            match callee_of(key) {
                Some(callee) => (
                    callee.clone(),
                    format!(
                        "client spans of {} outside any span of {callee} (waiting for its \
                         answer, or for a free connection to it)",
                        names.of(key.0)
                    ),
                ),
                None => (names.of(key.0), "its own client spans".to_owned()),
            }
        } else {
            (
                names.of(key.0),
                "its own time, less its children's".to_owned(),
            )
        };
        let durations = |facts: &Facts| -> Vec<i64> {
            facts
                .times
                .get(key)
                .map(|t| t.samples.iter().map(|s| s.1).collect())
                .unwrap_or_default()
        };
        let duration = Change::of(&durations(base), &durations(now));
        let mut worst = times.samples.clone();
        worst.sort_unstable_by_key(|s| std::cmp::Reverse(s.0));
        let seqs: Vec<i64> = distinct(worst.iter().map(|s| s.2));
        let operation = names.of(key.1);
        let summary = format!(
            "{service} {operation}: own time {} ({} spans; {seen_as})",
            change.percentiles(),
            change.window.count,
        );
        let evidence = Evidence::Latency(LatencyEvidence {
            self_ms: *change,
            duration_ms: duration,
            seen_as,
        });
        out.push((
            change.growth_ms(),
            Candidate::new(service, operation, summary, evidence),
            seqs,
        ));
    }
    out
}
