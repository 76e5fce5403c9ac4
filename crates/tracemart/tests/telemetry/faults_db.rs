//! A slow database on purpose (`db-latency`): every store, on SQLite and on PostgreSQL, waits
//! inside its CLIENT span, which then lasts the latency and says why.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::attr::fault;
use tracemart_testkit::pg::TestDatabase;

use crate::faults::ran;
use crate::helpers::{Options, Shop, sample};

const LATENCY: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_database_lengthens_the_db_client_spans_on_sqlite_and_postgresql() {
    // Product keeps SQLite, inventory moves to PostgreSQL: one shop, both engines.
    let stock = TestDatabase::create("inventory").await;
    let shop = Shop::up_with(Options {
        env: vec![("TRACEMART_INVENTORY_DATABASE_URL", stock.url().to_owned())],
        ..Options::default()
    })
    .await;
    for service in ["product", "inventory"] {
        let set = ran(shop.chaos(&["inject", service, "db-latency=300ms", "rate=100%"]));
        assert!(set.contains("db-latency=300ms rate=100%"), "{set}");
    }

    for (service, path, operation, system) in [
        (
            ServiceName::Product,
            "/products/1",
            "SELECT products",
            "sqlite",
        ),
        (
            ServiceName::Inventory,
            "/inventory/1",
            "SELECT stock",
            "postgresql",
        ),
    ] {
        let started = Instant::now();
        let answer = shop.get(service, path).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            started.elapsed() >= LATENCY,
            "{service}: {:?}",
            started.elapsed()
        );

        let span = shop
            .receiver()
            .span_where(&format!("the {operation} span of {service}"), |s| {
                s.trace_id() == answer.trace_id() && s.name() == operation
            })
            .await;
        assert_eq!(span.kind(), SpanKind::Client);
        assert_eq!(span.attr("db.system.name").as_deref(), Some(system));
        let lasted = span.span.end_time_unix_nano - span.span.start_time_unix_nano;
        assert!(
            lasted >= LATENCY.as_nanos() as u64,
            "{operation} lasted {lasted} ns"
        );
        assert_eq!(span.attr(fault::INJECTED).as_deref(), Some("true"));
        assert_eq!(span.attr(fault::TYPE).as_deref(), Some("db_latency"));

        let scrape = shop.scrape(service).await;
        let labels = [("type", "db_latency"), ("endpoint", operation)];
        assert!(sample(&scrape, "faults_injected_total", &labels) >= 1.0);

        let trace_id = answer.trace_id();
        shop.logs_until(service, |l| {
            l["fault.type"] == "db_latency" && l["trace_id"] == trace_id.as_str()
        })
        .await;
    }

    // Cleared: the database answers at its own pace, and nothing more is counted.
    ran(shop.chaos(&["clear"]));
    let before = sample(
        &shop.scrape(ServiceName::Product).await,
        "faults_injected_total",
        &[("type", "db_latency")],
    );
    let answer = shop.get(ServiceName::Product, "/products/1").await;
    assert_eq!(answer.status, 200);
    let span = shop
        .receiver()
        .span_where("the product query after the clear", |s| {
            s.trace_id() == answer.trace_id() && s.name() == "SELECT products"
        })
        .await;
    assert_eq!(span.attr(fault::INJECTED), None);
    let after = sample(
        &shop.scrape(ServiceName::Product).await,
        "faults_injected_total",
        &[("type", "db_latency")],
    );
    assert_eq!(after, before);
}
