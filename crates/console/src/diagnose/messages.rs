//! Messages: how long each message a PRODUCER span published waited for the CONSUMER span that
//! handled it (found through the consumer's link to the producer), by consumer. A consumer
//! that is down, failing before it traces anything, or slow to accept deliveries shows here
//! and nowhere else: its deliveries make no span of their own.

use std::collections::{HashMap, HashSet};

use super::report::{Candidate, Change, Evidence, MessageEvidence, Ranked, Window};
use super::trees::PRODUCER;
use super::{EXAMPLES, Key, MIN_SAMPLES, Names, distinct};
use crate::store::Store;
use crate::store::diagnose::{SpanRow, span_id_hex};

/// A consumer whose messages wait longer than in the baseline.
#[derive(Debug)]
pub(super) struct Wait {
    pub(super) producer: Key,
    pub(super) consumer: Key,
    pub(super) change: Change,
    /// Messages of the window not consumed by its end (counted at their age then).
    pub(super) unconsumed: usize,
    /// Producer traces with the longest waits.
    pub(super) examples: Vec<i64>,
}

#[derive(Debug, Default)]
pub(super) struct MessageWaits {
    waits: Vec<Wait>,
}

/// Waits of one (producer, consumer) pair in one window: (wait, trace) and the unconsumed.
type Waits = HashMap<(Key, Key), (Vec<(i64, i64)>, usize)>;

impl MessageWaits {
    pub(super) async fn of(
        store: &Store,
        window: &Window,
        now_rows: &[SpanRow],
        base_rows: &[SpanRow],
    ) -> Result<Self, sqlx::Error> {
        let produced = |rows: &[SpanRow]| -> Vec<SpanRow> {
            rows.iter()
                .filter(|r| r.kind == PRODUCER)
                .copied()
                .collect()
        };
        let (now, base) = (produced(now_rows), produced(base_rows));
        if now.is_empty() {
            return Ok(Self::default());
        }
        let seqs: HashSet<i64> = now.iter().chain(&base).map(|p| p.trace_seq).collect();
        let trace_ids = store.trace_ids_of(&seqs).await?;
        let consumed = store
            .consumers_of(&trace_ids.values().cloned().collect())
            .await?;
        let mut by_message: HashMap<(&str, &str), Vec<(Key, i64)>> = HashMap::new();
        for c in &consumed {
            by_message
                .entry((c.producer_trace_id.as_str(), c.producer_span_id.as_str()))
                .or_default()
                .push(((c.service, c.operation), c.start_us));
        }
        let message = |p: &SpanRow| -> Option<(String, String)> {
            Some((trace_ids.get(&p.trace_seq)?.clone(), span_id_hex(p.span_id)))
        };
        // Which consumers each producer operation's messages go to, from those consumed in
        // either window: a consumer down all along the window is known from the baseline.
        let mut consumers: HashMap<Key, HashSet<Key>> = HashMap::new();
        for p in now.iter().chain(&base) {
            let Some((t, s)) = message(p) else { continue };
            for (consumer, _) in by_message
                .get(&(t.as_str(), s.as_str()))
                .into_iter()
                .flatten()
            {
                consumers
                    .entry((p.service, p.operation))
                    .or_default()
                    .insert(*consumer);
            }
        }
        let judge = |producers: &[SpanRow]| -> Waits {
            let mut waits: Waits = HashMap::new();
            for p in producers {
                let Some(keys) = consumers.get(&(p.service, p.operation)) else {
                    continue;
                };
                let Some((t, s)) = message(p) else { continue };
                let handled = by_message.get(&(t.as_str(), s.as_str()));
                let end = p.start_us + p.duration_us.max(0);
                for consumer in keys {
                    let first = handled
                        .into_iter()
                        .flatten()
                        .filter(|(k, _)| k == consumer)
                        .map(|(_, start)| *start)
                        .min();
                    let entry = waits
                        .entry(((p.service, p.operation), *consumer))
                        .or_default();
                    match first {
                        Some(start) => entry.0.push(((start - end).max(0), p.trace_seq)),
                        // Not consumed yet, and old enough that it should have been.
                        None if end <= window.end_us - window.settle_us => {
                            entry.0.push((window.end_us - end, p.trace_seq));
                            entry.1 += 1;
                        }
                        None => {}
                    }
                }
            }
            waits
        };
        let (now_waits, base_waits) = (judge(&now), judge(&base));
        let mut waits = Vec::new();
        for (pair, (samples, unconsumed)) in now_waits {
            let Some((before, _)) = base_waits.get(&pair) else {
                continue;
            };
            if samples.len() < MIN_SAMPLES || before.len() < MIN_SAMPLES {
                continue;
            }
            let us = |s: &[(i64, i64)]| -> Vec<i64> { s.iter().map(|w| w.0).collect() };
            let change = Change::of(&us(before), &us(&samples));
            if !change.grew() {
                continue;
            }
            let mut worst = samples;
            worst.sort_unstable_by_key(|w| std::cmp::Reverse(w.0));
            let mut examples = distinct(worst.iter().map(|w| w.1));
            examples.truncate(EXAMPLES);
            waits.push(Wait {
                producer: pair.0,
                consumer: pair.1,
                change,
                unconsumed,
                examples,
            });
        }
        Ok(Self { waits })
    }

    /// Name ids the waits use (a consumer may appear in no window's rows).
    pub(super) fn name_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.waits
            .iter()
            .flat_map(|w| [w.producer.0, w.producer.1, w.consumer.0, w.consumer.1])
    }

    /// Candidates of the consumers whose messages wait longer than in the baseline.
    pub(super) fn candidates(&self, names: &Names) -> Vec<Ranked> {
        let mut out = Vec::new();
        for wait in &self.waits {
            let service = names.of(wait.consumer.0);
            let operation = names.of(wait.consumer.1);
            let producer = format!(
                "{} {}",
                names.of(wait.producer.0),
                names.of(wait.producer.1)
            );
            let change = wait.change;
            let unconsumed = if wait.unconsumed > 0 {
                format!(
                    ", {} of {} not consumed",
                    wait.unconsumed, change.window.count
                )
            } else {
                String::new()
            };
            let summary = format!(
                "{service} {operation}: messages from {producer} wait {}{unconsumed}",
                change.percentiles(),
            );
            let evidence = Evidence::Messages(MessageEvidence {
                producer,
                wait_ms: change,
                unconsumed: wait.unconsumed,
            });
            out.push((
                change.growth_ms(),
                Candidate::new(service, operation, summary, evidence),
                wait.examples.clone(),
            ));
        }
        out
    }
}
