//! Services on PostgreSQL, started by `tracemart up` from their database URL variables, trace
//! and measure their queries as they do on SQLite, with `db.system.name` = `postgresql`.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_platform::ServiceName;
use tracemart_testkit::pg::TestDatabase;

use crate::helpers::{Options, Shop, order_body, sample};
use crate::traces::order_trace_complete;

#[tokio::test]
async fn user_and_product_on_postgresql_trace_their_queries_as_postgresql_client_spans() {
    let users = TestDatabase::create("user").await;
    let products = TestDatabase::create("product").await;
    let shop = Shop::up_with(Options {
        env: vec![
            ("TRACEMART_USER_DATABASE_URL", users.url().to_owned()),
            ("TRACEMART_PRODUCT_DATABASE_URL", products.url().to_owned()),
        ],
        ..Options::default()
    })
    .await;

    let answer = shop.post_order(&order_body(7, &[(1, 2), (3, 1)])).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let t = shop
        .receiver()
        .trace(&answer.trace_id(), order_trace_complete)
        .await;

    for (callee, call, table, system) in [
        (
            "user-service",
            "GET /users/{user_id}",
            "users",
            "postgresql",
        ),
        (
            "product-service",
            "POST /products/batch",
            "products",
            "postgresql",
        ),
        (
            "inventory-service",
            "POST /inventory/reserve",
            "stock",
            "sqlite",
        ),
    ] {
        let server =
            t.0.iter()
                .find(|s| s.service == callee && s.name() == call)
                .unwrap_or_else(|| panic!("no {call} span: {}", t.describe()));
        let db: Vec<_> = t
            .children_of(server)
            .into_iter()
            .filter(|c| c.attr("db.system.name").is_some())
            .collect();
        assert!(
            !db.is_empty(),
            "{callee} shows no db span: {}",
            t.describe()
        );
        for span in db {
            assert_eq!(span.kind(), SpanKind::Client);
            assert_eq!(
                span.attr("db.system.name").as_deref(),
                Some(system),
                "{callee}"
            );
            assert_eq!(span.attr("db.system").as_deref(), Some(system), "{callee}");
            if callee != "inventory-service" {
                assert_eq!(span.name(), format!("SELECT {table}"));
                assert_eq!(span.attr("db.operation.name").as_deref(), Some("SELECT"));
                assert_eq!(span.attr("db.collection.name").as_deref(), Some(table));
            }
        }
    }

    for (service, table) in [
        (ServiceName::User, "users"),
        (ServiceName::Product, "products"),
    ] {
        let scrape = shop.scrape(service).await;
        let selects = sample(
            &scrape,
            "database_query_duration_seconds_count",
            &[("operation", "SELECT"), ("table", table)],
        );
        assert!(selects >= 1.0, "{service}: {selects} timed SELECTs");
    }
}
