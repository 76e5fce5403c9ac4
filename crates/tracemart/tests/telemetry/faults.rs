//! Faults on purpose (`tracemart chaos`, `/admin/faults`): only the operator may set them, and
//! each kind does what it says to the requests it touches and leaves a mark on their span, in
//! `/metrics` and in the log, so that nobody takes it for a real failure.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::attr::fault;
use tracemart_telemetry::names::event;

use crate::helpers::{Answer, Shop, event_attr, sample};

pub(crate) fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn ran(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "tracemart chaos failed: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[tokio::test]
async fn only_the_operator_may_set_list_or_clear_faults() {
    let shop = Shop::up().await;
    let url = format!("{}/admin/faults", shop.url(ServiceName::Product));
    let fault = json!({"type": "error", "status": 503});
    let anonymous = shop.http.post(&url).json(&fault).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let user_token = {
        use tracemart_platform::identity::{Principal, issue};
        let keys = shop.data.join("keys");
        let user = Principal::Service(ServiceName::User);
        issue(&keys, user, "user:1", Duration::from_secs(60)).unwrap()
    };
    let as_user = shop.http.post(&url).bearer_auth(&user_token).json(&fault);
    assert_eq!(as_user.send().await.unwrap().status(), 403);
    let forged = shop.http.delete(&url).bearer_auth("tm1.e30.AAAA");
    assert_eq!(forged.send().await.unwrap().status(), 401);
    assert_eq!(shop.http.get(&url).send().await.unwrap().status(), 401);
    let one = format!("{url}/1");
    assert_eq!(shop.http.delete(&one).send().await.unwrap().status(), 401);

    // Nothing was set by the refused requests.
    let listed = shop.get(ServiceName::Product, "/admin/faults").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["faults"], json!([]));
    let product = shop.get(ServiceName::Product, "/products/1").await;
    assert_eq!(product.status, 200);
    let unknown = shop.http.delete(&one).bearer_auth(shop.admin_token());
    assert_eq!(unknown.send().await.unwrap().status(), 404);

    // A bad fault is refused with what is wrong, by the CLI and by the endpoint.
    let out = shop.chaos(&["inject", "product", "error=200"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("400 to 599"));
    let bad = shop
        .http
        .post(&url)
        .bearer_auth(shop.admin_token())
        .json(&json!({"type": "latency", "latency_ms": 5, "rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn an_injected_error_is_answered_and_marked_on_its_span_metrics_and_log() {
    let shop = Shop::up().await;
    let set = ran(shop.chaos(&["inject", "product", "error=503", "route=/products/"]));
    assert!(
        set.contains("product: fault 1 set: error=503 rate=100% route=/products/"),
        "{set}"
    );

    let answer = Answer::of(
        shop.http
            .get(format!("{}/products/1", shop.url(ServiceName::Product)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["code"], "fault_injected", "{}", answer.body);
    // Routes the fault does not name are untouched.
    assert_eq!(
        shop.get(ServiceName::Product, "/products").await.status,
        200
    );

    let span = shop
        .receiver()
        .span_where("the product SERVER span", |s| {
            s.trace_id() == answer.trace_id() && s.service == "product-service"
        })
        .await;
    assert_eq!(span.attr(fault::INJECTED).as_deref(), Some("true"));
    assert_eq!(span.attr(fault::TYPE).as_deref(), Some("error"));
    let marked = span.event(event::FAULT_INJECTED).expect("a fault event");
    assert_eq!(event_attr(marked, fault::ID).as_deref(), Some("1"));

    let scrape = shop.scrape(ServiceName::Product).await;
    let labels = [("type", "error"), ("endpoint", "/products/{product_id}")];
    assert_eq!(sample(&scrape, "faults_injected_total", &labels), 1.0);

    let is_fault_line = |l: &Value| l.to_string().contains("Fault injected on purpose");
    let logs = shop.logs_until(ServiceName::Product, is_fault_line).await;
    let line = logs.iter().find(|l| is_fault_line(l)).unwrap();
    assert_eq!(line["trace_id"], answer.trace_id().as_str(), "{line}");
    assert_eq!(line["fault.type"], "error", "{line}");

    // Cleared: answered as before.
    let cleared = ran(shop.chaos(&["clear", "product"]));
    assert!(cleared.contains("product: 1 fault(s) cleared"), "{cleared}");
    assert_eq!(
        shop.get(ServiceName::Product, "/products/1").await.status,
        200
    );
}

#[tokio::test]
async fn latency_hang_and_drop_do_what_they_say_and_chaos_lists_them() {
    let shop = Shop::up().await;
    ran(shop.chaos(&["inject", "user", "latency=400ms", "route=/users/"]));
    ran(shop.chaos(&["inject", "inventory", "hang", "route=/inventory/"]));
    ran(shop.chaos(&["inject", "product", "drop", "rate=100%", "route=/products/"]));

    let listed = ran(shop.chaos(&["list", "--json"]));
    let by_service: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds = |service: &str| -> Vec<String> {
        by_service
            .iter()
            .find(|v| v["service"] == service)
            .map(|v| {
                v["faults"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f["type"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(kinds("user"), ["latency"], "{listed}");
    assert_eq!(kinds("inventory"), ["hang"], "{listed}");
    assert_eq!(kinds("product"), ["drop"], "{listed}");
    assert!(kinds("order").is_empty(), "{listed}");

    let started = Instant::now();
    assert_eq!(shop.get(ServiceName::User, "/users/1").await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    let hung = shop
        .http
        .get(format!("{}/inventory/1", shop.url(ServiceName::Inventory)))
        .bearer_auth(shop.admin_token())
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    let dropped = shop
        .http
        .get(format!("{}/products/1", shop.url(ServiceName::Product)))
        .send()
        .await;
    let answered = match dropped {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(answered.is_err(), "a dropped connection gave an answer");

    let cleared = ran(shop.chaos(&["clear"]));
    for service in ["order", "user", "product", "inventory", "payment"] {
        assert!(cleared.contains(&format!("{service}: ")), "{cleared}");
    }
    assert_eq!(
        shop.get(ServiceName::Product, "/products/1").await.status,
        200
    );
    assert_eq!(
        shop.get(ServiceName::Inventory, "/inventory/1")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn admin_endpoints_answer_loopback_clients_only_unless_admin_remote_is_set() {
    let Some(ip) = tracemart_testkit::net::outward_address() else {
        eprintln!("skipped: this machine has no address but loopback to call from");
        return;
    };
    // Every service listens on all addresses, so that another one can reach it.
    let everywhere = ("TRACEMART_HOST", "0.0.0.0".to_owned());
    let mut shop = crate::helpers::Shop::up_with(crate::helpers::Options {
        env: vec![everywhere.clone()],
        ..Default::default()
    })
    .await;
    let remote = format!("http://{ip}:{}", shop.ports[&ServiceName::Product]);
    let fault = json!({"type": "error", "status": 503});

    // From a non-loopback address: refused, even with the operator's token, and nothing set.
    let refused = shop
        .http
        .post(format!("{remote}/admin/faults"))
        .bearer_auth(shop.admin_token())
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "admin_loopback_only", "{body}");
    let listed = shop.get(ServiceName::Product, "/admin/faults").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["faults"], json!([]));
    // The service's other routes answer there as before.
    let product = shop.http.get(format!("{remote}/products/1")).send().await;
    assert_eq!(product.unwrap().status(), 200);

    // With admin_remote the same request is served; a token is still needed.
    let open = shop
        .extra_service(
            ServiceName::Product,
            &[everywhere, ("TRACEMART_ADMIN_REMOTE", "true".to_owned())],
        )
        .await;
    let port = open.rsplit(':').next().unwrap();
    let url = format!("http://{ip}:{port}/admin/faults");
    let anonymous = shop.http.post(&url).json(&fault).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let set = shop
        .http
        .post(&url)
        .bearer_auth(shop.admin_token())
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 201);
}
