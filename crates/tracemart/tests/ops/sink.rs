//! A webhook sink standing in for PagerDuty's Events API and Slack's incoming webhook: it
//! answers as they do (202 and 200) and keeps every notification with the time it arrived.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

/// One notification Alertmanager posted.
#[derive(Clone, Debug)]
pub struct Received {
    /// `pagerduty` or `slack`.
    pub receiver: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Clone)]
pub struct Sink {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    pub async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route("/{receiver}", axum::routing::post(record))
            .route("/{receiver}/v2/enqueue", axum::routing::post(record))
            .with_state(received.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Sink { url, received }
    }

    /// Everything received so far.
    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn record(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    Path(receiver): Path<String>,
    Json(body): Json<Value>,
) -> StatusCode {
    let status = if receiver == "pagerduty" {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    received.lock().unwrap().push(Received {
        receiver,
        body,
        at: Instant::now(),
    });
    status
}
