//! Query parameters of the search endpoints, parsed once into a `TraceQuery` (Jaeger's names:
//! `service, operation, tags, tag, minDuration, maxDuration, start, end, limit, lookback`).

use std::collections::BTreeMap;

use crate::duration::parse_duration;
use crate::error::ApiError;
use crate::store::blocks::logs::LogQuery;
use crate::store::query::TraceQuery;
use crate::store::retention::now_us;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1_500;

/// Raw `key=value` pairs, repeated keys kept (Jaeger repeats `tag` and `traceID`).
pub(crate) type Pairs = Vec<(String, String)>;

fn bad(msg: String) -> ApiError {
    ApiError::BadRequest(msg)
}

fn int(name: &str, value: &str) -> Result<i64, ApiError> {
    value.trim().parse::<i64>().map_err(|_| {
        bad(format!(
            "cannot parse {name}={value:?}: expected an integer"
        ))
    })
}

pub(crate) fn micros(name: &str, value: &str) -> Result<i64, ApiError> {
    let d = parse_duration(value).map_err(|e| bad(format!("cannot parse {name}: {e}")))?;
    i64::try_from(d.as_micros()).map_err(|_| bad(format!("{name} is out of range")))
}

/// Builds the search from the query string; every value is checked, unknown keys ignored.
pub(crate) fn trace_query(pairs: &Pairs) -> Result<TraceQuery, ApiError> {
    let mut q = TraceQuery {
        start_us: 0,
        end_us: i64::MAX,
        limit: DEFAULT_LIMIT,
        ..TraceQuery::default()
    };
    let mut lookback = None;
    let mut start_given = false;
    for (key, value) in pairs {
        let value = value.as_str();
        match key.as_str() {
            "service" if !value.is_empty() => q.service = Some(value.to_owned()),
            "operation" if !value.is_empty() && value != "all" => {
                q.operation = Some(value.to_owned());
            }
            "start" if !value.is_empty() => {
                q.start_us = int("start", value)?;
                start_given = true;
            }
            "end" if !value.is_empty() => q.end_us = int("end", value)?,
            "limit" if !value.is_empty() => {
                let n = int("limit", value)?;
                if n <= 0 {
                    return Err(bad(format!("limit must be positive, got {n}")));
                }
                q.limit = usize::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
            }
            "minDuration" if !value.is_empty() => {
                q.min_duration_us = Some(micros("minDuration", value)?);
            }
            "maxDuration" if !value.is_empty() => {
                q.max_duration_us = Some(micros("maxDuration", value)?);
            }
            "lookback" if !value.is_empty() && value != "custom" => {
                lookback = Some(micros("lookback", value)?);
            }
            "tags" if !value.is_empty() => {
                let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(value)
                    .map_err(|e| {
                        bad(format!(
                            "malformed tags parameter, expected a JSON object of strings: {e}"
                        ))
                    })?;
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
                        _ => return Err(bad(format!("tag {k:?} must have a scalar value"))),
                    };
                    q.tags.push((k, v));
                }
            }
            "tag" if !value.is_empty() => {
                let (k, v) = value
                    .split_once(':')
                    .ok_or_else(|| bad(format!("malformed tag={value:?}: expected key:value")))?;
                q.tags.push((k.to_owned(), v.to_owned()));
            }
            "status" => match value {
                "error" => q.failed_only = true,
                "" | "any" | "ok" => {}
                other => {
                    return Err(bad(format!(
                        "status must be error, ok or any, got {other:?}"
                    )));
                }
            },
            _ => {}
        }
    }
    if let (Some(lb), false) = (lookback, start_given) {
        let end = if q.end_us == i64::MAX {
            now_us()
        } else {
            q.end_us
        };
        q.start_us = end.saturating_sub(lb);
    }
    if let (Some(min), Some(max)) = (q.min_duration_us, q.max_duration_us)
        && min > max
    {
        return Err(bad("minDuration is greater than maxDuration".into()));
    }
    if q.start_us > q.end_us {
        return Err(bad("start is after end".into()));
    }
    Ok(q)
}

/// Log records a search returns unless `limit` says otherwise, and at most.
const DEFAULT_LOG_LIMIT: usize = 100;
const MAX_LOG_LIMIT: usize = 5_000;
/// A log search without `lookback` or `start` looks this far back.
const DEFAULT_LOG_LOOKBACK_US: i64 = 3_600_000_000;

/// The log search of `/api/console/logs`: `service`, `level` (trace, debug, info, warn, error,
/// fatal: that severity and above), `q` (text in the body), `attr=key:value`, `traceID`,
/// `start`/`end` (µs) or `lookback`, `after` (a cursor from an earlier answer), `limit`.
pub(crate) fn log_query(pairs: &Pairs) -> Result<LogQuery, ApiError> {
    let mut q = LogQuery {
        end_us: i64::MAX,
        limit: DEFAULT_LOG_LIMIT,
        ..LogQuery::default()
    };
    let (mut start, mut lookback) = (None, DEFAULT_LOG_LOOKBACK_US);
    for (key, value) in pairs.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let value = value.trim();
        match key.as_str() {
            "service" => q.service = Some(value.to_owned()),
            "level" => {
                q.min_severity = Some(match value.to_ascii_lowercase().as_str() {
                    "trace" => 1,
                    "debug" => 5,
                    "info" => 9,
                    "warn" | "warning" => 13,
                    "error" => 17,
                    "fatal" => 21,
                    other => {
                        return Err(bad(format!(
                            "level must be trace, debug, info, warn, error or fatal, got {other:?}"
                        )));
                    }
                });
            }
            "q" => q.text = Some(value.to_lowercase()),
            "attr" => {
                let (k, v) = value
                    .split_once(':')
                    .or_else(|| value.split_once('='))
                    .ok_or_else(|| bad(format!("malformed attr={value:?}: expected key:value")))?;
                q.attribute = Some((k.to_owned(), v.to_owned()));
            }
            "traceID" => {
                let id = trace_id(value)?;
                let mut raw = [0u8; 16];
                hex::decode_to_slice(&id, &mut raw)
                    .map_err(|_| bad(format!("malformed trace id {value:?}")))?;
                q.trace_id = Some(raw);
            }
            "start" => start = Some(int("start", value)?),
            "end" => q.end_us = int("end", value)?,
            "lookback" => lookback = micros("lookback", value)?,
            "after" => q.after_block = int("after", value)?,
            "limit" => {
                let n = int("limit", value)?;
                if n <= 0 {
                    return Err(bad(format!("limit must be positive, got {n}")));
                }
                q.limit = usize::try_from(n)
                    .unwrap_or(MAX_LOG_LIMIT)
                    .min(MAX_LOG_LIMIT);
            }
            _ => {}
        }
    }
    let end = if q.end_us == i64::MAX {
        now_us()
    } else {
        q.end_us
    };
    q.start_us = start.unwrap_or_else(|| end.saturating_sub(lookback));
    if q.start_us > q.end_us {
        return Err(bad("start is after end".into()));
    }
    Ok(q)
}

/// Normalises a trace id: lowercase hex, left-padded to 32 digits (Jaeger accepts 64-bit ids).
pub(crate) fn trace_id(raw: &str) -> Result<String, ApiError> {
    let id = raw.trim().to_ascii_lowercase();
    if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "malformed trace id {raw:?}: expected up to 32 hex digits"
        )));
    }
    Ok(format!("{id:0>32}"))
}

/// A window `[end - lookback, end]` in µs from millisecond `endTs`/`lookback` (Jaeger's
/// dependencies API) or Go durations (`lookback=1h`).
pub(crate) fn window_ms(pairs: &Pairs, default_lookback_us: i64) -> Result<(i64, i64), ApiError> {
    let mut end = now_us();
    let mut lookback = default_lookback_us;
    for (key, value) in pairs {
        match key.as_str() {
            "endTs" if !value.is_empty() => end = int("endTs", value)?.saturating_mul(1000),
            "lookback" if !value.is_empty() => {
                lookback = match value.parse::<i64>() {
                    Ok(ms) => ms.saturating_mul(1000),
                    Err(_) => micros("lookback", value)?,
                };
            }
            _ => {}
        }
    }
    if lookback <= 0 {
        return Err(bad("lookback must be positive".into()));
    }
    Ok((end.saturating_sub(lookback), end))
}

/// The value of `key`, if given and not empty.
pub(crate) fn get<'a>(pairs: &'a Pairs, key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// Pairs from a list, as a query string would give them.
#[cfg(test)]
pub(crate) fn pairs(list: &[(&str, &str)]) -> Pairs {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_a_grafana_search() {
        let q = trace_query(&pairs(&[
            ("service", "order"),
            ("operation", "POST /orders"),
            (
                "tags",
                r#"{"http.response.status_code":"500","error":true}"#,
            ),
            ("minDuration", "1.2ms"),
            ("maxDuration", "1s"),
            ("start", "100"),
            ("end", "200"),
            ("limit", "5"),
        ]))
        .unwrap();
        assert_eq!(q.service.as_deref(), Some("order"));
        assert_eq!(q.min_duration_us, Some(1200));
        assert_eq!(q.max_duration_us, Some(1_000_000));
        assert_eq!((q.start_us, q.end_us, q.limit), (100, 200, 5));
        assert!(q.tags.contains(&("error".into(), "true".into())));
        assert!(
            q.tags
                .contains(&("http.response.status_code".into(), "500".into()))
        );
    }

    #[test]
    fn rejects_bad_values_with_a_message() {
        let cases = [
            ("limit", "ten"),
            ("limit", "-1"),
            ("minDuration", "fast"),
            ("start", "yesterday"),
            ("tags", "{not json"),
            ("tags", r#"{"a":{"b":1}}"#),
            ("tag", "nocolon"),
            ("status", "weird"),
        ];
        for (k, v) in cases {
            let err = trace_query(&pairs(&[(k, v)])).unwrap_err();
            assert!(matches!(err, ApiError::BadRequest(_)), "{k}={v}");
        }
    }

    #[test]
    fn pads_short_trace_ids() {
        assert_eq!(trace_id("ABC").unwrap(), format!("{:0>32}", "abc"));
        assert!(trace_id("xyz").is_err());
        assert!(trace_id(&"a".repeat(33)).is_err());
    }
}
