//! The seed's own Python order-service (official OpenTelemetry Python SDK), pointed at our user,
//! product and inventory services: one trace spans both languages.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use tracemart_platform::ServiceName;

use crate::helpers::{Options, Shop};

/// `../shared/peers/flask-seed` beside the repository, and the virtualenv `scripts/test` makes.
fn peer_and_venv() -> (std::path::PathBuf, std::path::PathBuf) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let peer = root.join("../shared/peers/flask-seed");
    let venv = root.join("target/flask-seed-venv");
    assert!(
        peer.join("order_service.py").exists() && venv.join("bin/gunicorn").exists(),
        "the seed's Python peer or its virtualenv is missing ({} / {}): run scripts/test, which installs it",
        peer.display(),
        venv.display()
    );
    (peer, venv)
}

struct Gunicorn(Child);

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_python_order_service_and_our_services_make_one_trace() {
    let (peer, venv) = peer_and_venv();
    // The seed's services send no tokens: ours let calls without one through, as a
    // deployment with such peers would run them.
    let shop = Shop::up_with(Options {
        env: vec![("TRACEMART_REQUIRE_TOKENS", "false".into())],
        ..Options::default()
    })
    .await;
    let port = tracemart_testkit::free_port();
    let log = std::fs::File::create(shop.data.join("python-order.log")).unwrap();
    let _python = Gunicorn(
        Command::new(venv.join("bin/gunicorn"))
            .args(["--chdir", &peer.display().to_string()])
            .args([
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--workers",
                "1",
                "--threads",
                "4",
            ])
            .arg("order_service:app")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &shop.receiver().endpoint)
            .env("USER_SERVICE_URL", shop.url(ServiceName::User))
            .env("PRODUCT_SERVICE_URL", shop.url(ServiceName::Product))
            .env("INVENTORY_SERVICE_URL", shop.url(ServiceName::Inventory))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let python = format!("http://127.0.0.1:{port}");
    tracemart_testkit::wait_ready(
        &shop.http,
        &format!("{python}/health"),
        Duration::from_secs(60),
    )
    .await;

    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let caller_span = "00f067aa0ba902b7";
    let resp = shop
        .http
        .post(format!("{python}/orders"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(
            &json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 2}],
                       "shipping_address": {"city": "Seoul", "country": "KR"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        201,
        "the Python order-service placed an order with our services"
    );
    let order: serde_json::Value = resp.json().await.unwrap();
    assert!(
        order["reservation_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{order}"
    );

    let callees = ["user-service", "product-service", "inventory-service"];
    let trace = shop
        .receiver()
        .trace(&trace_id, |t| {
            let services = t.services();
            callees.iter().all(|c| services.iter().any(|s| s == c))
                && !t.named("create_order").is_empty()
        })
        .await;

    // The Python side: the seed's business span and its own client span name
    // (`http_client_get`, which only the seed's TracedServiceClient makes).
    let create_order = trace.named("create_order");
    assert!(create_order.iter().all(|s| s.service == "order-service"));
    assert!(
        !trace.named("http_client_get").is_empty(),
        "no span from the Python SDK"
    );
    // Each of our SERVER spans is the child of a span the Python process exported.
    let python_ids: Vec<String> = trace
        .0
        .iter()
        .filter(|s| s.service == "order-service")
        .map(|s| s.span_id())
        .collect();
    for callee in callees {
        let server: Vec<_> = trace
            .0
            .iter()
            .filter(|s| {
                s.service == callee
                    && s.kind() == opentelemetry_proto::tonic::trace::v1::span::SpanKind::Server
            })
            .collect();
        assert!(
            !server.is_empty(),
            "no {callee} SERVER span in {:?}",
            trace.services()
        );
        for s in server {
            let parent = s.parent().unwrap_or_default();
            assert!(
                python_ids.contains(&parent),
                "{callee} {} has parent {parent}, not a Python span",
                s.name()
            );
        }
    }
}
