//! Series over time from stored scrapes, as Prometheus computes them: a counter's rate from the
//! increases between consecutive scrapes (a drop is a restart, after which the new value is the
//! increase), a histogram's quantile from the increases of its cumulative buckets
//! (`histogram_quantile` over `sum by (le) (rate(x_bucket[step]))`), a gauge's sum.

use std::collections::{BTreeMap, HashMap};

use crate::store::metrics::{Scrape, StoredSeries};

/// What a query computes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Aggregation {
    /// Per-second increase of counters (a histogram's `_count`), summed.
    Rate,
    /// The newest value in each step of every series (`_sum` of a histogram is left out),
    /// summed.
    Sum,
    /// A quantile (0 to 1) of a histogram's observations in each step.
    Quantile(f64),
}

impl Aggregation {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "rate" => Self::Rate,
            "sum" => Self::Sum,
            "p50" => Self::Quantile(0.5),
            "p90" => Self::Quantile(0.9),
            "p95" => Self::Quantile(0.95),
            "p99" => Self::Quantile(0.99),
            _ => return None,
        })
    }

    /// The aggregations that make sense for a family of `kind`, the default first.
    pub(crate) fn names_for(kind: &str) -> &'static [&'static str] {
        match kind {
            "counter" => &["rate", "sum"],
            "histogram" => &["p50", "p90", "p95", "p99", "rate"],
            _ => &["sum", "rate"],
        }
    }
}

/// The time axis: `buckets` steps of `step_ms`, the first ending at `start_ms + step_ms`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Axis {
    pub(crate) start_ms: i64,
    pub(crate) step_ms: i64,
    pub(crate) buckets: usize,
}

impl Axis {
    fn bucket(&self, time_ms: i64) -> Option<usize> {
        if time_ms <= self.start_ms {
            return None;
        }
        let i = usize::try_from((time_ms - self.start_ms - 1) / self.step_ms).ok()?;
        (i < self.buckets).then_some(i)
    }

    /// The end of each step, the time a point is drawn at.
    pub(crate) fn times(&self) -> impl Iterator<Item = i64> + '_ {
        (1..=self.buckets).map(|i| self.start_ms + self.step_ms * i as i64)
    }
}

/// One line of a chart: the grouping label's value (if grouped) and a value per step (none
/// where the step has no data).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Line {
    pub(crate) group: Option<String>,
    pub(crate) values: Vec<Option<f64>>,
}

/// Does `series` carry every label of `filter` with its value?
pub(crate) fn matches(series: &StoredSeries, filter: &BTreeMap<String, String>) -> bool {
    filter.iter().all(|(k, v)| series.labels.get(k) == Some(v))
}

/// Computes `agg` over the series (already filtered, all of one family of `kind`) from the
/// scrapes (oldest first, starting a step before the axis so that its first step has a
/// previous value), one line per value of the `by` label (one line if none).
pub(crate) fn compute(
    kind: &str,
    series: &[StoredSeries],
    scrapes: &[Scrape],
    axis: Axis,
    agg: Aggregation,
    by: Option<&str>,
) -> Vec<Line> {
    let wanted = |s: &StoredSeries| match agg {
        Aggregation::Rate => match kind {
            "histogram" | "summary" => s.suffix == "_count",
            "counter" => s.suffix == "_total" || s.suffix.is_empty(),
            _ => s.suffix.is_empty() || s.suffix == "_total",
        },
        Aggregation::Sum => !matches!(s.suffix.as_str(), "_sum" | "_created" | "_bucket"),
        Aggregation::Quantile(_) => s.suffix == "_bucket" && s.labels.contains_key("le"),
    };
    let group_of = |s: &StoredSeries| by.map(|key| s.labels.get(key).cloned().unwrap_or_default());
    let chosen: HashMap<i64, &StoredSeries> = series
        .iter()
        .filter(|s| wanted(s))
        .map(|s| (s.id, s))
        .collect();
    let mut groups: BTreeMap<Option<String>, Vec<i64>> = BTreeMap::new();
    for s in chosen.values() {
        groups.entry(group_of(s)).or_default().push(s.id);
    }
    let per_series = per_series_values(scrapes, &chosen, axis, agg);
    groups
        .into_iter()
        .map(|(group, ids)| {
            let values = match agg {
                Aggregation::Quantile(q) => quantile_line(q, &ids, &chosen, &per_series, axis),
                Aggregation::Rate | Aggregation::Sum => (0..axis.buckets)
                    .map(|b| {
                        let vals: Vec<f64> = ids
                            .iter()
                            .filter_map(|id| per_series.get(id).and_then(|v| v[b]))
                            .collect();
                        (!vals.is_empty()).then(|| vals.iter().sum())
                    })
                    .collect(),
            };
            Line { group, values }
        })
        .collect()
}

/// Per series and step: the rate (for `Rate`), the increase (for quantiles) or the newest
/// value (for `Sum`). A step's rate is its increases over the time they took (from each
/// scrape's previous one), so that it is a rate per second whether the step is longer or
/// shorter than the scrape interval.
fn per_series_values(
    scrapes: &[Scrape],
    chosen: &HashMap<i64, &StoredSeries>,
    axis: Axis,
    agg: Aggregation,
) -> HashMap<i64, Vec<Option<f64>>> {
    let mut out: HashMap<i64, Vec<Option<f64>>> = HashMap::new();
    // Milliseconds the increases of each series' steps took.
    let mut spans: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut previous: HashMap<i64, (i64, f64)> = HashMap::new();
    for scrape in scrapes {
        let bucket = axis.bucket(scrape.time_ms);
        for &(id, value) in &scrape.values {
            if !chosen.contains_key(&id) || value.is_nan() {
                continue;
            }
            let prior = previous.insert(id, (scrape.time_ms, value));
            let Some(b) = bucket else { continue };
            let slot = &mut out.entry(id).or_insert_with(|| vec![None; axis.buckets])[b];
            match agg {
                Aggregation::Sum => *slot = Some(value),
                Aggregation::Rate | Aggregation::Quantile(_) => {
                    let Some((prior_ms, prior)) = prior else {
                        continue;
                    };
                    // A counter that went down was reset (its process restarted) and counted
                    // `value` since.
                    let increase = if value < prior { value } else { value - prior };
                    *slot = Some(slot.unwrap_or(0.0) + increase);
                    spans.entry(id).or_insert_with(|| vec![0; axis.buckets])[b] +=
                        scrape.time_ms - prior_ms;
                }
            }
        }
    }
    if agg == Aggregation::Rate {
        for (id, values) in &mut out {
            let took = spans.get(id);
            for (b, v) in values.iter_mut().enumerate() {
                let ms = took.map_or(0, |t| t[b]);
                *v = match *v {
                    Some(increase) if ms > 0 => Some(increase * 1000.0 / ms as f64),
                    _ => None,
                };
            }
        }
    }
    out
}

/// The quantile of each step from the summed bucket increases of the series `ids`.
fn quantile_line(
    q: f64,
    ids: &[i64],
    chosen: &HashMap<i64, &StoredSeries>,
    increases: &HashMap<i64, Vec<Option<f64>>>,
    axis: Axis,
) -> Vec<Option<f64>> {
    (0..axis.buckets)
        .map(|b| {
            let mut by_le: BTreeMap<OrderedLe, f64> = BTreeMap::new();
            for id in ids {
                let Some(increase) = increases.get(id).and_then(|v| v[b]) else {
                    continue;
                };
                let Some(le) = chosen[id].labels.get("le").and_then(|le| parse_le(le)) else {
                    continue;
                };
                *by_le.entry(OrderedLe(le)).or_default() += increase;
            }
            let buckets: Vec<(f64, f64)> = by_le.into_iter().map(|(le, n)| (le.0, n)).collect();
            histogram_quantile(q, &buckets)
        })
        .collect()
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => text.parse().ok(),
    }
}

/// A bucket bound as a map key (bounds are never NaN: `parse_le` gives numbers or infinity).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedLe(f64);

impl Eq for OrderedLe {}

impl PartialOrd for OrderedLe {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedLe {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Prometheus's `histogram_quantile`: `buckets` are (upper bound, cumulative count) sorted by
/// bound, the last `+Inf`. The quantile is interpolated linearly inside the bucket holding its
/// rank (from 0 for the first bucket); a rank in the `+Inf` bucket gives the highest finite
/// bound. None without observations.
pub(crate) fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let &(last_le, total) = buckets.last()?;
    if last_le != f64::INFINITY || total <= 0.0 || buckets.len() < 2 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total;
    let mut lower = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le == f64::INFINITY {
                return Some(lower.0);
            }
            let (lo_le, lo_count) = if lower.0 == 0.0 && le <= 0.0 {
                (le, lower.1)
            } else {
                lower
            };
            if count == lo_count {
                return Some(le);
            }
            return Some(lo_le + (le - lo_le) * (rank - lo_count) / (count - lo_count));
        }
        lower = (le, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::float_cmp)]
    use super::*;

    fn series(id: i64, suffix: &str, labels: &[(&str, &str)]) -> StoredSeries {
        StoredSeries {
            id,
            family_id: 1,
            suffix: suffix.into(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn scrape(time_ms: i64, values: &[(i64, f64)]) -> Scrape {
        Scrape {
            time_ms,
            values: values.to_vec(),
        }
    }

    const AXIS: Axis = Axis {
        start_ms: 10_000,
        step_ms: 10_000,
        buckets: 3,
    };

    #[test]
    fn a_counter_rate_is_its_increase_per_second_across_a_restart() {
        let s = [series(1, "_total", &[("job", "order")])];
        // 5/s, then a restart to 20 (20 counted since), then 2/s.
        let scrapes = [
            scrape(10_000, &[(1, 100.0)]),
            scrape(20_000, &[(1, 150.0)]),
            scrape(30_000, &[(1, 20.0)]),
            scrape(40_000, &[(1, 40.0)]),
        ];
        let lines = compute("counter", &s, &scrapes, AXIS, Aggregation::Rate, None);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].values, [Some(5.0), Some(2.0), Some(2.0)]);
    }

    #[test]
    fn a_step_shorter_than_the_scrape_interval_still_gives_the_rate_per_second() {
        let s = [series(1, "_total", &[])];
        // 30 every 10 s, on 5 s steps: 3/s where a scrape lands, nothing in between.
        let scrapes = [
            scrape(10_000, &[(1, 0.0)]),
            scrape(20_000, &[(1, 30.0)]),
            scrape(30_000, &[(1, 60.0)]),
        ];
        let axis = Axis {
            start_ms: 10_000,
            step_ms: 5_000,
            buckets: 4,
        };
        let lines = compute("counter", &s, &scrapes, axis, Aggregation::Rate, None);
        assert_eq!(lines[0].values, [None, Some(3.0), None, Some(3.0)]);
    }

    #[test]
    fn rates_of_several_series_add_up_or_split_by_a_label() {
        let s = [
            series(1, "_total", &[("job", "order"), ("status", "ok")]),
            series(2, "_total", &[("job", "order"), ("status", "failed")]),
        ];
        let scrapes = [
            scrape(10_000, &[(1, 0.0), (2, 0.0)]),
            scrape(20_000, &[(1, 30.0), (2, 10.0)]),
        ];
        let axis = Axis { buckets: 1, ..AXIS };
        let total = compute("counter", &s, &scrapes, axis, Aggregation::Rate, None);
        assert_eq!(total[0].values, [Some(4.0)]);
        let split = compute(
            "counter",
            &s,
            &scrapes,
            axis,
            Aggregation::Rate,
            Some("status"),
        );
        let got: Vec<_> = split
            .iter()
            .map(|l| (l.group.clone().unwrap(), l.values[0]))
            .collect();
        assert_eq!(
            got,
            [("failed".into(), Some(1.0)), ("ok".into(), Some(3.0))]
        );
    }

    #[test]
    fn a_histogram_quantile_interpolates_inside_the_bucket_of_its_rank() {
        let bucket = |id, le| series(id, "_bucket", &[("le", le)]);
        let s = [
            bucket(1, "0.1"),
            bucket(2, "0.25"),
            bucket(3, "+Inf"),
            series(4, "_count", &[]),
        ];
        // In the step: 10 observations, 4 up to 0.1, 6 in (0.1, 0.25].
        let scrapes = [
            scrape(10_000, &[(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0)]),
            scrape(20_000, &[(1, 5.0), (2, 11.0), (3, 11.0), (4, 11.0)]),
        ];
        let axis = Axis { buckets: 2, ..AXIS };
        let p50 = compute(
            "histogram",
            &s,
            &scrapes,
            axis,
            Aggregation::Quantile(0.5),
            None,
        );
        // Rank 5 is the first of the 6 in (0.1, 0.25]: 0.1 + 0.15 * 1/6.
        let v = p50[0].values[0].unwrap();
        assert!((v - 0.125).abs() < 1e-9, "{v}");
        assert_eq!(p50[0].values[1], None, "no scrape in the second step");
        let rate = compute("histogram", &s, &scrapes, axis, Aggregation::Rate, None);
        assert_eq!(rate[0].values[0], Some(1.0));
    }

    #[test]
    fn histogram_quantile_edges() {
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        // Everything above the highest bound: the highest finite bound.
        assert_eq!(
            histogram_quantile(0.99, &[(1.0, 0.0), (f64::INFINITY, 5.0)]),
            Some(1.0)
        );
        // From 0 in the first bucket.
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 4.0), (f64::INFINITY, 4.0)]),
            Some(0.5)
        );
    }

    #[test]
    fn a_gauge_sums_the_newest_value_in_each_step() {
        let s = [
            series(1, "", &[("job", "a")]),
            series(2, "", &[("job", "b")]),
        ];
        let scrapes = [
            scrape(15_000, &[(1, 1.0), (2, 2.0)]),
            scrape(18_000, &[(1, 3.0), (2, 4.0)]),
        ];
        let lines = compute("gauge", &s, &scrapes, AXIS, Aggregation::Sum, None);
        assert_eq!(lines[0].values, [Some(7.0), None, None]);
    }
}
