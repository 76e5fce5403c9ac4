//! Services on PostgreSQL under `tracemart up`: pointed there by their database URL variables
//! or by `--postgres`, they keep their data on the server, and trace and measure their queries
//! as they do on SQLite, with `db.system.name` = `postgresql`.

use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use serde_json::json;
use tracemart_platform::ServiceName;
use tracemart_testkit::pg::{TestDatabase, server_url, unique_name};

use crate::helpers::{Options, Shop, order_body, sample};
use crate::traces::order_trace_complete;

#[tokio::test]
async fn services_on_postgresql_trace_their_queries_as_postgresql_client_spans() {
    let orders = TestDatabase::create("order").await;
    let users = TestDatabase::create("user").await;
    let products = TestDatabase::create("product").await;
    let stock = TestDatabase::create("inventory").await;
    let shop = Shop::up_with(Options {
        env: vec![
            ("TRACEMART_ORDER_DATABASE_URL", orders.url().to_owned()),
            ("TRACEMART_USER_DATABASE_URL", users.url().to_owned()),
            ("TRACEMART_PRODUCT_DATABASE_URL", products.url().to_owned()),
            ("TRACEMART_INVENTORY_DATABASE_URL", stock.url().to_owned()),
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
            "postgresql",
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

    // The seed's span of the order's write names the engine it was written to.
    let record = t.one("create_order_record");
    assert_eq!(record.attr("db.system").as_deref(), Some("postgresql"));
    assert_eq!(record.attr("db.system.name").as_deref(), Some("postgresql"));
    let upserts = t
        .named("UPSERT orders")
        .into_iter()
        .filter(|s| s.attr("db.system.name").as_deref() == Some("postgresql"))
        .count();
    assert_eq!(
        upserts,
        1,
        "the order's row, on PostgreSQL: {}",
        t.describe()
    );

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

#[tokio::test]
async fn up_with_postgres_keeps_each_service_in_a_database_of_its_own_made_when_missing() {
    let prefix = unique_name("tmtest_up");
    // Made by `up`; dropped when the test ends, after the shop (declared later, dropped first).
    let orders = TestDatabase::adopt(format!("{prefix}_order"));
    let users = TestDatabase::adopt(format!("{prefix}_user"));
    let products = TestDatabase::adopt(format!("{prefix}_product"));
    let stock = TestDatabase::adopt(format!("{prefix}_inventory"));
    let payments = TestDatabase::adopt(format!("{prefix}_payment"));
    let data = tempfile::tempdir().unwrap();
    let options = || Options {
        args: vec![
            "--postgres".into(),
            server_url(),
            "--postgres-prefix".into(),
            prefix.clone(),
        ],
        data_in: Some(data.path().to_owned()),
        export: false,
        ..Options::default()
    };
    let shop = Shop::up_with(options()).await;
    let answer = shop.post_order(&order_body(7, &[(1, 2)])).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let registered = shop
        .http
        .post(format!("{}/users", shop.url(ServiceName::User)))
        .json(&json!({"name": "Jung Hoon", "email": "hoon@example.kr"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let id = registered.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    // The rows are on the server, in each service's own database; no SQLite file was made
    // for either, while the other services keep theirs.
    let email: String = users
        .scalar(&format!("SELECT email FROM users WHERE id = {id}"))
        .await;
    assert_eq!(email, "hoon@example.kr");
    let catalogue: i64 = products.scalar("SELECT COUNT(*) FROM products").await;
    assert_eq!(catalogue, 100);
    let held: i64 = stock
        .scalar("SELECT CAST(SUM(quantity) AS BIGINT) FROM reservation_items WHERE product_id = 1")
        .await;
    assert_eq!(held, 2, "the order's reservation");
    tracemart_testkit::eventually(Duration::from_secs(20), "the order's payment", || async {
        let made: i64 = payments.scalar("SELECT COUNT(*) FROM payments").await;
        (made == 1).then_some(())
    })
    .await;
    let placed: i64 = orders.scalar("SELECT COUNT(*) FROM orders").await;
    assert_eq!(placed, 1, "the order");
    for service in ServiceName::ALL {
        assert!(
            !shop.data.join(format!("{service}.db")).exists(),
            "{service}"
        );
    }
    drop(shop);

    // A second `up` finds the databases made and uses them as they are.
    let shop = Shop::up_with(options()).await;
    let read = shop.get(ServiceName::User, &format!("/users/{id}")).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["email"], "hoon@example.kr");
}
