//! A trace larger than the console's limits: its spans beyond the per-request limit are
//! refused as a partial success, those beyond the per-trace limit are dropped and counted, and
//! every answer returns at most its span budget, the earliest spans by start time, marked
//! truncated with the total.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::Value;
use tracemart_console::ConsoleConfig;

use crate::helpers::*;

const LARGE: u128 = 0x1a;
const SMALL: u128 = 0x5a;

/// Spans `ids` of the large trace in the order service, each starting `offset(id)` ms after
/// the trace's start; span 1 is the root.
fn large_trace_part(
    start_ns: u64,
    ids: std::ops::RangeInclusive<u64>,
    offset: impl Fn(u64) -> u64,
) -> Vec<u8> {
    let spans = ids
        .map(|id| {
            let parent = (id != 1).then_some(1);
            SpanSpec::new("order", id, parent, "SELECT orders", SpanKind::Client).at(offset(id), 1)
        })
        .collect();
    trace_request(LARGE, start_ns, spans).encode_to_vec()
}

async fn export(app: &TestApp, body: Vec<u8>) -> ExportTraceServiceResponse {
    let res = app.post_otlp("/v1/traces", PROTOBUF, body).await;
    assert_eq!(res.status(), 200);
    ExportTraceServiceResponse::decode(res.bytes().await.unwrap()).unwrap()
}

fn span_ids(trace: &Value) -> Vec<u64> {
    trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| u64::from_str_radix(s["spanID"].as_str().unwrap(), 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_trace_over_the_limits_is_stored_and_answered_in_part_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(ConsoleConfig {
        max_spans_per_request: 30,
        max_spans_per_trace: 50,
        max_spans_per_answer: 20,
        ..ConsoleConfig::with_data_dir(dir.path())
    })
    .await;
    let start = now_ns() - 60_000_000_000;

    // 40 spans in one request: the first 30 are taken, 10 refused as a partial success.
    let answer = export(&app, large_trace_part(start, 1..=40, |id| 100 + id)).await;
    let partial = answer.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 10);
    assert!(
        partial.error_message.contains("limit of 30 per request"),
        "{}",
        partial.error_message
    );
    // 30 more, starting earlier than all before: 20 fit the trace's limit of 50, 10 are
    // dropped; then 10 more, all dropped.
    let answer = export(&app, large_trace_part(start, 41..=70, |id| id - 41)).await;
    assert_eq!(
        answer.partial_success, None,
        "the request was within its limit"
    );
    export(&app, large_trace_part(start, 71..=80, |id| id)).await;
    app.send_traces(&order_trace(SMALL, start + 5_000_000))
        .await;

    // The summary counts what is stored and what was dropped.
    let (_, found) = app
        .get("/api/console/traces?service=order&lookback=2h&limit=10")
        .await;
    let summary = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["trace_id"] == hex(&trace_id(LARGE)))
        .unwrap_or_else(|| panic!("the large trace in {found}"));
    assert_eq!(summary["span_count"], 50);
    assert_eq!(summary["dropped_spans"], 20);
    assert_eq!(summary["truncated"], true);

    // The trace answer holds the earliest 20 stored spans: the ones of the second request.
    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(LARGE))))
        .await;
    assert_eq!(status, 200);
    let trace = &body["data"][0];
    assert_eq!(span_ids(trace), (41..=60).collect::<Vec<u64>>());
    assert_eq!(trace["truncated"], true);
    assert_eq!(trace["totalSpans"], 70);
    assert_eq!(trace["storedSpans"], 50);
    let warning = trace["warnings"][0].as_str().unwrap();
    assert!(warning.contains("20 of its 70 spans"), "{warning}");

    // A search shares the budget: the small trace comes whole, the large one in part.
    let (status, body) = app.get("/api/traces?service=order&lookback=2h").await;
    assert_eq!(status, 200);
    let traces = body["data"].as_array().unwrap();
    assert_eq!(traces.len(), 2, "{body}");
    let by_id = |id: u128| {
        traces
            .iter()
            .find(|t| t["traceID"] == hex(&trace_id(id)))
            .unwrap()
    };
    assert_eq!(span_ids(by_id(SMALL)).len(), 6);
    assert_eq!(by_id(SMALL)["truncated"], false);
    assert_eq!(by_id(SMALL)["warnings"], Value::Null);
    assert_eq!(span_ids(by_id(LARGE)), (41..=54).collect::<Vec<u64>>());
    assert_eq!(by_id(LARGE)["truncated"], true);
}

#[tokio::test]
async fn a_trace_within_the_limits_is_whole_and_not_marked() {
    let app = spawn_app().await;
    app.send_traces(&order_trace(SMALL, now_ns())).await;

    let (_, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(SMALL))))
        .await;

    let trace = &body["data"][0];
    assert_eq!(span_ids(trace).len(), 6);
    assert_eq!(trace["truncated"], false);
    assert_eq!(trace["totalSpans"], 6);
    assert_eq!(trace["storedSpans"], 6);
}
