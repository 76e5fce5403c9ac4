//! OTLP in over every transport, read back through the Jaeger API.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn http_protobuf_traces_come_back_by_id_with_parent_references() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000_000_000;
    app.send_traces(&order_trace(0xA1, start)).await;

    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xA1))))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["errors"], Value::Null);
    let trace = &body["data"][0];
    assert_eq!(trace["traceID"], hex(&trace_id(0xA1)));
    assert_eq!(trace["spans"].as_array().unwrap().len(), 6);
    let user = find_span(trace, "user", "GET /users/{id}");
    assert_eq!(user["traceID"], hex(&trace_id(0xA1)));
    assert_eq!(user["spanID"], hex(&span_id(3)));
    assert_eq!(user["references"][0]["refType"], "CHILD_OF");
    assert_eq!(user["references"][0]["traceID"], hex(&trace_id(0xA1)));
    assert_eq!(user["references"][0]["spanID"], hex(&span_id(2)));
    assert_eq!(user["startTime"], (start / 1000 + 6_000) as i64);
    assert_eq!(user["duration"], 8_000);
    assert_eq!(tag(user, "span.kind").unwrap(), "server");
    assert_eq!(tag(user, "http.response.status_code").unwrap(), 200);
    assert_eq!(user["logs"][0]["fields"][0]["key"], "event");
    assert_eq!(
        user["logs"][0]["fields"][0]["value"],
        "GET /users/{id} started"
    );
    let root = find_span(trace, "order", "POST /orders");
    assert_eq!(root["references"], Value::Array(vec![]));
    let pid = root["processID"].as_str().unwrap();
    assert_eq!(trace["processes"][pid]["serviceName"], "order");
    let process_tags = trace["processes"][pid]["tags"].as_array().unwrap();
    assert!(
        process_tags
            .iter()
            .any(|t| t["key"] == "service.version" && t["value"] == "0.1.0")
    );
}

#[tokio::test]
async fn http_json_traces_in_canonical_otlp_json_are_stored() {
    let app = spawn_app().await;
    let start = now_ns() - 1_000_000_000;
    let body = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"json-svc"}}}}]}},
        "scopeSpans":[{{"scope":{{"name":"manual"}},"spans":[{{
          "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
          "name":"GET /json","kind":2,"startTimeUnixNano":"{start}","endTimeUnixNano":"{end}",
          "attributes":[{{"key":"http.response.status_code","value":{{"intValue":"200"}}}}],
          "status":{{}}}}]}}]}}]}}"#,
        end = start + 2_000_000
    );

    let res = app
        .post_otlp("/v1/traces", "application/json", body.into_bytes())
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    app.flush().await;

    let (status, body) = app
        .get("/api/traces/5b8efff798038103d269b633813fc60c")
        .await;
    assert_eq!(status, 200, "{body}");
    let span = find_span(&body["data"][0], "json-svc", "GET /json");
    assert_eq!(span["duration"], 2_000);
    assert_eq!(span["references"][0]["spanID"], "eee19b7ec3c1b173");
    assert_eq!(tag(span, "http.response.status_code").unwrap(), 200);
}

#[tokio::test]
async fn grpc_traces_and_logs_are_stored() {
    let app = spawn_app().await;
    let start = now_ns() - 5_000_000_000;
    let mut traces = TraceServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();
    let mut logs = LogsServiceClient::connect(app.otlp_grpc.clone())
        .await
        .unwrap();

    let answer = traces
        .export(order_trace(0xB2, start))
        .await
        .unwrap()
        .into_inner();
    assert!(answer.partial_success.is_none());
    logs.export(log_request(
        0xB2,
        "order",
        start,
        &[(1, "INFO", "Request started")],
    ))
    .await
    .unwrap();
    app.flush().await;

    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xB2))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 6);
    let (_, logs) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0xB2))
        ))
        .await;
    assert_eq!(logs["data"][0]["body"], "Request started");
}

#[tokio::test]
async fn grpc_is_also_accepted_on_the_http_port() {
    let app = spawn_app().await;
    let mut client = TraceServiceClient::connect(app.otlp_http.clone())
        .await
        .unwrap();

    client
        .export(quick_trace(0xB3, now_ns(), "order", 3))
        .await
        .unwrap();
    app.flush().await;

    let (status, _) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0xB3))))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn logs_of_a_trace_come_back_in_time_order_with_their_span() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000_000_000;
    app.send_traces(&order_trace(0xC3, start)).await;
    app.send_logs(&log_request(
        0xC3,
        "order",
        start,
        &[
            (1, "INFO", "Request started"),
            (6, "INFO", "Order validated"),
            (1, "ERROR", "Request failed"),
        ],
    ))
    .await;
    app.send_logs(&log_request(
        0xC4,
        "order",
        start,
        &[(1, "INFO", "another trace")],
    ))
    .await;

    let (status, body) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0xC3))
        ))
        .await;

    assert_eq!(status, 200, "{body}");
    let logs = body["data"].as_array().unwrap();
    let bodies: Vec<&str> = logs.iter().map(|l| l["body"].as_str().unwrap()).collect();
    assert_eq!(
        bodies,
        ["Request started", "Order validated", "Request failed"]
    );
    assert_eq!(logs[1]["span_id"], hex(&span_id(6)));
    assert_eq!(logs[2]["severity"], "ERROR");
    assert_eq!(logs[0]["service"], "order");
    assert_eq!(logs[0]["attributes"]["request_id"], "req-1");
    assert_eq!(logs[0]["time"], (start / 1000) as i64);
}

#[tokio::test]
async fn accepted_spans_become_visible_without_a_flush() {
    let app = spawn_app().await;
    let body = quick_trace(0xD1, now_ns(), "order", 2).encode_to_vec();

    let res = app.post_otlp("/v1/traces", PROTOBUF, body).await;

    assert_eq!(res.status(), 200);
    // The writer commits on its own within a fraction of a second; allow a loaded machine.
    let path = format!("/api/traces/{}", hex(&trace_id(0xD1)));
    tracemart_testkit::eventually(
        std::time::Duration::from_secs(10),
        "the trace to be visible",
        || async { (app.get(&path).await.0 == 200).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn health_answers_on_the_ui_and_otlp_http_ports() {
    let app = spawn_app().await;
    for base in [&app.ui, &app.otlp_http] {
        let res = app.http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(res.status(), 200, "{base}");
    }
}
