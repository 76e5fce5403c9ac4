//! Test helpers shared by tracemart's test suites: waiting on conditions with a deadline
//! (never on clocks), free ports, JSON requests, processes as /proc shows them, and a faulty
//! proxy to put in front of a real service, fresh PostgreSQL databases and RabbitMQ virtual
//! hosts, and the baskets of a few hundred mixed orders.

pub mod amqp;
pub mod net;
pub mod pg;
pub mod processes;
pub mod proxy;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `url` answers 2xx.
pub async fn wait_ready(http: &reqwest::Client, url: &str, timeout: Duration) {
    eventually(timeout, url, || async {
        match http.get(url).timeout(Duration::from_secs(2)).send().await {
            Ok(r) if r.status().is_success() => Some(()),
            _ => None,
        }
    })
    .await
}

/// The URL in `var` of a server a test needs; panics with how to get one when it is unset:
/// skipping would let a suite pass without ever running against that server.
pub(crate) fn required_url(var: &str, what: &str, example: &str) -> String {
    match std::env::var_os(var).and_then(|v| v.into_string().ok()) {
        Some(url) if !url.is_empty() => url,
        _ => panic!(
            "{var} is not set: this test runs against {what}. `bash scripts/test` starts the \
             server and sets it; by hand, start it and export {var}={example}"
        ),
    }
}

/// A port that was free a moment ago (for child processes that must bind it themselves).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

/// Sends `body` as JSON and returns the status and the parsed body (Null if not JSON).
pub async fn post_json(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = http
        .post(url)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    read(resp).await
}

/// GETs `url` and returns the status and the parsed body (Null if not JSON).
pub async fn get_json(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    read(resp).await
}

async fn read(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// The items of `count` orders of products `1..=products`: one or two products each, a few
/// units of each. The same every run (a fixed xorshift seed), so that a failure can be
/// replayed.
pub fn mixed_baskets(count: usize, products: i64) -> Vec<Vec<(i64, i64)>> {
    let mut state: u64 = 0x5eed_cafe;
    let mut roll = |n: i64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as i64
    };
    (0..count)
        .map(|_| {
            let first = 1 + roll(products);
            let mut items = vec![(first, 1 + roll(5))];
            let second = 1 + roll(products);
            if second != first && roll(2) == 0 {
                items.push((second, 1 + roll(3)));
            }
            items
        })
        .collect()
}
