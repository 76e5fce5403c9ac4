//! `GET /api/diagnose?since=5m`: the likely culprit of the window's failures and slowness,
//! from its traces against the window before it (`diagnose/`).

use axum::Json;
use axum::extract::{Query, State};

use super::AppState;
use super::params::{self, Pairs};
use crate::diagnose::{self, Diagnosis, Window};
use crate::error::ApiError;
use crate::store::retention::now_us;

const MINUTE_US: i64 = 60_000_000;
/// The default window: recent enough to be about now, long enough for a few hundred traces.
const DEFAULT_SINCE_US: i64 = 5 * MINUTE_US;
/// Longest window (and baseline) a diagnosis reads.
const MAX_WINDOW_US: i64 = 24 * 60 * MINUTE_US;
/// Messages younger than this at the window's end are not expected to be consumed yet: spans
/// reach the console in batches (every 5 s by default in the SDKs), a consumer's a little later
/// than its producer's.
const DEFAULT_SETTLE_US: i64 = 10_000_000;

/// `GET /api/diagnose`: the window is `since` (a duration, `5m` or `20s`; default 5m) before
/// `until` (ms since the epoch; default now), or from `start` (ms) to `until`; the baseline is
/// as long (or `baseline`, a duration) and ends where the window starts; `settle` (default
/// 10s) is how old a message must be to count as not consumed.
pub(crate) async fn diagnose(
    State(st): State<AppState>,
    Query(pairs): Query<Pairs>,
) -> Result<Json<Diagnosis>, ApiError> {
    let window = window(&pairs, now_us())?;
    Ok(Json(diagnose::diagnose(&st.store, window).await?))
}

fn window(pairs: &Pairs, now_us: i64) -> Result<Window, ApiError> {
    let bad = |m: String| ApiError::BadRequest(m);
    let epoch_ms = |name: &str| -> Result<Option<i64>, ApiError> {
        params::get(pairs, name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map(|ms| ms.saturating_mul(1000))
                    .map_err(|_| bad(format!("{name} must be ms since the epoch, got {v:?}")))
            })
            .transpose()
    };
    let duration = |name: &str| -> Result<Option<i64>, ApiError> {
        params::get(pairs, name)
            .map(|v| {
                crate::duration::parse_duration(v)
                    .map_err(|e| bad(format!("cannot parse {name}: {e}")))
                    .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            })
            .transpose()
    };
    let end_us = epoch_ms("until")?.unwrap_or(now_us);
    let start_us = match (epoch_ms("start")?, duration("since")?) {
        (Some(_), Some(_)) => return Err(bad("give start or since, not both".into())),
        (Some(start), None) => start,
        (None, since) => end_us.saturating_sub(since.unwrap_or(DEFAULT_SINCE_US)),
    };
    let length = end_us - start_us;
    if length <= 0 || length > MAX_WINDOW_US {
        return Err(bad(
            "the window must be longer than 0 and at most 24h (and start before until)".into(),
        ));
    }
    let baseline = duration("baseline")?.unwrap_or(length);
    if baseline <= 0 || baseline > MAX_WINDOW_US {
        return Err(bad("baseline must be longer than 0 and at most 24h".into()));
    }
    Ok(Window {
        start_us,
        end_us,
        baseline_start_us: start_us - baseline,
        baseline_end_us: start_us,
        settle_us: duration("settle")?.unwrap_or(DEFAULT_SETTLE_US),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::api::params::pairs;

    #[test]
    fn the_window_defaults_to_five_minutes_against_the_five_before() {
        let w = window(&pairs(&[]), 1_000 * MINUTE_US).unwrap();
        assert_eq!(w.end_us - w.start_us, 5 * MINUTE_US);
        assert_eq!(w.baseline_end_us, w.start_us);
        assert_eq!(w.start_us - w.baseline_start_us, 5 * MINUTE_US);
    }

    #[test]
    fn an_exact_window_and_baseline_can_be_given() {
        let w = window(
            &pairs(&[("start", "1000"), ("until", "21000"), ("baseline", "8s")]),
            0,
        )
        .unwrap();
        assert_eq!((w.start_us, w.end_us), (1_000_000, 21_000_000));
        assert_eq!(w.baseline_start_us, 1_000_000 - 8_000_000);
        let w = window(&pairs(&[("since", "20s"), ("settle", "1s")]), 100_000_000).unwrap();
        assert_eq!(w.start_us, 80_000_000);
        assert_eq!(w.settle_us, 1_000_000);
    }

    #[test]
    fn bad_windows_are_refused() {
        for p in [
            vec![("since", "soon")],
            vec![("since", "0s")],
            vec![("start", "5"), ("since", "1m")],
            vec![("start", "9000"), ("until", "1000")],
            vec![("baseline", "0s")],
            vec![("since", "48h")],
        ] {
            assert!(window(&pairs(&p), 10_000_000_000).is_err(), "{p:?}");
        }
    }
}
