//! A trace's log lines: the services' logs, exported over OTLP with the active span's ids, come
//! back from `/api/console/traces/{id}/logs` for the trace they belong to.

use std::collections::HashSet;

use crate::helpers::{ORDER_PATH_SERVICES, TELEMETRY_TIMEOUT, Up};

#[tokio::test]
async fn a_traces_logs_come_from_every_service_on_the_orders_path() {
    let up = Up::start();
    let placed = up.order(7, 4, 1).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;

    // Spans and logs are exported separately: wait until both are complete.
    let (logs, span_ids) = tracemart_testkit::eventually(
        TELEMETRY_TIMEOUT,
        "logs of the trace from all four services, each tied to a span of the trace",
        || async {
            let (status, body) = up
                .console_get(&format!("/api/console/traces/{}/logs", placed.trace_id))
                .await;
            let logs = body["data"].as_array()?.clone();
            let services: HashSet<&str> =
                logs.iter().filter_map(|l| l["service"].as_str()).collect();
            if status != 200 || !ORDER_PATH_SERVICES.iter().all(|s| services.contains(s)) {
                return None;
            }
            let trace = up.trace_with(&placed.trace_id, &ORDER_PATH_SERVICES).await;
            let span_ids: HashSet<String> = trace
                .spans()
                .iter()
                .filter_map(|s| s.json["spanID"].as_str().map(str::to_owned))
                .collect();
            logs.iter()
                .all(|l| {
                    l["span_id"]
                        .as_str()
                        .is_some_and(|id| span_ids.contains(id))
                })
                .then_some((logs, span_ids))
        },
    )
    .await;

    for l in &logs {
        assert_eq!(l["trace_id"], placed.trace_id.as_str(), "{l}");
        assert!(span_ids.contains(l["span_id"].as_str().unwrap()), "{l}");
        assert!(!l["body"].as_str().unwrap_or_default().is_empty(), "{l}");
        assert!(
            !l["severity"].as_str().unwrap_or_default().is_empty(),
            "{l}"
        );
    }
    let times: Vec<i64> = logs.iter().map(|l| l["time"].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "logs are oldest first: {times:?}"
    );
    // Another trace's id finds none of them.
    let (status, none) = up
        .console_get("/api/console/traces/0123456789abcdef0123456789abcdef/logs")
        .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["data"], serde_json::json!([]));
}
