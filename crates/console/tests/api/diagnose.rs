//! `GET /api/diagnose`: the culprit of a window's failures and slowness, named from its traces
//! against the window before, where the fault is rather than where it shows.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind::{Client, Consumer, Producer, Server};
use serde_json::Value;

use crate::helpers::*;

const MS: u64 = 1_000_000;
const TRACES: u64 = 10;

/// How a request's call to "stock" went.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Answered,
    /// Stock's own span failed (and so did its callers').
    Failed,
    /// No answer: the client span timed out, and stock made no span.
    Unanswered,
}

/// "shop" serves `GET /basket` by calling "stock" (`GET /stock`), which reads its database.
fn request(trace: u128, start_ns: u64, stock_ms: u64, call: Call) -> ExportTraceServiceRequest {
    let failed = call != Call::Answered;
    let mark = |spec: SpanSpec<'static>, fail: bool| if fail { spec.failed() } else { spec };
    let mut spans = vec![
        mark(
            SpanSpec::new("shop", 1, None, "GET /basket", Server).at(0, stock_ms + 10),
            failed,
        ),
        mark(
            SpanSpec::new("shop", 2, Some(1), "GET /stock", Client)
                .at(2, stock_ms + 4)
                .attr("peer.service", s("stock")),
            failed,
        ),
    ];
    if call != Call::Unanswered {
        spans.push(mark(
            SpanSpec::new("stock", 3, Some(2), "GET /stock", Server).at(3, stock_ms + 2),
            call == Call::Failed,
        ));
        spans.push(SpanSpec::new("stock", 4, Some(3), "SELECT stock", Client).at(4, 1));
    }
    trace_request(trace, start_ns, spans)
}

/// Sends `TRACES` requests in the baseline (14 s to 7 s ago) and `TRACES` in the window (the
/// last 5 s), then diagnoses the window.
async fn diagnose(
    baseline: impl Fn(u128, u64) -> Option<ExportTraceServiceRequest>,
    window: impl Fn(u128, u64) -> Option<ExportTraceServiceRequest>,
) -> (Value, Vec<String>) {
    let app = spawn_app().await;
    let now = now_ns();
    let mut in_window = Vec::new();
    for n in 0..TRACES {
        if let Some(req) = baseline(0x100 + u128::from(n), now - 14_000 * MS + n * 800 * MS) {
            app.send_traces(&req).await;
        }
        let id = 0x200 + u128::from(n);
        if let Some(req) = window(id, now - 5_000 * MS + n * 400 * MS) {
            app.send_traces(&req).await;
            in_window.push(hex(&trace_id(id)));
        }
    }
    (window_diagnosis(&app, now).await, in_window)
}

/// The diagnosis of the last 5.5 s before `now` against the 9 s before, once everything sent
/// is stored.
async fn window_diagnosis(app: &TestApp, now: u64) -> Value {
    app.flush().await;
    let (start, until) = ((now - 5_500 * MS) / MS, now / MS);
    let (status, body) = app
        .get(&format!(
            "/api/diagnose?start={start}&until={until}&baseline=9s&settle=1s"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn culprit(body: &Value) -> (&str, &str, &str) {
    let c = &body["culprit"];
    (
        c["service"].as_str().unwrap_or_default(),
        c["operation"].as_str().unwrap_or_default(),
        c["signal"].as_str().unwrap_or_default(),
    )
}

/// The services of the candidates, each once.
fn candidates(body: &Value) -> Vec<&str> {
    let mut services: Vec<&str> = body["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["service"].as_str())
        .collect();
    services.dedup();
    services
}

#[tokio::test]
async fn a_callee_that_never_answers_is_named_from_its_callers_client_spans() {
    // No baseline at all: the callee is known only from the client spans' peer.service.
    let (body, window) = diagnose(
        |_, _| None,
        |id, at| Some(request(id, at, 1000, Call::Unanswered)),
    )
    .await;
    assert_eq!(culprit(&body), ("stock", "GET /stock", "errors"), "{body}");
    let evidence = &body["culprit"]["errors"];
    assert_eq!(evidence["failing_traces"], 10, "{body}");
    assert_eq!(evidence["share_of_failing"], 1.0, "{body}");
    let examples = body["culprit"]["example_traces"].as_array().unwrap();
    assert_eq!(examples.len(), 5, "{body}");
    assert!(
        examples
            .iter()
            .all(|e| window.contains(&e.as_str().unwrap().to_owned())),
        "{body}"
    );
    assert_eq!(body["found"], true);
}

#[tokio::test]
async fn a_failing_callee_is_named_rather_than_the_callers_that_fail_with_it() {
    let (body, _) = diagnose(
        |id, at| Some(request(id, at, 5, Call::Answered)),
        |id, at| Some(request(id, at, 5, Call::Failed)),
    )
    .await;
    assert_eq!(culprit(&body), ("stock", "GET /stock", "errors"), "{body}");
    assert_eq!(body["traces"]["window_failing"], 10, "{body}");
    assert_eq!(body["traces"]["baseline_failing"], 0, "{body}");
    assert_eq!(
        candidates(&body),
        ["stock"],
        "the callers fail only because stock does: {body}"
    );
}

#[tokio::test]
async fn the_operation_whose_own_time_grew_is_named_with_its_percentiles() {
    let (body, _) = diagnose(
        |id, at| Some(request(id, at, 5, Call::Answered)),
        |id, at| Some(request(id, at, 400, Call::Answered)),
    )
    .await;
    assert_eq!(culprit(&body), ("stock", "GET /stock", "latency"), "{body}");
    let own = &body["culprit"]["latency"]["self_ms"];
    assert!(own["baseline"]["p50"].as_f64().unwrap() < 10.0, "{body}");
    assert!(own["window"]["p50"].as_f64().unwrap() > 390.0, "{body}");
    // The callers took longer too, but not in their own time.
    assert_eq!(candidates(&body), ["stock"], "{body}");
}

#[tokio::test]
async fn a_window_like_its_baseline_names_nothing() {
    let (body, _) = diagnose(
        |id, at| Some(request(id, at, 5, Call::Answered)),
        |id, at| Some(request(id, at, 6, Call::Answered)),
    )
    .await;
    assert_eq!(body["found"], false, "{body}");
    assert_eq!(body["culprit"], Value::Null, "{body}");
    assert_eq!(body["traces"]["window"], 10, "{body}");
    assert_eq!(body["traces"]["baseline"], 10, "{body}");
}

/// A request that publishes a message (span 2), and, if `consumed`, the trace of its consumer
/// in "billing", 10 ms after.
fn published(trace: u128, start_ns: u64, consumed: bool) -> Vec<ExportTraceServiceRequest> {
    let mut out = vec![trace_request(
        trace,
        start_ns,
        vec![
            SpanSpec::new("shop", 1, None, "POST /checkout", Server).at(0, 20),
            SpanSpec::new("shop", 2, Some(1), "publish checkout", Producer).at(10, 2),
        ],
    )];
    if consumed {
        out.push(trace_request(
            trace + 0x1000,
            start_ns + 22 * MS,
            vec![
                SpanSpec::new("billing", 1, None, "process checkout", Consumer)
                    .at(0, 5)
                    .linked_to(trace, 2),
            ],
        ));
    }
    out
}

#[tokio::test]
async fn messages_no_one_consumes_any_more_name_their_consumer() {
    let app = spawn_app().await;
    let now = now_ns();
    for n in 0..TRACES {
        for req in published(
            0x300 + u128::from(n),
            now - 14_000 * MS + n * 800 * MS,
            true,
        ) {
            app.send_traces(&req).await;
        }
        for req in published(
            0x400 + u128::from(n),
            now - 5_000 * MS + n * 300 * MS,
            false,
        ) {
            app.send_traces(&req).await;
        }
    }
    let body = window_diagnosis(&app, now).await;
    assert_eq!(
        culprit(&body),
        ("billing", "process checkout", "messages"),
        "{body}"
    );
    let evidence = &body["culprit"]["messages"];
    assert_eq!(evidence["producer"], "shop publish checkout", "{body}");
    // Those published in the last second may still be on their way.
    let unconsumed = evidence["unconsumed"].as_u64().unwrap();
    assert!((6..=10).contains(&unconsumed), "{body}");
    assert!(
        evidence["wait_ms"]["baseline"]["p99"].as_f64().unwrap() < 20.0,
        "{body}"
    );
}

#[tokio::test]
async fn a_bad_window_is_refused() {
    let app = spawn_app().await;
    for query in ["since=soon", "start=9000&until=1000", "since=1m&start=5"] {
        let (status, body) = app.get(&format!("/api/diagnose?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
    }
}
