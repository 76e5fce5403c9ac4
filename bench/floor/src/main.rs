//! The floor for tracemart's `POST /orders`: the same hops with nothing on top.
//!
//! One binary, four roles, each its own process (as under `tracemart up`):
//!
//! ```text
//! tracemart-floor user      PORT
//! tracemart-floor product   PORT
//! tracemart-floor inventory PORT
//! tracemart-floor order     PORT DB_PATH USER_PORT PRODUCT_PORT INVENTORY_PORT
//! ```
//!
//! order reads the body, calls `GET /users/{id}`, `POST /products/batch` and
//! `POST /inventory/reserve` one after the other over pooled HTTP/1.1 keep-alive connections
//! (hyper-util's client), computes the total from the answered prices, writes the order row
//! and an outbox row in ONE SQLite transaction and answers 201 with the order. The transaction
//! runs as tracemart's does: rusqlite on the request's tokio worker thread, one writer
//! connection behind a mutex, `BEGIN IMMEDIATE`, cached prepared statements, WAL,
//! synchronous=NORMAL, wal_autocheckpoint=10000 and a thread checkpointing every 250 ms.
//! user, product and inventory answer from memory. No telemetry, no validation, no metrics, no
//! logs, no timeouts, no saga. Everything binds 127.0.0.1.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Value, json};
use tokio::net::TcpListener;

type Body = Full<Bytes>;
type Error = Box<dyn std::error::Error + Send + Sync>;

struct Order {
    http: Client<HttpConnector, Body>,
    db: Mutex<Connection>,
    user: String,
    product: String,
    inventory: String,
    next_id: AtomicU64,
    id_base: u64,
}

fn reply(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("static header"),
    );
    r
}

async fn body_json(req: Request<Incoming>) -> Result<Value, Error> {
    let bytes = req.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&bytes)?)
}

fn unique(prefix: &str, base: u64, n: u64) -> String {
    format!("{prefix}-{base:x}-{n:08x}")
}

async fn user(req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let id: i64 = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = json!({"id": id, "name": format!("User {id}"), "email": format!("user{id}@example.com"), "membership_level": "standard"});
    Ok(reply(StatusCode::OK, serde_json::to_vec(&body)?))
}

async fn product(req: Request<Incoming>) -> Result<Response<Body>, Error> {
    let v = body_json(req).await?;
    let found: Vec<Value> = v["product_ids"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_i64).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|id| json!({"id": id, "name": format!("Product {id}"), "category": "demo", "price": 10.0 + id as f64 * 0.5, "currency": "USD"}))
        .collect();
    Ok(reply(StatusCode::OK, serde_json::to_vec(&found)?))
}

async fn inventory(req: Request<Incoming>, seq: Arc<AtomicU64>) -> Result<Response<Body>, Error> {
    let v = body_json(req).await?;
    let id = unique(
        "res",
        std::process::id().into(),
        seq.fetch_add(1, Ordering::Relaxed),
    );
    let body = json!({"reservation_id": id, "expires_at": "2099-01-01T00:00:00.000000Z", "items": v["items"], "status": "held"});
    Ok(reply(StatusCode::OK, serde_json::to_vec(&body)?))
}

async fn call(
    o: &Order,
    method: Method,
    url: String,
    body: Option<&Value>,
) -> Result<Value, Error> {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(serde_json::to_vec)
                .transpose()?
                .unwrap_or_default(),
        )))?;
    let resp = o.http.request(req).await?;
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&bytes)?)
}

async fn create_order(req: Request<Incoming>, o: Arc<Order>) -> Result<Response<Body>, Error> {
    let order = body_json(req).await?;
    let user_id = order["user_id"].as_i64().unwrap_or(0);
    let items = order["items"].clone();
    let ids: Vec<i64> = items
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["product_id"].as_i64()).collect())
        .unwrap_or_default();

    let _user = call(&o, Method::GET, format!("{}/users/{user_id}", o.user), None).await?;
    let products = call(
        &o,
        Method::POST,
        format!("{}/products/batch", o.product),
        Some(&json!({"product_ids": ids})),
    )
    .await?;
    let reservation = call(
        &o,
        Method::POST,
        format!("{}/inventory/reserve", o.inventory),
        Some(&json!({"items": items, "expires_in_minutes": 15})),
    )
    .await?;

    let mut total_minor = 0i64;
    for item in items.as_array().into_iter().flatten() {
        let pid = item["product_id"].as_i64().unwrap_or(0);
        let qty = item["quantity"].as_i64().unwrap_or(0);
        let price = products
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"].as_i64() == Some(pid)))
            .and_then(|p| p["price"].as_f64())
            .unwrap_or(0.0);
        total_minor += (price * 100.0).round() as i64 * qty;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)?
        .as_micros()
        .to_string();
    let order_id = unique("ord", o.id_base, o.next_id.fetch_add(1, Ordering::Relaxed));
    let record = json!({
        "order_id": order_id,
        "user_id": user_id,
        "items": items,
        "total_amount": total_minor as f64 / 100.0,
        "currency": "USD",
        "shipping_address": order["shipping_address"],
        "reservation_id": reservation["reservation_id"],
        "status": "created",
        "created_at": now,
    });
    let body = serde_json::to_vec(&record)?;

    insert(&o.db, &order_id, user_id, total_minor, &body, &now)?;
    Ok(reply(StatusCode::CREATED, body))
}

/// Blocks the worker thread for the transaction (tens of microseconds), as tracemart does.
fn insert(
    db: &Mutex<Connection>,
    id: &str,
    user_id: i64,
    total_minor: i64,
    body: &[u8],
    now: &str,
) -> rusqlite::Result<()> {
    // A panic mid-transaction rolls it back as it unwinds, so a poisoned lock is still usable.
    let mut conn = db.lock().unwrap_or_else(PoisonError::into_inner);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(
        "INSERT INTO orders (id, user_id, total_minor, body, created_at) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![id, user_id, total_minor, body, now])?;
    tx.prepare_cached(
        "INSERT INTO outbox (topic, payload, created_at) VALUES ('order.created', ?, ?)",
    )?
    .execute(params![body, now])?;
    tx.commit()
}

async fn serve<F, Fut>(port: u16, handler: F) -> Result<(), Error>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, Error>> + Send + 'static,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let handler = handler.clone();
                async move {
                    let path_ok = req.uri().path() != "/health";
                    if !path_ok {
                        return Ok::<_, Infallible>(reply(
                            StatusCode::OK,
                            b"{\"status\":\"healthy\"}".to_vec(),
                        ));
                    }
                    Ok(handler(req).await.unwrap_or_else(|e| {
                        reply(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("{{\"error\":{:?}}}", e.to_string()).into_bytes(),
                        )
                    }))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("missing argument {i}; see the file header"))
    };
    let port: u16 = arg(2)?.parse()?;
    match arg(1)?.as_str() {
        "user" => serve(port, user).await,
        "product" => serve(port, product).await,
        "inventory" => {
            let seq = Arc::new(AtomicU64::new(0));
            serve(port, move |r| inventory(r, seq.clone())).await
        }
        "order" => {
            let path = arg(3)?;
            // tracemart's writer: wal_autocheckpoint=10000 keeps the writer's own checkpoint
            // (two fsyncs inside a commit) rare; the thread below does the rest.
            let db = Connection::open(&path)?;
            db.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000;
                 CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, total_minor INTEGER NOT NULL, body BLOB NOT NULL, created_at TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL, created_at TEXT NOT NULL);",
            )?;
            // tracemart's checkpoint thread: copying the WAL into the database file is part of
            // the cost of every order, paid here off the request path as tracemart pays it.
            let checkpointer = Connection::open(&path)?;
            checkpointer.execute_batch("PRAGMA synchronous = NORMAL;")?;
            #[expect(
                clippy::disallowed_methods,
                reason = "its own thread, not a tokio worker"
            )]
            std::thread::spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_millis(250));
                    // PASSIVE never blocks the writer; its fsyncs happen on this thread.
                    let _ = checkpointer.execute_batch("PRAGMA wal_checkpoint(PASSIVE);");
                }
            });
            let base =
                |i: usize| -> Result<String, Error> { Ok(format!("http://127.0.0.1:{}", arg(i)?)) };
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            let order = Arc::new(Order {
                http: Client::builder(TokioExecutor::new()).build(connector),
                db: Mutex::new(db),
                user: base(4)?,
                product: base(5)?,
                inventory: base(6)?,
                next_id: AtomicU64::new(0),
                id_base: SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
            });
            serve(port, move |r: Request<Incoming>| {
                let o = order.clone();
                async move {
                    if r.method() == Method::POST && r.uri().path() == "/orders" {
                        create_order(r, o).await
                    } else {
                        Ok(reply(StatusCode::NOT_FOUND, b"{}".to_vec()))
                    }
                }
            })
            .await
        }
        other => Err(format!("unknown role {other}").into()),
    }
}
