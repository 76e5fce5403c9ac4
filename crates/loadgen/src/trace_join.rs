//! After the run: fetch sampled traces from the console's Jaeger API and put the server's own
//! root-span duration beside the client-side latency of the same requests. The difference is
//! time spent before the server started its span (queueing, connection setup, the network).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::base_url::BaseUrl;
use crate::client::LoadClient;
use crate::stats::Sample;

/// How many trace fetches run at once.
const CONCURRENT_FETCHES: usize = 8;

/// The result of the console join, in the JSON report's `server_side` field.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ServerSide {
    /// Server and client figures over the traces that were found.
    Joined {
        /// The console's base URL.
        console: String,
        /// Sampled traces asked for.
        requested: usize,
        /// Traces found with a root span.
        found: usize,
        /// Root-span durations.
        server: Percentiles,
        /// Client-side latency of the same requests.
        client: Percentiles,
        /// Client minus server, per percentile (can be negative with few traces).
        difference: Difference,
    },
    /// The join could not be made; the run itself is unaffected.
    Skipped {
        /// The console's base URL.
        console: String,
        /// Why, in a sentence.
        reason: String,
    },
}

/// p50 and p99 in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
}

/// Client-side minus server-side p50 and p99, in microseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Difference {
    /// Median difference.
    pub p50_us: i64,
    /// 99th-percentile difference.
    pub p99_us: i64,
}

#[derive(Debug, Deserialize)]
struct TracesResponse {
    #[serde(default)]
    data: Option<Vec<JaegerTrace>>,
}

#[derive(Debug, Deserialize)]
struct JaegerTrace {
    #[serde(default)]
    spans: Vec<JaegerSpan>,
}

#[derive(Debug, Deserialize)]
struct JaegerSpan {
    #[serde(rename = "spanID")]
    span_id: String,
    #[serde(default)]
    references: Vec<JaegerReference>,
    /// Microseconds.
    duration: f64,
}

#[derive(Debug, Deserialize)]
struct JaegerReference {
    #[serde(rename = "refType")]
    ref_type: String,
    #[serde(rename = "spanID")]
    span_id: String,
}

/// Fetches up to `limit` sampled traces of answered requests and compares latencies.
pub(crate) async fn join(
    client: &LoadClient,
    console: &BaseUrl,
    samples: &[Sample],
    limit: usize,
) -> ServerSide {
    let skipped = |reason: String| ServerSide::Skipped {
        console: console.to_string(),
        reason,
    };
    let wanted: Vec<Sample> = samples
        .iter()
        .filter(|s| s.status.is_some())
        .take(limit)
        .cloned()
        .collect();
    let Some(first) = wanted.first() else {
        return skipped("no answered request was sampled".into());
    };
    // One fetch first: if the console is not there, say so once instead of once per trace.
    let first_duration = match fetch_root_duration(client, console, first).await {
        Ok(duration) => duration,
        Err(reason) => return skipped(format!("console unreachable: {reason}")),
    };
    let mut pairs: Vec<(u64, u64)> = first_duration
        .map(|server| (first.latency_us, server))
        .into_iter()
        .collect();
    let permits = Arc::new(Semaphore::new(CONCURRENT_FETCHES));
    let mut fetches = JoinSet::new();
    for sample in wanted.iter().skip(1).cloned() {
        let (client, console, permits) = (client.clone(), console.clone(), permits.clone());
        fetches.spawn(async move {
            let _permit = permits.acquire().await.ok()?;
            let server = fetch_root_duration(&client, &console, &sample)
                .await
                .ok()??;
            Some((sample.latency_us, server))
        });
    }
    while let Some(joined) = fetches.join_next().await {
        if let Ok(Some(pair)) = joined {
            pairs.push(pair);
        }
    }
    if pairs.is_empty() {
        return skipped(format!(
            "none of the {} sampled traces was found (spans may not be exported yet)",
            wanted.len()
        ));
    }
    let client_side = percentiles(pairs.iter().map(|p| p.0).collect());
    let server_side = percentiles(pairs.iter().map(|p| p.1).collect());
    ServerSide::Joined {
        console: console.to_string(),
        requested: wanted.len(),
        found: pairs.len(),
        difference: Difference {
            p50_us: signed(client_side.p50_us) - signed(server_side.p50_us),
            p99_us: signed(client_side.p99_us) - signed(server_side.p99_us),
        },
        server: server_side,
        client: client_side,
    }
}

/// `Ok(None)`: the console answered but has no such trace (or no root span).
/// `Err`: the console did not answer at all.
async fn fetch_root_duration(
    client: &LoadClient,
    console: &BaseUrl,
    sample: &Sample,
) -> Result<Option<u64>, String> {
    let uri = console.join(&format!("/api/traces/{}", sample.trace_id));
    let answer = client
        .exchange(Method::GET, &uri, Bytes::new(), None)
        .await
        .map_err(|(_, reason)| reason)?;
    if answer.status != StatusCode::OK {
        return Ok(None);
    }
    let Ok(response) = serde_json::from_slice::<TracesResponse>(&answer.body) else {
        return Ok(None);
    };
    let spans = response
        .data
        .and_then(|traces| traces.into_iter().next())
        .map(|trace| trace.spans)
        .unwrap_or_default();
    Ok(root_duration(&spans, &sample.span_id))
}

/// Duration of the root span: one with no CHILD_OF reference to a span of this trace. The
/// server's entry span references our client span, which is not in the console, so "absent
/// parent" counts as root; among several, the child of the span we sent wins, then the longest.
fn root_duration(spans: &[JaegerSpan], sent_span_id: &str) -> Option<u64> {
    let present: HashSet<String> = spans.iter().map(|s| normalize(&s.span_id)).collect();
    let sent = normalize(sent_span_id);
    spans
        .iter()
        .filter(|span| {
            !span
                .references
                .iter()
                .any(|r| r.ref_type == "CHILD_OF" && present.contains(&normalize(&r.span_id)))
        })
        .map(|span| {
            let ours = span
                .references
                .iter()
                .any(|r| normalize(&r.span_id) == sent);
            (ours, span.duration.max(0.0).round() as u64)
        })
        .max()
        .map(|(_, duration)| duration)
}

/// Hex ids compared without case or leading zeros (implementations differ on both).
fn normalize(id: &str) -> String {
    id.trim_start_matches('0').to_ascii_lowercase()
}

fn signed(us: u64) -> i64 {
    i64::try_from(us).unwrap_or(i64::MAX)
}

/// Nearest-rank p50 and p99 of a small set.
fn percentiles(mut values: Vec<u64>) -> Percentiles {
    values.sort_unstable();
    let rank = |q: f64| {
        let index = ((q * values.len() as f64).ceil() as usize).saturating_sub(1);
        values.get(index).copied().unwrap_or(0)
    };
    Percentiles {
        p50_us: rank(0.50),
        p99_us: rank(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, duration: f64) -> JaegerSpan {
        JaegerSpan {
            span_id: id.into(),
            references: parent
                .map(|p| JaegerReference {
                    ref_type: "CHILD_OF".into(),
                    span_id: p.into(),
                })
                .into_iter()
                .collect(),
            duration,
        }
    }

    #[test]
    fn the_root_is_the_span_whose_parent_is_not_in_the_trace() {
        let spans = [
            span("bb", Some("aa"), 300.0),
            span("aa", Some("00000000000000ff"), 1200.0),
            span("cc", Some("aa"), 900.0),
        ];
        assert_eq!(root_duration(&spans, "00000000000000ff"), Some(1200));
        let parentless = [span("aa", None, 50.0), span("bb", Some("aa"), 20.0)];
        assert_eq!(root_duration(&parentless, "ff"), Some(50));
        assert_eq!(root_duration(&[], "ff"), None);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(
            percentiles(values),
            Percentiles {
                p50_us: 50,
                p99_us: 99
            }
        );
        assert_eq!(
            percentiles(vec![7]),
            Percentiles {
                p50_us: 7,
                p99_us: 7
            }
        );
    }

    #[test]
    fn the_jaeger_trace_response_decodes() {
        let body = r#"{"data":[{"traceID":"ab","spans":[{"traceID":"ab","spanID":"01",
            "operationName":"POST /orders","references":[{"refType":"CHILD_OF","traceID":"ab",
            "spanID":"ff"}],"startTime":1,"duration":1500,"tags":[],"processID":"p1"}],
            "processes":{}}],"total":0,"limit":0,"offset":0,"errors":null}"#;
        let decoded: TracesResponse = serde_json::from_str(body).unwrap();
        let spans = &decoded.data.unwrap()[0].spans;
        assert_eq!(root_duration(spans, "ff"), Some(1500));
    }
}
