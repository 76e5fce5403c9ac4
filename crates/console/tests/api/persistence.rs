//! A restart keeps what was stored.

use crate::helpers::*;
use tracemart_console::ConsoleConfig;

/// `data/console.db` made by the console's first `migrations` migrations (an earlier schema),
/// holding `rows`: what an earlier console left behind.
async fn write_old_database(data: &std::path::Path, migrations: usize, rows: String) {
    use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
    std::fs::create_dir_all(data).unwrap();
    let all = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let earlier = tempfile::tempdir().unwrap();
    for file in files.iter().take(migrations) {
        std::fs::copy(file, earlier.path().join(file.file_name().unwrap())).unwrap();
    }
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("console.db"))
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    sqlx::migrate::Migrator::new(earlier.path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(rows))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_restarted_console_still_has_its_traces_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let start = now_ns() - 30_000_000_000;
    let app = spawn_app_with(ConsoleConfig::with_data_dir(data_dir(&dir))).await;
    app.send_traces(&order_trace(0x51, start)).await;
    app.send_logs(&log_request(
        0x51,
        "order",
        start,
        &[(1, "INFO", "before restart")],
    ))
    .await;
    let config = app.stop().await;
    // A new database gets 16 KiB pages (store/mod.rs says why); the size is fixed at creation.
    let page_size: i64 = rusqlite::Connection::open(config.database_path())
        .unwrap()
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .unwrap();
    assert_eq!(page_size, 16384);

    let app = spawn_app_with(config).await;
    let (status, body) = app
        .get(&format!("/api/traces/{}", hex(&trace_id(0x51))))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 6);
    let (_, logs) = app
        .get(&format!(
            "/api/console/traces/{}/logs",
            hex(&trace_id(0x51))
        ))
        .await;
    assert_eq!(logs["data"][0]["body"], "before restart");

    // Ingest continues after the restart without clashing with stored rows.
    app.send_traces(&order_trace(0x52, start + 1_000_000_000))
        .await;
    let (_, found) = app
        .get("/api/traces?service=inventory&tag=error:true")
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 2);
    let (_, services) = app.get("/api/services").await;
    assert_eq!(services["total"], 3);
}

#[tokio::test]
async fn shutdown_stores_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(ConsoleConfig::with_data_dir(data_dir(&dir))).await;
    for n in 0..20u128 {
        let res = app
            .post_otlp(
                "/v1/traces",
                PROTOBUF,
                prost::Message::encode_to_vec(&quick_trace(0x600 + n, now_ns(), "order", 1)),
            )
            .await;
        assert_eq!(res.status(), 200);
    }
    // No flush: stopping drains the queue.
    let config = app.stop().await;

    let app = spawn_app_with(config).await;
    let (_, body) = app.get("/api/console/traces?service=order&limit=100").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn a_database_of_the_first_schema_is_upgraded_with_its_data() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(&dir);
    let start_ns = now_ns() - 60_000_000_000;
    let start = start_ns / 1_000;
    let (a, b) = (hex(&trace_id(0x71)), hex(&trace_id(0x72)));
    let span = |n| hex(&span_id(n));
    let (s1, s2, s3, s9) = (span(1), span(2), span(3), span(9));
    // Trace a: order -> user, with a log record. Trace b: a payment span whose parent (9)
    // has not arrived, so it waits in pending_edges.
    let rows = format!(
        "INSERT INTO resources VALUES (1, 'order', '{{\"service.name\":\"order\"}}'), \
             (2, 'user', '{{\"service.name\":\"user\"}}'), \
             (3, 'payment', '{{\"service.name\":\"payment\"}}');
         INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, \
             start_us, duration_us, status_code, status_message, attributes, events, links, \
             scope_name, scope_version, resource_id, tags) VALUES \
             ('{a}', '{s1}', '', 'order', 'POST /orders', 2, {start}, 40000, 0, '', '{{}}', \
              '[]', '[]', 'tracemart', '', 1, char(31)), \
             ('{a}', '{s2}', '{s1}', 'user', 'GET /users/{{id}}', 2, {start} + 5000, 20000, 0, '', \
              '{{}}', '[]', '[]', 'tracemart', '', 2, char(31)), \
             ('{b}', '{s3}', '{s9}', 'payment', 'POST /payments', 2, {start} + 5000, 20000, 0, \
              '', '{{}}', '[]', '[]', 'tracemart', '', 3, char(31));
         INSERT INTO traces VALUES ('{a}', {start}, {start} + 40000, 2, 0, 1, 'order', \
             'POST /orders'), ('{b}', {start} + 5000, {start} + 25000, 1, 0, 0, 'payment', \
             'POST /payments');
         INSERT INTO logs (time_us, trace_id, span_id, service, severity_number, severity_text, \
             body, attributes, resource_id) VALUES ({start} + 1000, '{a}', '{s1}', 'order', 9, \
             'INFO', 'written by the first schema', '{{}}', 1);
         INSERT INTO pending_edges VALUES ('{b}', '{s9}', '{s3}', 'payment', {start} + 5000, 0, \
             {start});"
    );
    write_old_database(&data, 1, rows).await; // the first schema

    let app = spawn_app_with(ConsoleConfig::with_data_dir(data)).await;
    let (status, trace) = app.get(&format!("/api/traces/{a}")).await;
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["data"][0]["spans"].as_array().unwrap().len(), 2);
    let (_, logs) = app.get(&format!("/api/console/traces/{a}/logs")).await;
    assert_eq!(logs["data"][0]["body"], "written by the first schema");

    // New spans join the upgraded traces: a third span of a, and b's missing parent, which
    // completes the waiting order -> payment edge.
    app.send_traces(&trace_request(
        0x71,
        start_ns,
        vec![
            SpanSpec::new(
                "product",
                4,
                Some(1),
                "GET /products/{id}",
                SpanKind::Server,
            )
            .at(6, 2),
        ],
    ))
    .await;
    app.send_traces(&trace_request(
        0x72,
        start_ns,
        vec![SpanSpec::new("order", 9, None, "POST /orders", SpanKind::Server).at(0, 40)],
    ))
    .await;
    let (_, listed) = app.get("/api/console/traces?service=user").await;
    assert_eq!(listed["data"][0]["trace_id"], a.as_str(), "{listed}");
    assert_eq!(listed["data"][0]["span_count"], 3);
    let (_, b_listed) = app.get("/api/console/traces?service=payment").await;
    assert_eq!(b_listed["data"][0]["root_service"], "order", "{b_listed}");
    assert_eq!(b_listed["data"][0]["span_count"], 2);
    let (_, deps) = app.get("/api/dependencies?lookback=86400000").await;
    assert!(
        deps["data"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"parent": "order", "child": "payment", "callCount": 1})),
        "{deps}"
    );
    // The product span's parent is an upgraded row: found by its id.
    assert!(
        deps["data"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"parent": "order", "child": "product", "callCount": 1})),
        "{deps}"
    );
    // Statistics read the upgraded rows by service and operation name.
    let (_, ops) = app.get("/api/console/services/user/operations").await;
    assert_eq!(ops["data"][0]["operation"], "GET /users/{id}", "{ops}");
    assert_eq!(ops["data"][0]["stats"]["count"], 1, "{ops}");
}

#[tokio::test]
async fn links_stored_before_they_were_indexed_relate_their_traces_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(&dir);
    let start = (now_ns() - 60_000_000_000) / 1_000;
    let (a, b) = (hex(&trace_id(0x81)), hex(&trace_id(0x82)));
    let (s1, s2) = (hex(&span_id(1)), hex(&span_id(2)));
    let zero_trace = "0".repeat(32);
    // b's consumer span links to a's producer span; a's span carries a link with a zero trace
    // id, which is not indexed.
    let rows = format!(
        "INSERT INTO resources VALUES (1, 'order', '{{\"service.name\":\"order\"}}'), \
             (2, 'payment', '{{\"service.name\":\"payment\"}}');
         INSERT INTO traces (seq, trace_id, start_us, end_us, span_count, error_count, has_root, \
             root_service, root_operation) VALUES \
             (1, '{a}', {start}, {start} + 30000, 1, 0, 1, 'order', 'POST /orders'), \
             (2, '{b}', {start} + 200000, {start} + 250000, 1, 0, 1, 'payment', \
              'order.created process');
         INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, \
             start_us, duration_us, status_code, status_message, attributes, events, links, \
             scope_name, scope_version, resource_id, tags, trace_seq) VALUES \
             ('{a}', '{s2}', '', 'order', 'POST /orders', 2, {start}, 30000, 0, '', '{{}}', \
              '[]', '[{{\"attrs\":{{}},\"span_id\":\"{s1}\",\"trace_id\":\"{zero_trace}\"}}]', \
              'tracemart', '', 1, char(31), 1), \
             ('{b}', '{s1}', '', 'payment', 'order.created process', 5, {start} + 200000, \
              50000, 0, '', '{{}}', '[]', \
              '[{{\"attrs\":{{}},\"span_id\":\"{s2}\",\"trace_id\":\"{a}\"}}]', \
              'tracemart', '', 2, char(31), 2);"
    );
    write_old_database(&data, 2, rows).await; // numbered traces, before links were indexed

    let app = spawn_app_with(ConsoleConfig::with_data_dir(data)).await;

    let (status, body) = app.get(&format!("/api/console/traces/{a}/related")).await;
    assert_eq!(status, 200, "{body}");
    let traces = body["traces"].as_array().unwrap();
    let ids: Vec<&str> = traces
        .iter()
        .map(|t| t["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    assert_eq!(traces[0]["links"], serde_json::json!([]), "{body}");
    assert_eq!(
        traces[1]["links"],
        serde_json::json!([{"from_span_id": s1, "to_trace_id": a, "to_span_id": s2}])
    );
}

#[tokio::test]
async fn edges_stored_before_message_edges_stay_calls_and_stored_links_become_message_edges() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(&dir);
    let start = (now_ns() - 60_000_000_000) / 1_000;
    let bucket = start - start % 60_000_000;
    let (a, b) = (hex(&trace_id(0x83)), hex(&trace_id(0x84)));
    let (s1, s2) = (hex(&span_id(1)), hex(&span_id(2)));
    // a's producer span (order) and b's consumer span (payment) linking to it, with its row in
    // the link index; and a call edge counted before the upgrade.
    let rows = format!(
        "INSERT INTO resources VALUES (1, 'order', '{{\"service.name\":\"order\"}}'), \
             (2, 'payment', '{{\"service.name\":\"payment\"}}');
         INSERT INTO traces (seq, trace_id, start_us, end_us, span_count, error_count, has_root, \
             root_service, root_operation) VALUES \
             (1, '{a}', {start}, {start} + 30000, 1, 0, 0, 'order', \
              'publish_order_created_event'), \
             (2, '{b}', {start} + 200000, {start} + 250000, 1, 1, 1, 'payment', \
              'process order.created');
         INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, \
             start_us, duration_us, status_code, status_message, attributes, events, links, \
             scope_name, scope_version, resource_id, tags, trace_seq) VALUES \
             ('{a}', '{s2}', '{s1}', 'order', 'publish_order_created_event', 4, {start}, \
              2000, 0, '', '{{}}', '[]', '[]', 'tracemart', '', 1, char(31), 1), \
             ('{b}', '{s1}', '', 'payment', 'process order.created', 5, {start} + 200000, \
              50000, 2, 'declined', '{{}}', '[]', \
              '[{{\"attrs\":{{}},\"span_id\":\"{s2}\",\"trace_id\":\"{a}\"}}]', \
              'tracemart', '', 2, char(31), 2);
         INSERT INTO span_links VALUES (2, '{s1}', '{a}', '{s2}');
         INSERT INTO dependency_edges VALUES ({bucket}, 'order', 'user', 3, 1);"
    );
    write_old_database(&data, 3, rows).await; // indexed links, before message edges

    let app = spawn_app_with(ConsoleConfig::with_data_dir(data)).await;

    let (status, map) = app.get("/api/console/map?lookback=1h").await;
    assert_eq!(status, 200, "{map}");
    let edges: Vec<(&str, &str, &str, i64, i64)> = map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["parent"].as_str().unwrap(),
                e["child"].as_str().unwrap(),
                e["kind"].as_str().unwrap(),
                e["calls"].as_i64().unwrap(),
                e["errors"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![
            ("order", "payment", "message", 1, 1),
            ("order", "user", "call", 3, 1),
        ]
    );
}

#[tokio::test]
async fn spans_stored_with_a_tag_column_are_found_by_tag_as_new_ones_are() {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(&dir);
    let start_ns = now_ns() - 60_000_000_000;
    let start = start_ns / 1_000;
    let old = hex(&trace_id(0x91));
    let s1 = hex(&span_id(1));
    // A failed inventory SERVER span as an earlier console stored it, tags and all.
    let rows = format!(
        "INSERT INTO resources VALUES (1, 'inventory', '{{\"service.name\":\"inventory\"}}');
         INSERT INTO traces (seq, trace_id, start_us, end_us, span_count, error_count, has_root, \
             root_service, root_operation) VALUES \
             (1, '{old}', {start}, {start} + 30000, 1, 1, 1, 'inventory', 'POST /reservations');
         INSERT INTO spans (trace_id, span_id, parent_span_id, service, operation, kind, \
             start_us, duration_us, status_code, status_message, attributes, events, links, \
             scope_name, scope_version, resource_id, tags, trace_seq) VALUES \
             ('{old}', '{s1}', '', 'inventory', 'POST /reservations', 2, {start}, 30000, 2, '', \
              '{{\"http.route\":\"/reservations\",\"http.response.status_code\":500}}', '[]', \
              '[]', 'tracemart', '', 1, \
              char(31) || 'http.route=/reservations' || char(31) || \
              'http.response.status_code=500' || char(31) || 'span.kind=server' || char(31) || \
              'error=true' || char(31) || 'otel.status_code=ERROR' || char(31), 1);"
    );
    write_old_database(&data, 5, rows).await; // every migration so far: spans with a tags column

    let app = spawn_app_with(ConsoleConfig::with_data_dir(data)).await;
    // The same span stored by this console: a new trace, status ERROR, the same attributes.
    app.send_traces(&trace_request(
        0x92,
        start_ns + 1_000_000_000,
        vec![
            SpanSpec::new("inventory", 1, None, "POST /reservations", SpanKind::Server)
                .at(0, 30)
                .attr("http.route", s("/reservations"))
                .attr("http.response.status_code", i(500))
                .failed(),
        ],
    ))
    .await;
    let new = hex(&trace_id(0x92));

    for (query, want) in [
        (r#"{"http.response.status_code":"500"}"#, vec![&new, &old]),
        (r#"{"http.route":"/reservations"}"#, vec![&new, &old]),
        (r#"{"span.kind":"server","error":"true"}"#, vec![&new, &old]),
        (r#"{"otel.status_code":"ERROR"}"#, vec![&new, &old]),
        (r#"{"http.response.status_code":"50"}"#, vec![]),
        (r#"{"span.kind":"client"}"#, vec![]),
    ] {
        let want: Vec<String> = want.into_iter().cloned().collect();
        let (status, body) = app
            .get(&format!(
                "/api/traces?service=inventory&lookback=1h&tags={}",
                crate::jaeger_api::urlencode(query)
            ))
            .await;
        assert_eq!(status, 200, "{query}: {body}");
        let found: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["traceID"].as_str().unwrap())
            .collect();
        assert_eq!(found, want, "{query}");
    }
}
