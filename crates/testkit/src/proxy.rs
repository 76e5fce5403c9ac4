//! A faulty stand-in in front of a real service: it answers an error (500 unless told
//! otherwise) to the next N requests (or to all of them), and forwards the others, counting
//! what it refused and what it forwarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicUsize, Ordering};

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
    failure_status: Arc<AtomicU16>,
    refused: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
    listener: Arc<std::sync::Mutex<Option<TcpListener>>>,
}

#[derive(Clone)]
struct Forward {
    target: String,
    http: reqwest::Client,
    failures_left: Arc<AtomicI64>,
    failure_status: Arc<AtomicU16>,
    refused: Arc<AtomicUsize>,
    forwarded: Arc<AtomicUsize>,
}

impl FaultyProxy {
    /// Binds the proxy's port now, so that its URL can go into a configuration; it serves
    /// once [`FaultyProxy::forward_to`] is called.
    pub async fn bind(failures: i64) -> FaultyProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        FaultyProxy {
            url: format!("http://{}", listener.local_addr().expect("proxy address")),
            failures_left: Arc::new(AtomicI64::new(failures)),
            failure_status: Arc::new(AtomicU16::new(500)),
            refused: Arc::new(AtomicUsize::new(0)),
            forwarded: Arc::new(AtomicUsize::new(0)),
            listener: Arc::new(std::sync::Mutex::new(Some(listener))),
        }
    }

    /// Starts serving, forwarding to `target` (a base URL).
    pub fn forward_to(&self, target: String) {
        let listener = self
            .listener
            .lock()
            .expect("proxy listener lock")
            .take()
            .expect("serving once");
        let state = Forward {
            target,
            http: reqwest::Client::new(),
            failures_left: self.failures_left.clone(),
            failure_status: self.failure_status.clone(),
            refused: self.refused.clone(),
            forwarded: self.forwarded.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    /// Sets how many of the next requests fail with 500 ([`ALWAYS`] for all).
    pub fn fail(&self, failures: i64) {
        self.fail_with(500, failures);
    }

    /// Sets how many of the next requests fail, and with which status (503: a gateway whose
    /// backend is gone).
    pub fn fail_with(&self, status: u16, failures: i64) {
        self.failure_status.store(status, Ordering::SeqCst);
        self.failures_left.store(failures, Ordering::SeqCst);
    }

    /// Requests answered with an injected failure so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
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
        f.refused.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(f.failure_status.load(Ordering::SeqCst))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let url = format!("{}{}", f.target, parts.uri.path());
    let sent = f
        .http
        .request(parts.method, url)
        .headers(forwarded_headers(&parts.headers))
        .body(body)
        .send()
        .await;
    f.forwarded.fetch_add(1, Ordering::SeqCst);
    // The target may be down (a test killed it): answer as a gateway would.
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = answer.status();
    match answer.bytes().await {
        Ok(body) => (status, [("content-type", "application/json")], body).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// The request's headers as a client would send them on: all but the hop's own.
fn forwarded_headers(headers: &axum::http::HeaderMap) -> axum::http::HeaderMap {
    let mut kept = headers.clone();
    for hop in ["host", "content-length", "connection", "transfer-encoding"] {
        kept.remove(hop);
    }
    kept
}
