//! Errors: in each failing trace, the span where the failure starts, resolved to the service
//! at fault; culprits ranked by the failing traces they start beyond the baseline's.

use std::collections::{HashMap, HashSet};

use super::report::{Candidate, ErrorEvidence, Evidence, Ranked, Window};
use super::{EXAMPLES, Facts, Key, Names};

/// Failing traces a culprit needs, beyond what the baseline had, to be named.
const MIN_FAILING_TRACES: f64 = 3.0;

/// Where a failing trace's failure starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Origin {
    /// A span that failed on its own account.
    Own(Key),
    /// A failed client span whose callee's server span (of this service) did not fail.
    AnswerLost(Key, i64),
    /// A failed client span with no callee span below it.
    NoAnswer(Key),
}

/// Culprits of the window's failures, most failing traces first, with their example traces
/// (newest first).
pub(super) fn candidates(
    now: &Facts,
    base: &Facts,
    window: &Window,
    names: &Names,
    callee_of: &dyn Fn(&Key) -> Option<String>,
) -> Vec<Ranked> {
    // Origins resolved to (service, operation): several origins may name one culprit (its
    // own failed server span in one trace, a caller's timed-out client span in another).
    let resolve = |origin: &Origin| -> (String, String, String) {
        match origin {
            Origin::Own(key) => (
                names.of(key.0),
                names.of(key.1),
                "its own spans failed".to_owned(),
            ),
            Origin::AnswerLost(key, callee) => (
                names.of(*callee),
                names.of(key.1),
                format!(
                    "failed client spans of {} whose call {} served without failing (the \
                     answer was lost on the way, e.g. a dropped connection)",
                    names.of(key.0),
                    names.of(*callee)
                ),
            ),
            Origin::NoAnswer(key) => match callee_of(key) {
                Some(callee) => (
                    callee.clone(),
                    names.of(key.1),
                    format!(
                        "failed client spans of {} with no span of {callee} below them (no \
                         answer: a timeout, a dropped connection, an open circuit)",
                        names.of(key.0)
                    ),
                ),
                None => (
                    names.of(key.0),
                    names.of(key.1),
                    "its own client spans failed".to_owned(),
                ),
            },
        }
    };
    type Tally = (HashSet<i64>, Vec<String>);
    let tally = |facts: &Facts| -> HashMap<(String, String), Tally> {
        let mut by: HashMap<(String, String), Tally> = HashMap::new();
        for (origin, seqs) in &facts.origins {
            let (service, operation, seen_as) = resolve(origin);
            let entry = by.entry((service, operation)).or_default();
            entry.0.extend(seqs.iter().copied());
            if !entry.1.contains(&seen_as) {
                entry.1.push(seen_as);
            }
        }
        by
    };
    let now_tally = tally(now);
    let base_tally = tally(base);
    // The baseline's count as if it were as long as the window.
    let scale = (window.end_us - window.start_us) as f64
        / (window.baseline_end_us - window.baseline_start_us).max(1) as f64;
    let mut out: Vec<Ranked> = Vec::new();
    for ((service, operation), (seqs, seen_as)) in now_tally {
        let count = seqs.len();
        let before = base_tally
            .get(&(service.clone(), operation.clone()))
            .map_or(0.0, |t| t.0.len() as f64 * scale);
        let excess = count as f64 - before;
        if (count as f64) < MIN_FAILING_TRACES || excess < MIN_FAILING_TRACES {
            continue;
        }
        let share = count as f64 / now.failing.max(1) as f64;
        let mut newest: Vec<i64> = seqs.into_iter().collect();
        newest.sort_unstable_by_key(|s| std::cmp::Reverse(*s));
        newest.truncate(EXAMPLES);
        let seen_as = seen_as.join("; ");
        let summary = format!(
            "{service} {operation}: failures start here in {count} of {} failing traces \
             ({:.0} %), {before:.0} in the baseline ({seen_as})",
            now.failing,
            share * 100.0
        );
        let evidence = Evidence::Errors(ErrorEvidence {
            failing_traces: count,
            share_of_failing: (share * 1000.0).round() / 1000.0,
            baseline_failing_traces: (before * 10.0).round() / 10.0,
            seen_as,
        });
        out.push((
            excess,
            Candidate::new(service, operation, summary, evidence),
            newest,
        ));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out
}
