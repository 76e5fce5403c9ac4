//! Message edges on the service map: a consumer span that links to a producer span of another
//! service connects the two services (producer -> consumer, kind `message`), whichever of the
//! two spans arrives first; calls keep their own edges.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;

use crate::helpers::*;

const MS: u64 = 1_000_000;
/// The order's request trace (its span 2 publishes `order.created`) and the trace in which
/// payment processes the message.
const PRODUCER: u128 = 0xe1;
const CONSUMER: u128 = 0xe2;

/// `POST /orders` in `service`, publishing `order.created` in span 2.
fn producer(service: &str, start_ns: u64) -> ExportTraceServiceRequest {
    use SpanKind::*;
    trace_request(
        PRODUCER,
        start_ns,
        vec![
            SpanSpec::new(service, 1, None, "POST /orders", Server).at(0, 30),
            SpanSpec::new(service, 2, Some(1), "publish_order_created_event", Producer).at(20, 2),
        ],
    )
}

/// `process order.created` in `service`: a new trace whose consumer span links to the
/// producer's span.
fn consumer(service: &str) -> SpanSpec<'_> {
    SpanSpec::new(
        service,
        1,
        None,
        "process order.created",
        SpanKind::Consumer,
    )
    .at(200, 10)
    .linked_to(PRODUCER, 2)
}

fn consumer_trace(spec: SpanSpec<'_>, start_ns: u64) -> ExportTraceServiceRequest {
    trace_request(CONSUMER, start_ns, vec![spec])
}

/// The map's edges as (parent, child, kind, calls, errors), in the API's order.
async fn map_edges(app: &TestApp) -> Vec<(String, String, String, i64, i64)> {
    let (status, map) = app.get("/api/console/map?lookback=1h").await;
    assert_eq!(status, 200, "{map}");
    map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["parent"].as_str().unwrap().to_owned(),
                e["child"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
                e["calls"].as_i64().unwrap(),
                e["errors"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn edge(
    parent: &str,
    child: &str,
    kind: &str,
    n: i64,
    errors: i64,
) -> (String, String, String, i64, i64) {
    (parent.into(), child.into(), kind.into(), n, errors)
}

#[tokio::test]
async fn a_consumer_linked_to_another_services_producer_is_one_message_edge_in_any_arrival_order() {
    struct Case {
        name: &'static str,
        /// Exports in arrival order; `true` for the producer's.
        arrivals: &'static [bool],
        failed: bool,
    }
    let cases = [
        Case {
            name: "producer first",
            arrivals: &[true, false],
            failed: false,
        },
        Case {
            name: "consumer first",
            arrivals: &[false, true],
            failed: false,
        },
        Case {
            name: "a failed consumer, first",
            arrivals: &[false, true],
            failed: true,
        },
    ];
    for case in cases {
        let app = spawn_app().await;
        let start = now_ns() - 60_000 * MS;
        for is_producer in case.arrivals {
            let req = if *is_producer {
                producer("order", start)
            } else {
                let spec = consumer("payment");
                consumer_trace(if case.failed { spec.failed() } else { spec }, start)
            };
            app.send_traces(&req).await;
        }

        let edges = map_edges(&app).await;

        let errors = i64::from(case.failed);
        assert_eq!(
            edges,
            vec![edge("order", "payment", "message", 1, errors)],
            "{}",
            case.name
        );
    }
}

#[tokio::test]
async fn a_producer_and_its_consumer_in_one_export_are_one_message_edge() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    let mut req = producer("order", start);
    req.resource_spans
        .extend(consumer_trace(consumer("payment"), start).resource_spans);

    app.send_traces(&req).await;

    assert_eq!(
        map_edges(&app).await,
        vec![edge("order", "payment", "message", 1, 0)]
    );
}

#[tokio::test]
async fn links_within_one_service_or_from_spans_that_consume_nothing_are_no_edges() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    // The order service sends itself a command: producer and consumer in the same service.
    app.send_traces(&consumer_trace(consumer("order"), start))
        .await;
    app.send_traces(&producer("order", start)).await;
    // A span of another kind that links to the producer (a batch job citing its cause).
    app.send_traces(&trace_request(
        0xe3,
        start,
        vec![
            SpanSpec::new("payment", 1, None, "reconcile", SpanKind::Internal)
                .at(300, 5)
                .linked_to(PRODUCER, 2),
        ],
    ))
    .await;
    // A consumer whose producer never arrives.
    app.send_traces(&trace_request(
        0xe4,
        start,
        vec![
            SpanSpec::new(
                "payment",
                1,
                None,
                "process order.created",
                SpanKind::Consumer,
            )
            .at(300, 5)
            .linked_to(0xe5, 2),
        ],
    ))
    .await;

    assert_eq!(map_edges(&app).await, vec![]);
    let (_, deps) = app.get("/api/dependencies").await;
    assert_eq!(deps["data"], json!([]));
}

#[tokio::test]
async fn call_edges_are_unchanged_beside_message_edges_and_jaeger_sums_both() {
    let app = spawn_app().await;
    let start = now_ns() - 60_000 * MS;
    // Calls: order -> user (ok) and order -> inventory (failed), and order -> payment once.
    app.send_traces(&order_trace(0xe6, start)).await;
    app.send_traces(&trace_request(
        0xe7,
        start,
        vec![
            SpanSpec::new("order", 1, None, "GET /orders/{id}", SpanKind::Server).at(0, 10),
            SpanSpec::new("payment", 2, Some(1), "GET /payments", SpanKind::Server).at(2, 5),
        ],
    ))
    .await;
    // Messages: order -> payment, consumer first.
    app.send_traces(&consumer_trace(consumer("payment"), start))
        .await;
    app.send_traces(&producer("order", start)).await;

    assert_eq!(
        map_edges(&app).await,
        vec![
            edge("order", "inventory", "call", 1, 1),
            edge("order", "payment", "call", 1, 0),
            edge("order", "payment", "message", 1, 0),
            edge("order", "user", "call", 1, 0),
        ]
    );
    // Jaeger's links have no kind: one per pair of services, calls and messages summed.
    let (status, deps) = app.get("/api/dependencies").await;
    assert_eq!(status, 200, "{deps}");
    assert_eq!(
        deps["data"],
        json!([
            {"parent": "order", "child": "inventory", "callCount": 1},
            {"parent": "order", "child": "payment", "callCount": 2},
            {"parent": "order", "child": "user", "callCount": 1},
        ])
    );
}

#[tokio::test]
async fn a_consumer_waiting_for_its_producer_is_counted_when_the_producer_arrives_after_a_restart()
{
    let dir = tempfile::tempdir().unwrap();
    let start = now_ns() - 60_000 * MS;
    let app = spawn_app_with(tracemart_console::ConsoleConfig::with_data_dir(data_dir(
        &dir,
    )))
    .await;
    app.send_traces(&consumer_trace(consumer("payment"), start))
        .await;
    let config = app.stop().await;

    let app = spawn_app_with(config).await;
    app.send_traces(&producer("order", start)).await;

    assert_eq!(
        map_edges(&app).await,
        vec![edge("order", "payment", "message", 1, 0)]
    );
}
