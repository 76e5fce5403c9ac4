//! The traced client for calls to other services: a CLIENT span per call with W3C context and
//! baggage injected, a timeout, the seed's `external_api_calls_total`, and errors that say
//! which service failed and how.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
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
    metrics: Metrics,
}

impl ServiceClient {
    pub fn new(
        http: reqwest::Client,
        service: &'static str,
        base_url: String,
        timeout: Duration,
        metrics: Metrics,
    ) -> Self {
        Self {
            http,
            service,
            base_url,
            timeout,
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
        );
        let mut req = self.http.request(method, &url).timeout(self.timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut headers = http::HeaderMap::new();
        tracemart_telemetry::inject_context(&span, &mut headers);
        req = req.headers(headers);

        let start = Instant::now();
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
            start.elapsed().as_secs_f64() * 1000.0,
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
}
