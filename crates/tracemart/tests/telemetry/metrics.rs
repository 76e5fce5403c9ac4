//! `/metrics`, parsed: counts equal the requests made, business values equal the orders'
//! totals, labels are bounded route templates, `promtool` finds no problem, and OpenMetrics
//! carries trace-id exemplars.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};

use tracemart_platform::ServiceName;

use crate::helpers::{DEADLINE, Shop, label_values, order_body, sample};

/// The seed's segment rule, written independently of the code under test.
fn segment(user_id: i64) -> &'static str {
    match user_id % 10 {
        0 | 1 => "premium",
        2..=5 => "standard",
        _ => "basic",
    }
}

#[tokio::test]
async fn counts_and_business_values_match_the_orders_placed() {
    let shop = Shop::up().await;
    let users = [10, 3, 7, 21, 45, 99];
    // Every segment, before any order: the baseline (empty) is part of the check.
    let before = shop.scrape(ServiceName::Order).await;

    let mut count: HashMap<&str, f64> = HashMap::new();
    let mut amount: HashMap<&str, f64> = HashMap::new();
    for (i, user) in users.into_iter().enumerate() {
        let items = [(i as i64 + 1, 2), (50 + i as i64, 1)];
        let answer = shop.post_order(&order_body(user, &items)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        // The total is the product service's prices times the quantities.
        let mut expected = 0.0;
        for (p, q) in items {
            let product = shop
                .get(ServiceName::Product, &format!("/products/{p}"))
                .await;
            expected += product.body["price"].as_f64().unwrap() * q as f64;
        }
        let total = answer.body["total_amount"].as_f64().unwrap();
        assert!(
            (total - expected).abs() < 1e-6,
            "total {total}, prices say {expected}"
        );
        *count.entry(segment(user)).or_default() += 1.0;
        *amount.entry(segment(user)).or_default() += total;
    }
    let failed = shop.post_order(&order_body(999_999, &[(1, 1)])).await;
    assert_eq!(failed.status, 400);

    let after = shop.scrape(ServiceName::Order).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    for seg in ["premium", "standard", "basic"] {
        let want_n = count.get(seg).copied().unwrap_or(0.0);
        let want_sum = amount.get(seg).copied().unwrap_or(0.0);
        let labels = [("currency", "USD"), ("user_segment", seg)];
        assert_eq!(
            delta(
                "orders_created_total",
                &[("status", "created"), ("user_segment", seg)]
            ),
            want_n,
            "orders_created_total{{user_segment={seg}}}"
        );
        assert_eq!(
            delta("order_amount_count", &labels),
            want_n,
            "order_amount_count {seg}"
        );
        let sum = delta("order_amount_sum", &labels);
        assert!(
            (sum - want_sum).abs() < 1e-6,
            "order_amount_sum {seg}: {sum} != {want_sum}"
        );
    }
    assert_eq!(
        label_values(&after, "orders_created_total", "user_segment"),
        ["basic", "premium", "standard"]
    );
    let orders = users.len() as f64;
    assert_eq!(sample(&after, "orders_created_total", &[]), orders);
    let post = |code: &str| {
        delta(
            "http_requests_total",
            &[
                ("method", "POST"),
                ("endpoint", "/orders"),
                ("status_code", code),
            ],
        )
    };
    assert_eq!((post("201"), post("400")), (orders, 1.0));
    assert_eq!(
        delta(
            "http_request_duration_seconds_count",
            &[("endpoint", "/orders"), ("status_class", "2xx")]
        ),
        orders
    );
    assert_eq!(
        delta(
            "order_processing_duration_seconds_count",
            &[("status", "success"), ("service", "order-service")]
        ),
        orders
    );
    assert_eq!(
        delta(
            "order_processing_duration_seconds_count",
            &[("status", "failed")]
        ),
        1.0
    );
    assert!(
        delta(
            "order_processing_duration_seconds_sum",
            &[("status", "success")]
        ) > 0.0
    );
    let calls = |target: &str, endpoint: &str, code: &str| {
        delta(
            "external_api_calls_total",
            &[
                ("target_service", target),
                ("endpoint", endpoint),
                ("status_code", code),
            ],
        )
    };
    assert_eq!(calls("user-service", "/users/{user_id}", "200"), orders);
    assert_eq!(calls("user-service", "/users/{user_id}", "404"), 1.0);
    assert_eq!(calls("product-service", "/products/batch", "200"), orders);
    assert_eq!(
        calls("inventory-service", "/inventory/reserve", "200"),
        orders
    );
    assert!(
        sample(
            &after,
            "database_query_duration_seconds_count",
            &[("table", "orders"), ("service", "order-service")]
        ) > 0.0
    );

    // The callees count what they served.
    let user = shop.scrape(ServiceName::User).await;
    let served = |code: &str| {
        sample(
            &user,
            "http_requests_total",
            &[
                ("method", "GET"),
                ("endpoint", "/users/{user_id}"),
                ("status_code", code),
            ],
        )
    };
    assert_eq!((served("200"), served("404")), (orders, 1.0));
}

#[tokio::test]
async fn endpoint_labels_are_route_templates_never_raw_ids() {
    let shop = Shop::up().await;
    let answer = shop.post_order(&order_body(42, &[(17, 1)])).await;
    assert_eq!(answer.status, 201);
    let id = answer.body["order_id"].as_str().unwrap().to_owned();
    // A UUID that starts with a digit is what the seed's normaliser mangled.
    for path in [
        format!("/orders/{id}"),
        format!("/orders/{id}/events"),
        "/orders/3fa85f64-5717-4562-b3fc-2c963f66afa6".to_owned(),
        "/orders/12345".to_owned(),
        "/no/such/path/123".to_owned(),
        "/orders?user_id=42".to_owned(),
    ] {
        shop.get(ServiceName::Order, &path).await;
    }
    shop.get(ServiceName::User, "/users/42").await;
    shop.get(ServiceName::Product, "/products/17").await;

    for s in [
        ServiceName::Order,
        ServiceName::User,
        ServiceName::Product,
        ServiceName::Inventory,
    ] {
        let scrape = shop.scrape(s).await;
        for metric in [
            "http_requests_total",
            "http_request_duration_seconds_count",
            "external_api_calls_total",
        ] {
            for endpoint in label_values(&scrape, metric, "endpoint") {
                let raw = endpoint
                    .split('/')
                    .any(|seg| !seg.is_empty() && seg.bytes().any(|b| b.is_ascii_digit()));
                assert!(!raw, "{s} {metric} has a raw path as endpoint: {endpoint}");
            }
        }
    }
    let order = shop.scrape(ServiceName::Order).await;
    let endpoints = label_values(&order, "http_requests_total", "endpoint");
    for want in [
        "/orders",
        "/orders/{order_id}",
        "/orders/{order_id}/events",
        "unmatched",
    ] {
        assert!(
            endpoints.iter().any(|e| e == want),
            "{want} missing from {endpoints:?}"
        );
    }
    // The commit is the saga's, made just after the order's answer: waited for.
    let want = [
        "/inventory/reservations/{reservation_id}/commit",
        "/inventory/reserve",
        "/products/batch",
        "/users/{user_id}",
    ];
    let called = tracemart_testkit::eventually(DEADLINE, "the saga's commit call", || async {
        let order = shop.scrape(ServiceName::Order).await;
        let called = label_values(&order, "external_api_calls_total", "endpoint");
        (called.len() == want.len()).then_some(called)
    })
    .await;
    assert_eq!(called, want);
}

#[tokio::test]
async fn promtool_finds_no_problem_in_any_services_metrics() {
    let shop = Shop::up().await;
    assert_eq!(shop.post_order(&order_body(1, &[(1, 1)])).await.status, 201);
    assert_eq!(
        shop.post_order(&order_body(999_999, &[(1, 1)]))
            .await
            .status,
        400
    );
    for s in ServiceName::ALL {
        let text = shop.metrics_text(s, false).await;
        let mut child = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("promtool (Debian package `prometheus`; scripts/test installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool on {s}: {report}"
        );
    }
}

#[tokio::test]
async fn openmetrics_histograms_carry_trace_id_exemplars() {
    let shop = Shop::up().await;
    let answer = shop.post_order(&order_body(8, &[(9, 1)])).await;
    assert_eq!(answer.status, 201);
    let trace_id = answer.trace_id();

    let resp = shop
        .http
        .get(format!("{}/metrics", shop.url(ServiceName::Order)))
        .header("accept", "application/openmetrics-text")
        .send()
        .await
        .unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.unwrap();
    assert!(
        text.trim_end().ends_with("# EOF"),
        "OpenMetrics ends with # EOF"
    );
    let exemplar = format!("# {{trace_id=\"{trace_id}\"}}");
    for (metric, labels) in [
        ("order_amount_bucket{", "user_segment=\"basic\""),
        (
            "order_processing_duration_seconds_bucket{",
            "status=\"success\"",
        ),
        (
            "http_request_duration_seconds_bucket{",
            "endpoint=\"/orders\"",
        ),
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(metric) && l.contains(labels) && l.contains(&exemplar)),
            "no exemplar of trace {trace_id} on {metric}:\n{text}"
        );
    }
    // The classic text format stays exemplar-free (Prometheus would reject it).
    assert!(
        !shop
            .metrics_text(ServiceName::Order, false)
            .await
            .contains("trace_id=")
    );
}
