//! Small axum servers for the load generator to hit, and flag parsing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tracemart_loadgen::LoadArgs;

/// Serves `router` on a fresh loopback port; the listener is bound before this returns, so
/// requests can be sent at once.
pub(crate) async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// A loopback URL where nothing listens.
pub(crate) async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// Parses flags as `tracemart load` would, always with `--quiet`.
pub(crate) fn args(flags: &[&str]) -> LoadArgs {
    let mut all = vec!["--quiet"];
    all.extend_from_slice(flags);
    LoadArgs::try_parse_from(all).unwrap()
}

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A shop stand-in that records every request: `POST /orders` answers 201 with a fresh
/// `order_id`, everything else 200.
#[derive(Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    next_order: Arc<AtomicU64>,
}

impl Recorder {
    pub(crate) async fn start() -> (Self, String) {
        let recorder = Self::default();
        let url = serve(Router::new().fallback(record).with_state(recorder.clone())).await;
        (recorder, url)
    }

    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn record(
    State(recorder): State<Recorder>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_create = method == Method::POST && uri.path() == "/orders";
    recorder.seen.lock().unwrap().push(Seen {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    if is_create {
        let n = recorder.next_order.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({ "order_id": format!("ord-{n}"), "status": "pending" });
        (StatusCode::CREATED, axum::Json(body)).into_response()
    } else {
        StatusCode::OK.into_response()
    }
}

/// A server that answers every request after `delay`.
pub(crate) async fn slow_server(delay: Duration) -> String {
    let router = Router::new().fallback(move || async move {
        tokio::time::sleep(delay).await;
        StatusCode::OK
    });
    serve(router).await
}

/// A server that answers 200 at once.
pub(crate) async fn fast_server() -> String {
    serve(Router::new().fallback(|| async { StatusCode::OK })).await
}
