//! Every service serves its OpenAPI document at `/openapi.json`, listing exactly its routes,
//! and its real answers match the schemas the document gives them.

use serde_json::{Value, json};
use tracemart_platform::ServiceName;

use crate::helpers::{Shop, on_each_engine, order_body};

/// The routes every service has besides its own.
const SHARED: [&str; 4] = ["/health", "/health/ready", "/metrics", "/openapi.json"];

fn own_routes(s: ServiceName) -> &'static [&'static str] {
    match s {
        ServiceName::Order => &["/orders", "/orders/{order_id}", "/orders/{order_id}/events"],
        ServiceName::User => &["/users", "/users/{user_id}"],
        ServiceName::Product => &["/products", "/products/batch", "/products/{product_id}"],
        ServiceName::Inventory => &[
            "/inventory/reserve",
            "/inventory/reservations/{reservation_id}/commit",
            "/inventory/reservations/{reservation_id}/release",
            "/inventory/{product_id}",
        ],
        ServiceName::Payment => &["/payments"],
    }
}

async fn document(shop: &Shop, s: ServiceName) -> Value {
    let (status, doc) = shop.get(s, "/openapi.json").await;
    assert_eq!(status, 200, "{s}: {doc}");
    doc
}

/// The problems of `body` against the schema `doc` gives the answer `status` of `method path`.
fn violations(doc: &Value, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
    let answer = &doc["paths"][path][method]["responses"][status.to_string()];
    let mut schema = answer["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{} documents no JSON body for {method} {path} {status}: {answer}",
        doc["info"]["title"]
    );
    // The references point into the document's components.
    schema["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator.iter_errors(body).map(|e| e.to_string()).collect()
}

/// Checks an answer against its documented schema.
#[track_caller]
fn conforms(doc: &Value, method: &str, path: &str, answer: (u16, Value)) -> Value {
    let (status, body) = answer;
    let problems = violations(doc, method, path, status, &body);
    assert!(
        problems.is_empty(),
        "{method} {path} {status}: {problems:?}\n{body}"
    );
    body
}

#[tokio::test]
async fn every_service_documents_exactly_its_routes_in_openapi_3_1() {
    let shop = Shop::start(|_| {}).await;

    for s in ServiceName::ALL {
        let doc = document(&shop, s).await;

        assert_eq!(doc["openapi"], "3.1.0", "{s}");
        assert_eq!(doc["info"]["title"], s.service_name());
        let mut documented: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        documented.sort_unstable();
        let mut served: Vec<&str> = [own_routes(s), &SHARED[..]].concat();
        served.sort_unstable();
        assert_eq!(documented, served, "{s}");
    }
}

on_each_engine! {
    async fn real_answers_match_the_documented_schemas(engine: Engine) {
        let shop = Shop::start_on(engine, |_| {}).await;
        // As the order service: most of these routes are its alone.
        let post = |s: ServiceName, path: &str, body: Value| {
            let url = format!("{}{path}", shop.url(s));
            let shop = &shop;
            async move { shop.post_as_order(&url, &body).await }
        };

        let users = document(&shop, ServiceName::User).await;
        conforms(
            &users,
            "get",
            "/users/{user_id}",
            shop.get(ServiceName::User, "/users/7").await,
        );
        let unknown = shop.get(ServiceName::User, "/users/99999999").await;
        assert_eq!(unknown.0, 404);
        conforms(&users, "get", "/users/{user_id}", unknown);
        let new_user = json!({"name": "Kim", "email": "kim@example.com"});
        conforms(
            &users,
            "post",
            "/users",
            post(ServiceName::User, "/users", new_user).await,
        );
        conforms(
            &users,
            "get",
            "/health",
            shop.get(ServiceName::User, "/health").await,
        );
        conforms(
            &users,
            "get",
            "/health/ready",
            shop.get(ServiceName::User, "/health/ready").await,
        );

        let products = document(&shop, ServiceName::Product).await;
        let page = shop.get(ServiceName::Product, "/products?limit=3").await;
        conforms(&products, "get", "/products", page);
        let one = shop.get(ServiceName::Product, "/products/1").await;
        conforms(&products, "get", "/products/{product_id}", one);
        let batch = post(
            ServiceName::Product,
            "/products/batch",
            json!({"product_ids": [1, 2]}),
        )
        .await;
        conforms(&products, "post", "/products/batch", batch);

        let inventory = document(&shop, ServiceName::Inventory).await;
        let stock = shop.get(ServiceName::Inventory, "/inventory/1").await;
        conforms(&inventory, "get", "/inventory/{product_id}", stock);
        let hold = json!({"items": [{"product_id": 2, "quantity": 1}], "expires_in_minutes": 5});
        let held = post(ServiceName::Inventory, "/inventory/reserve", hold).await;
        let held = conforms(&inventory, "post", "/inventory/reserve", held);
        let release = format!(
            "/inventory/reservations/{}/release",
            held["reservation_id"].as_str().unwrap()
        );
        let released = post(ServiceName::Inventory, &release, json!({})).await;
        conforms(
            &inventory,
            "post",
            "/inventory/reservations/{reservation_id}/release",
            released,
        );

        let orders = document(&shop, ServiceName::Order).await;
        let placed = shop.post_order(&order_body(7, &[(1, 2), (3, 1)])).await;
        assert_eq!(placed.0, 201, "{}", placed.1);
        let placed = conforms(&orders, "post", "/orders", placed);
        let id = placed["order_id"].as_str().unwrap();
        let read = shop.get(ServiceName::Order, &format!("/orders/{id}")).await;
        conforms(&orders, "get", "/orders/{order_id}", read);
        let list = shop.get(ServiceName::Order, "/orders?user_id=7").await;
        conforms(&orders, "get", "/orders", list);
        let events = shop
            .get(ServiceName::Order, &format!("/orders/{id}/events"))
            .await;
        conforms(&orders, "get", "/orders/{order_id}/events", events);
        let refused = shop.post_order(&json!({"user_id": 7})).await;
        assert_eq!(refused.0, 400, "{}", refused.1);
        conforms(&orders, "post", "/orders", refused);

        let payments = document(&shop, ServiceName::Payment).await;
        let payment = json!({"order_id": id, "user_id": 7, "amount": 12.5, "currency": "USD"});
        conforms(
            &payments,
            "post",
            "/payments",
            post(ServiceName::Payment, "/payments", payment).await,
        );

        // The check can fail: a body of the wrong shape is caught.
        let wrong = json!({"id": "seven", "name": "Kim"});
        assert!(!violations(&users, "get", "/users/{user_id}", 200, &wrong).is_empty());
    }
}

/// `schema` with a `$ref` into the document's components followed.
fn resolved<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            resolved(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The schema of parameter `name` of `method path`.
fn parameter<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
    let p = params.iter().find(|p| p["name"] == name).unwrap();
    resolved(doc, &p["schema"])
}

#[tokio::test]
async fn the_documents_state_the_bounds_the_services_enforce() {
    let shop = Shop::start(|_| {}).await;
    let users = document(&shop, ServiceName::User).await;
    let products = document(&shop, ServiceName::Product).await;
    let inventory = document(&shop, ServiceName::Inventory).await;
    let orders = document(&shop, ServiceName::Order).await;
    let payments = document(&shop, ServiceName::Payment).await;

    // Ids: positive integers, order ids UUIDs.
    for (doc, path, name) in [
        (&users, "/users/{user_id}", "user_id"),
        (&products, "/products/{product_id}", "product_id"),
        (&inventory, "/inventory/{product_id}", "product_id"),
        (&orders, "/orders", "user_id"),
    ] {
        let id = parameter(doc, "get", path, name);
        assert_eq!(
            (id["type"].as_str(), id["minimum"].as_i64()),
            (Some("integer"), Some(1)),
            "{path}: {id}"
        );
    }
    for path in ["/orders/{order_id}", "/orders/{order_id}/events"] {
        assert_eq!(
            parameter(&orders, "get", path, "order_id")["format"],
            "uuid",
            "{path}"
        );
    }
    let limit = parameter(&orders, "get", "/orders", "limit");
    assert_eq!(
        (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
        (Some(1), Some(100))
    );
    let limit = parameter(&products, "get", "/products", "limit");
    assert_eq!(
        (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
        (Some(0), Some(500))
    );

    // Bodies: their limits, and every answer a body can get.
    for (doc, path) in [
        (&users, "/users"),
        (&products, "/products/batch"),
        (&inventory, "/inventory/reserve"),
        (&orders, "/orders"),
        (&payments, "/payments"),
    ] {
        let answers = &doc["paths"][path]["post"]["responses"];
        for status in ["400", "413", "415"] {
            assert!(
                answers[status].is_object(),
                "POST {path} documents {status}: {answers}"
            );
        }
    }
    let schemas = |doc: &Value, name: &str| doc["components"]["schemas"][name].clone();
    let batch = schemas(&products, "ProductBatchRequest");
    assert_eq!(batch["properties"]["product_ids"]["maxItems"], 1000);
    let payment = schemas(&payments, "PaymentRequest");
    assert_eq!(payment["properties"]["amount"]["minimum"], 0.01);
    assert_eq!(payment["properties"]["amount"]["multipleOf"], 0.01);
    assert_eq!(schemas(&payments, "Currency")["enum"], json!(["USD"]));
    let new_user = schemas(&users, "NewUser");
    assert_eq!(new_user["properties"]["email"]["format"], "email");
    assert_eq!(new_user["properties"]["name"]["maxLength"], 100);
    let order = schemas(&orders, "CreateOrderRequest");
    assert_eq!(order["properties"]["items"]["maxItems"], 100);
    let line = schemas(&orders, "OrderLine");
    assert_eq!(line["properties"]["quantity"]["maximum"], 10000);
    let hold = schemas(&inventory, "ReserveBody");
    assert!(
        hold["allOf"][1]["anyOf"].is_array(),
        "a duration is required: {hold}"
    );
}
