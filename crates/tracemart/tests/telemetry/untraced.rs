//! What the server spans leave out and how they name what matched no route: probes, scrapes
//! and the API description are answered and counted but not traced (they would bury the
//! orders in a trace search), and a path no route matches is named by its method and a short
//! form of the path, not `GET unmatched`.

use tracemart_platform::ServiceName;

use crate::helpers::Shop;
use crate::prom::sample;

const PROBES: [&str; 4] = ["/health", "/health/ready", "/metrics", "/openapi.json"];

#[tokio::test]
async fn probes_are_counted_but_not_traced_and_unmatched_paths_are_named_by_their_path() {
    let shop = Shop::up().await;

    for path in PROBES {
        let answer = shop.get(ServiceName::Product, path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.trace_id(), "", "{path} answered with a trace id");
        assert!(!answer.header("x-request-id").is_empty(), "{path}");
    }
    for path in ["/", "/no/such/page"] {
        let answer = shop.get(ServiceName::Product, path).await;
        assert_eq!(answer.status, 404, "{path}");
        assert_ne!(answer.trace_id(), "", "{path} is traced");
    }

    // Spans leave in the order they end: once the last request's span is here, a probe's
    // would be too.
    let deeper = shop
        .receiver()
        .span_where("the span of GET /no/such/page", |s| {
            s.service == "product-service" && s.name() == "GET /no/{…}"
        })
        .await;
    assert_eq!(deeper.attr("url.path").as_deref(), Some("/no/such/page"));
    let names: Vec<String> = shop
        .receiver()
        .spans()
        .into_iter()
        .filter(|s| s.service == "product-service")
        .map(|s| s.name().to_owned())
        .collect();
    assert!(names.iter().any(|n| n == "GET /"), "{names:?}");
    for n in &names {
        assert!(
            !PROBES.iter().any(|p| n == &format!("GET {p}")) && !n.contains("unmatched"),
            "span {n} among {names:?}"
        );
    }
    let scrape = shop.scrape(ServiceName::Product).await;
    let health = sample(
        &scrape,
        "http_requests_total",
        &[("endpoint", "/health"), ("method", "GET")],
    );
    assert!(health >= 1.0, "GET /health is not counted: {health}");
}
