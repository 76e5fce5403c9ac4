//! One `POST /orders` across four processes is one trace: the seed's span tree, names,
//! attributes and events, one CLIENT span per call with the callee's SERVER span under it.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use tracemart_platform::ServiceName;
use tracemart_telemetry::names::{event, span as step};

use crate::helpers::{Shop, Trace, event_attr, order_body};

/// The order's call to each downstream: (step span, CLIENT/SERVER span name, callee).
pub const CALLS: [(&str, &str, &str); 3] = [
    (step::VALIDATE_USER, "GET /users/{user_id}", "user-service"),
    (
        step::VALIDATE_PRODUCTS,
        "POST /products/batch",
        "product-service",
    ),
    (
        step::RESERVE_INVENTORY,
        "POST /inventory/reserve",
        "inventory-service",
    ),
];

/// True once the SERVER span of every service a successful order touches has arrived (a
/// server span ends after everything it contains, so its arrival means its subtree did too).
pub fn order_trace_complete(t: &Trace) -> bool {
    let server = |svc: &str, name: &str| {
        t.0.iter()
            .any(|s| s.service == svc && s.name() == name && s.kind() == SpanKind::Server)
    };
    server("order-service", "POST /orders") && CALLS.iter().all(|(_, n, svc)| server(svc, n))
}

#[tokio::test]
async fn one_order_is_one_trace_across_four_services_in_the_seeds_span_tree() {
    let shop = Shop::up().await;

    let answer = shop.post_order(&order_body(7, &[(1, 2), (3, 1)])).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let trace_id = answer.trace_id();
    let t = shop.receiver().trace(&trace_id, order_trace_complete).await;

    // One tree: the order's SERVER span is the only root, every other parent is in the trace.
    assert_eq!(
        t.services(),
        [
            "inventory-service",
            "order-service",
            "product-service",
            "user-service"
        ]
    );
    let roots: Vec<_> = t.0.iter().filter(|s| s.parent().is_none()).collect();
    assert_eq!(roots.len(), 1, "roots: {}", t.describe());
    let server = roots[0];
    assert_eq!(server.name(), "POST /orders");
    assert_eq!(server.kind(), SpanKind::Server);
    assert_eq!(server.service, "order-service");
    assert_eq!(server.span_id(), answer.header("x-span-id"));
    assert_eq!(server.attr("http.route").as_deref(), Some("/orders"));
    assert_eq!(server.attr("http.request.method").as_deref(), Some("POST"));
    assert_eq!(
        server.attr("http.response.status_code").as_deref(),
        Some("201")
    );
    for s in &t.0 {
        if let Some(p) = s.parent() {
            assert!(
                t.by_id(&p).is_some(),
                "{} has a parent outside the trace: {}",
                s.name(),
                t.describe()
            );
        }
        assert!(!s.is_error(), "{} is ERROR in a successful order", s.name());
    }

    // SERVER -> create_order -> step -> CLIENT -> callee SERVER, once per downstream.
    let create = t.child(server, step::CREATE_ORDER);
    for (step_name, call, callee) in CALLS {
        let step_span = t.child(create, step_name);
        let clients: Vec<_> = t
            .children_of(step_span)
            .into_iter()
            .filter(|c| c.kind() == SpanKind::Client)
            .collect();
        assert_eq!(
            clients.len(),
            1,
            "CLIENT spans under {step_name}: {}",
            t.describe()
        );
        let client = clients[0];
        assert_eq!(client.name(), call);
        assert_eq!(client.service, "order-service");
        assert_eq!(client.attr("peer.service").as_deref(), Some(callee));
        assert_eq!(
            client.attr("http.response.status_code").as_deref(),
            Some("200")
        );
        let callee_spans = t.children_of(client);
        assert_eq!(
            callee_spans.len(),
            1,
            "children of {call}: {}",
            t.describe()
        );
        assert_eq!(callee_spans[0].name(), call);
        assert_eq!(callee_spans[0].kind(), SpanKind::Server);
        assert_eq!(callee_spans[0].service, callee);
    }

    // create_order: the seed's attributes and a span event for each completed step.
    let body = &answer.body;
    for (key, want) in [
        ("operation_type", "business".to_owned()),
        ("user.id", "7".to_owned()),
        ("user.segment", "basic".to_owned()),
        ("order.items_count", "2".to_owned()),
        (
            "order.total_amount",
            body["total_amount"].as_f64().unwrap().to_string(),
        ),
        ("order.currency", "USD".to_owned()),
        ("order.id", body["order_id"].as_str().unwrap().to_owned()),
        ("operation.result", "success".to_owned()),
    ] {
        assert_eq!(
            create.attr(key).as_deref(),
            Some(want.as_str()),
            "create_order {key}"
        );
    }
    for name in [
        event::USER_VALIDATED,
        event::PRODUCTS_VALIDATED,
        event::INVENTORY_RESERVED,
    ] {
        assert!(
            create.event(name).is_some(),
            "create_order lacks event {name}"
        );
    }

    let products = t.one(step::VALIDATE_PRODUCTS);
    assert_eq!(products.attr("products.ids").as_deref(), Some("[1,3]"));
    assert_eq!(products.attr("products.count").as_deref(), Some("2"));
    let reserve = t.one(step::RESERVE_INVENTORY);
    assert_eq!(
        reserve.attr("reservation.id").as_deref(),
        body["reservation_id"].as_str()
    );
    assert!(
        reserve
            .attr("reservation.expires_at")
            .is_some_and(|v| !v.is_empty())
    );

    let calc = t.child(create, step::CALCULATE_TOTAL_AMOUNT);
    let items: Vec<_> = calc
        .events()
        .iter()
        .filter(|e| e.name == event::ITEM_CALCULATED)
        .map(|e| event_attr(e, "product_id").unwrap_or_default())
        .collect();
    assert_eq!(items, ["1", "3"], "one item_calculated event per line");

    let record = t.child(create, step::CREATE_ORDER_RECORD);
    assert_eq!(record.attr("db.system").as_deref(), Some("sqlite"));
    assert_eq!(record.attr("db.operation").as_deref(), Some("INSERT"));
    assert_eq!(record.attr("db.table").as_deref(), Some("orders"));
    t.child(create, step::PUBLISH_ORDER_CREATED_EVENT);

    // Each callee's database work is inside its SERVER span, timed as a db CLIENT span.
    for (_, call, callee) in CALLS {
        let callee_server =
            t.0.iter()
                .find(|s| s.service == callee && s.name() == call)
                .unwrap();
        let db: Vec<_> = t
            .children_of(callee_server)
            .into_iter()
            .filter(|c| c.attr("db.system").as_deref() == Some("sqlite"))
            .collect();
        assert!(
            !db.is_empty(),
            "{callee} shows no db span: {}",
            t.describe()
        );
    }

    // Nothing of this request leaked into another trace (the seed made two traces of one).
    let request_spans = [
        step::CREATE_ORDER,
        step::VALIDATE_USER,
        step::VALIDATE_PRODUCTS,
        step::RESERVE_INVENTORY,
        "POST /orders",
        "GET /users/{user_id}",
        "POST /products/batch",
        "POST /inventory/reserve",
    ];
    let strays: Vec<_> = shop
        .receiver()
        .spans()
        .into_iter()
        .filter(|s| s.trace_id() != trace_id && request_spans.contains(&s.name()))
        .map(|s| format!("{} {} in {}", s.service, s.name(), s.trace_id()))
        .collect();
    assert!(
        strays.is_empty(),
        "spans of the order outside its trace: {strays:?}"
    );

    // The X-Trace-ID and every service's own X-Trace-ID agree, and none is all zeros.
    assert_eq!(trace_id.len(), 32);
    assert_ne!(trace_id, "0".repeat(32));
    let _ = ServiceName::Order;
}
