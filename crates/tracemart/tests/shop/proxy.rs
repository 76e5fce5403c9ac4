//! A faulty stand-in in front of a real service: it answers 500 to the next N requests (or
//! to all of them), and forwards the others, counting what it forwarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

/// Failures left: N > 0 fails the next N requests, -1 fails every request, 0 forwards all.
pub const ALWAYS: i64 = -1;

#[derive(Clone)]
pub struct FaultyProxy {
    pub url: String,
    failures_left: Arc<AtomicI64>,
    forwarded: Arc<AtomicUsize>,
    listener: Arc<std::sync::Mutex<Option<TcpListener>>>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    failures_left: Arc<AtomicI64>,
    forwarded: Arc<AtomicUsize>,
}

impl FaultyProxy {
    /// Binds the proxy's port now, so that its URL can go into a configuration; it serves
    /// once [`FaultyProxy::forward_to`] is called.
    pub async fn bind(failures: i64) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        FaultyProxy {
            url: format!("http://{}", listener.local_addr().unwrap()),
            failures_left: Arc::new(AtomicI64::new(failures)),
            forwarded: Arc::new(AtomicUsize::new(0)),
            listener: Arc::new(std::sync::Mutex::new(Some(listener))),
        }
    }

    /// Starts serving, forwarding to `target` (a base URL).
    pub fn forward_to(&self, target: String) {
        let listener = self.listener.lock().unwrap().take().expect("serving once");
        let state = Forward {
            target,
            http: reqwest::Client::new(),
            failures_left: self.failures_left.clone(),
            forwarded: self.forwarded.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    /// Sets how many of the next requests fail ([`ALWAYS`] for all).
    pub fn fail(&self, failures: i64) {
        self.failures_left.store(failures, Ordering::SeqCst);
    }

    /// Requests forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }
}

async fn forward(State(f): State<Forward>, req: Request) -> Response {
    let left = f.failures_left.load(Ordering::SeqCst);
    if left != 0 {
        if left > 0 {
            f.failures_left.fetch_sub(1, Ordering::SeqCst);
        }
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let url = format!("{}{}", f.target, parts.uri.path());
    let answer = f
        .http
        .request(parts.method, url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    f.forwarded.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    (
        status,
        [("content-type", "application/json")],
        answer.bytes().await.unwrap(),
    )
        .into_response()
}
