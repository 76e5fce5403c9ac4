//! The traced client for calls to other services: a CLIENT span per call with W3C context and
//! baggage injected, a bulkhead, a timeout, the seed's `external_api_calls_total`, and errors
//! that say which service failed and how.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracemart_telemetry::Metrics;
use tracing::Instrument;
use tracing::field::Empty;

/// Why a call to another service gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("{service} did not answer within {timeout:?}")]
    Timeout {
        service: &'static str,
        timeout: Duration,
    },
    #[error("{service} is unreachable: {source}")]
    Unreachable {
        service: &'static str,
        source: reqwest::Error,
    },
    #[error("{service} already has {limit} calls in flight and none ended within {timeout:?}")]
    Saturated {
        service: &'static str,
        limit: usize,
        timeout: Duration,
    },
    #[error("{service} answered an unreadable body: {source}")]
    Body {
        service: &'static str,
        source: reqwest::Error,
    },
}

/// An answer: the status and, when the body parsed as `T`, the value.
pub struct Reply<T> {
    pub status: StatusCode,
    pub body: Option<T>,
}

/// Calls one downstream service.
#[derive(Clone)]
pub struct ServiceClient {
    http: reqwest::Client,
    /// `service.name` of the callee, e.g. `user-service`.
    service: &'static str,
    base_url: String,
    timeout: Duration,
    /// The bulkhead: one permit per call in flight, shared by the clones of this client.
    in_flight: Arc<Semaphore>,
    limit: usize,
    metrics: Metrics,
}

impl ServiceClient {
    /// `limit`: calls in flight at most; a call beyond it waits for a slot, within `timeout`,
    /// which also bounds the call itself.
    pub fn new(
        http: reqwest::Client,
        service: &'static str,
        base_url: String,
        timeout: Duration,
        limit: usize,
        metrics: Metrics,
    ) -> Self {
        let limit = limit.max(1);
        Self {
            http,
            service,
            base_url,
            timeout,
            in_flight: Arc::new(Semaphore::new(limit)),
            limit,
            metrics,
        }
    }

    /// A connection pool shared by every client of a service.
    pub fn http_pool() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default()
    }

    pub fn service(&self) -> &'static str {
        self.service
    }

    /// Sends one request. `route` is the callee's route template (a bounded metric label);
    /// `path` the concrete path.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<Reply<T>, CallError> {
        let url = format!("{}{}", self.base_url, path);
        let span = tracing::info_span!(
            target: "tracemart::client",
            "http.client",
            otel.name = %format_args!("{method} {route}"),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = method.as_str(),
            http.method = method.as_str(),
            url.full = url.as_str(),
            http.url = url.as_str(),
            http.target = path,
            http.route = route,
            server.address = Empty,
            peer.service = self.service,
            http.response.status_code = Empty,
            http.status_code = Empty,
            http.request.duration_ms = Empty,
            bulkhead.wait_ms = Empty,
        );
        let start = Instant::now();
        // Without a free slot the wait is part of the call: recorded, and within its timeout.
        let _permit = match self.in_flight.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let waited = tokio::time::timeout(self.timeout, self.in_flight.acquire())
                    .instrument(span.clone())
                    .await;
                span.record("bulkhead.wait_ms", start.elapsed().as_secs_f64() * 1000.0);
                match waited {
                    Ok(Ok(permit)) => permit,
                    // Timed out (the semaphore is never closed).
                    _ => return Err(self.saturated(&span, route)),
                }
            }
        };
        let remaining = self.timeout.saturating_sub(start.elapsed());
        let mut req = self.http.request(method, &url).timeout(remaining);
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut headers = http::HeaderMap::new();
        tracemart_telemetry::inject_context(&span, &mut headers);
        req = req.headers(headers);

        let sent = Instant::now();
        let outcome = async {
            let resp = req.send().await;
            match resp {
                Ok(r) => {
                    let status = r.status();
                    let body = r.json::<T>().await;
                    Ok((status, body))
                }
                Err(e) => Err(e),
            }
        }
        .instrument(span.clone())
        .await;
        span.record(
            "http.request.duration_ms",
            sent.elapsed().as_secs_f64() * 1000.0,
        );
        match outcome {
            Ok((status, body)) => {
                span.record("http.response.status_code", status.as_u16());
                span.record("http.status_code", status.as_u16());
                if status.is_client_error() || status.is_server_error() {
                    span.record("otel.status_code", "ERROR");
                }
                self.metrics
                    .external_call(self.service, route, status.as_u16());
                match body {
                    Ok(v) => Ok(Reply {
                        status,
                        body: Some(v),
                    }),
                    // An error status with a body we don't model is still an answer.
                    Err(_) if !status.is_success() => Ok(Reply { status, body: None }),
                    Err(source) => {
                        tracemart_telemetry::record_error(&span, "InvalidResponse", &source);
                        Err(CallError::Body {
                            service: self.service,
                            source,
                        })
                    }
                }
            }
            Err(source) => {
                self.metrics.external_call(self.service, route, 0);
                let err = if source.is_timeout() {
                    CallError::Timeout {
                        service: self.service,
                        timeout: self.timeout,
                    }
                } else {
                    CallError::Unreachable {
                        service: self.service,
                        source,
                    }
                };
                let kind = if matches!(err, CallError::Timeout { .. }) {
                    "Timeout"
                } else {
                    "ConnectionError"
                };
                tracemart_telemetry::record_error(&span, kind, &err);
                tracing::error!(service = self.service, endpoint = route, error = %err, "External API call failed");
                Err(err)
            }
        }
    }

    /// A call that found no free slot within its timeout: counted and logged like a failed call.
    fn saturated(&self, span: &tracing::Span, route: &'static str) -> CallError {
        let err = CallError::Saturated {
            service: self.service,
            limit: self.limit,
            timeout: self.timeout,
        };
        self.metrics.external_call(self.service, route, 0);
        tracemart_telemetry::record_error(span, "BulkheadFull", &err);
        tracing::error!(service = self.service, endpoint = route, error = %err, "External API call failed");
        err
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_call_that_finds_no_free_slot_within_its_timeout_is_refused_unsent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok(_conn) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let client = ServiceClient::new(
            ServiceClient::http_pool(),
            "user-service",
            url,
            Duration::from_millis(100),
            2,
            Metrics::new("order-service"),
        );
        // Both slots are taken, as by two calls in flight.
        let _held = client
            .in_flight
            .clone()
            .acquire_many_owned(2)
            .await
            .unwrap();

        let start = Instant::now();
        let result = client
            .call::<(), serde_json::Value>(Method::GET, "/users/{user_id}", "/users/1", None)
            .await;

        let err = result.err().expect("refused");
        assert!(
            matches!(err, CallError::Saturated { limit: 2, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "user-service already has 2 calls in flight and none ended within 100ms"
        );
        assert!(start.elapsed() >= Duration::from_millis(100), "it waited");
        assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing was sent");
    }
}
