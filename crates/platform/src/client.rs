//! The traced client for calls to other services: a CLIENT span per request with W3C context
//! and baggage injected, retries of idempotent calls, a circuit breaker, a bulkhead, a timeout,
//! the seed's `external_api_calls_total`, and errors that say which service failed and how.

use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::{KeyValue, StringValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracemart_telemetry::events::{BusinessEvent, ExternalCallFailed};
use tracemart_telemetry::names::attr;
use tracemart_telemetry::{Metrics, Span, SpanKind};

use crate::breaker::{BreakerSettings, CircuitBreaker};

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
        /// Earlier attempts of this call, which were sent.
        sent_before: u32,
    },
    #[error("{service} answered an unreadable body: {source}")]
    Body {
        service: &'static str,
        source: reqwest::Error,
    },
    #[error("{service} is failing: its circuit breaker is open and the call was not sent{}",
        if *sent_before > 0 { " again" } else { "" })]
    CircuitOpen {
        service: &'static str,
        /// Earlier attempts of this call, which were sent.
        sent_before: u32,
    },
}

impl CallError {
    /// Whether the request may have reached the service (and so may have had an effect): a
    /// call refused at its first attempt never did.
    pub fn may_have_reached_service(&self) -> bool {
        match self {
            Self::Saturated { sent_before, .. } | Self::CircuitOpen { sent_before, .. } => {
                *sent_before > 0
            }
            _ => true,
        }
    }
}

/// What a call is: that decides whether it is retried and whether an open circuit may
/// refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Retried only if its method is idempotent (GET, PUT, DELETE, ...).
    Plain,
    /// A request whose effect is idempotent although its method is not: the callee only reads,
    /// or deduplicates by an id in the request. Retried.
    Idempotent,
    /// Undoes what an earlier call may have done, and is idempotent. Retried, and sent even
    /// when the circuit is open: refusing it would leave that effect in place. Its outcome
    /// still counts toward the circuit's state.
    Compensation,
}

impl CallKind {
    fn is_retried(self, method: &Method) -> bool {
        match self {
            Self::Plain => method.is_idempotent(),
            Self::Idempotent | Self::Compensation => true,
        }
    }

    fn may_be_refused_by_open_circuit(self) -> bool {
        self != Self::Compensation
    }
}

/// One attempt of a call.
struct Request<'a> {
    kind: CallKind,
    method: Method,
    route: &'static str,
    path: &'a str,
    /// Shared by every attempt of the call.
    deadline: Instant,
    /// How many times this call's request was sent before (`http.request.resend_count`).
    sent_before: u32,
}

/// How calls to one service are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Bounds each call, including its wait for a bulkhead slot.
    pub timeout: Duration,
    /// The bulkhead: calls in flight at most; a call beyond it waits for a slot.
    /// `Semaphore::MAX_PERMITS` is no bulkhead at all.
    pub max_in_flight: usize,
    /// `None`: no circuit breaker.
    pub breaker: Option<BreakerSettings>,
    /// Idempotent calls that found no connection or got a 502/503/504 are tried again up to
    /// this many times, within `timeout`.
    pub retries: u32,
}

impl CallPolicy {
    /// The seed's calls: a 10 s timeout and nothing else (no bulkhead, retries or breaker).
    pub fn seed() -> Self {
        Self {
            timeout: crate::config::SEED_TIMEOUT,
            max_in_flight: Semaphore::MAX_PERMITS,
            breaker: None,
            retries: 0,
        }
    }
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
    /// Shared by the clones of this client, like the bulkhead.
    breaker: CircuitBreaker,
    retries: u32,
    metrics: Metrics,
    /// Signs each call with this service's token (see [`crate::identity`]).
    signer: Option<Arc<crate::identity::Signer>>,
}

impl ServiceClient {
    pub fn new(
        http: reqwest::Client,
        service: &'static str,
        base_url: String,
        policy: CallPolicy,
        metrics: Metrics,
    ) -> Self {
        let limit = policy.max_in_flight.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            http,
            service,
            base_url,
            timeout: policy.timeout,
            in_flight: Arc::new(Semaphore::new(limit)),
            limit,
            breaker: CircuitBreaker::new(policy.breaker, service, &metrics),
            retries: policy.retries,
            metrics,
            signer: None,
        }
    }

    /// Sends this service's token with every call.
    pub fn signed_by(mut self, signer: Arc<crate::identity::Signer>) -> Self {
        self.signer = Some(signer);
        self
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

    /// Sends a request of `kind`. `route` is the callee's route template (a bounded metric
    /// label); `path` the concrete path.
    pub async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        kind: CallKind,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<Reply<T>, CallError> {
        let deadline = Instant::now() + self.timeout;
        let retried = kind.is_retried(&method);
        let attempt = |sent_before| {
            let request = Request {
                kind,
                method: method.clone(),
                route,
                path,
                deadline,
                sent_before,
            };
            self.attempt(request, body)
        };
        if retried && self.retries > 0 {
            crate::retry::with_retries(self.service, self.retries, deadline, attempt).await
        } else {
            attempt(0).await
        }
    }

    /// One request: a CLIENT span, the breaker, the bulkhead.
    async fn attempt<B: Serialize, T: DeserializeOwned>(
        &self,
        request: Request<'_>,
        body: Option<&B>,
    ) -> Result<Reply<T>, CallError> {
        let Request {
            kind,
            method,
            route,
            path,
            deadline,
            sent_before,
        } = request;
        let url = format!("{}{}", self.base_url, path);
        let method_name = StringValue::from(Arc::<str>::from(method.as_str()));
        let span = Span::build(
            tracemart_telemetry::span_site!("tracemart::client"),
            SpanKind::Client,
            format!("{method} {route}"),
        )
        .attributes([
            KeyValue::new(attr::http::REQUEST_METHOD, method_name.clone()),
            KeyValue::new(attr::http::METHOD, method_name),
            KeyValue::new(attr::url::FULL, url.clone()),
            KeyValue::new(attr::http::URL, url.clone()),
            KeyValue::new(attr::http::TARGET, path.to_owned()),
            KeyValue::new(attr::http::ROUTE, route),
            KeyValue::new(attr::peer::SERVICE, self.service),
        ])
        .start();
        if sent_before > 0 {
            span.set_attribute(KeyValue::new(
                attr::http::REQUEST_RESEND_COUNT,
                i64::from(sent_before),
            ));
        }
        // Entered, so that a change of the breaker's state is recorded on this call's span.
        if kind.may_be_refused_by_open_circuit() && !span.in_scope(|| self.breaker.permits_call()) {
            return Err(self.refused(
                &span,
                route,
                "CircuitOpen",
                CallError::CircuitOpen {
                    service: self.service,
                    sent_before,
                },
            ));
        }
        let start = Instant::now();
        // Without a free slot the wait is part of the call: recorded, and within its timeout.
        let _permit = match self.in_flight.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let waited = span
                    .instrument(tokio::time::timeout(left, self.in_flight.acquire()))
                    .await;
                span.set_attribute(KeyValue::new(
                    attr::resilience::BULKHEAD_WAIT_MS,
                    start.elapsed().as_secs_f64() * 1000.0,
                ));
                match waited {
                    Ok(Ok(permit)) => permit,
                    // Timed out (the semaphore is never closed).
                    _ => {
                        let err = CallError::Saturated {
                            service: self.service,
                            limit: self.limit,
                            timeout: self.timeout,
                            sent_before,
                        };
                        return Err(self.refused(&span, route, "BulkheadFull", err));
                    }
                }
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let mut req = self.http.request(method, &url).timeout(remaining);
        if let Some(b) = body {
            req = req.json(b);
        }
        let mut headers = http::HeaderMap::new();
        span.inject(&mut headers);
        if let Some(signer) = &self.signer {
            headers.insert(http::header::AUTHORIZATION, signer.authorization());
        }
        req = req.headers(headers);

        let sent = Instant::now();
        let outcome = span
            .instrument(async {
                let resp = req.send().await;
                match resp {
                    Ok(r) => {
                        let status = r.status();
                        let body = r.json::<T>().await;
                        Ok((status, body))
                    }
                    Err(e) => Err(e),
                }
            })
            .await;
        span.set_attribute(KeyValue::new(
            attr::http::REQUEST_DURATION_MS,
            sent.elapsed().as_secs_f64() * 1000.0,
        ));
        let answered_soundly = match &outcome {
            Ok((status, body)) => {
                !status.is_server_error() && (body.is_ok() || !status.is_success())
            }
            Err(_) => false,
        };
        span.in_scope(|| {
            if answered_soundly {
                self.breaker.record_success();
            } else {
                self.breaker.record_failure();
            }
        });
        match outcome {
            Ok((status, body)) => {
                let code = i64::from(status.as_u16());
                span.set_attribute(KeyValue::new(attr::http::RESPONSE_STATUS_CODE, code));
                span.set_attribute(KeyValue::new(attr::http::STATUS_CODE, code));
                if status.is_client_error() || status.is_server_error() {
                    span.set_error_status();
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
                        span.record_error("InvalidResponse", &source);
                        Err(CallError::Body {
                            service: self.service,
                            source,
                        })
                    }
                }
            }
            Err(source) => {
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
                self.failed(&span, route, kind, &err, false);
                Err(err)
            }
        }
    }

    /// A call that was never sent (an open circuit, or no free slot within the timeout):
    /// counted as refused, logged like a failed call.
    fn refused(
        &self,
        span: &Span,
        route: &'static str,
        kind: &'static str,
        err: CallError,
    ) -> CallError {
        self.failed(span, route, kind, &err, true);
        err
    }

    /// Records a call that got no answer, or was never sent (`refused`).
    fn failed(
        &self,
        span: &Span,
        route: &'static str,
        kind: &'static str,
        err: &CallError,
        refused: bool,
    ) {
        ExternalCallFailed {
            metrics: &self.metrics,
            span,
            service: self.service,
            endpoint: route,
            error_type: kind,
            error: err,
            refused,
        }
        .emit();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `GET /users/1` through `client`.
    async fn get_user(client: &ServiceClient) -> Result<Reply<serde_json::Value>, CallError> {
        let route = "/users/{user_id}";
        client
            .call::<(), _>(CallKind::Plain, Method::GET, route, "/users/1", None)
            .await
    }

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
            CallPolicy {
                timeout: Duration::from_millis(100),
                max_in_flight: 2,
                breaker: None,
                retries: 2,
            },
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
        let result = get_user(&client).await;

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

    mod circuit_breaker {
        use super::*;
        use std::sync::atomic::AtomicU16;

        const OPEN_FOR: Duration = Duration::from_millis(200);

        /// A service that answers every request with the status in `status` and a JSON body;
        /// returns its URL and the count of requests it received.
        async fn answering(status: Arc<AtomicU16>) -> (String, Arc<AtomicUsize>) {
            let received = Arc::new(AtomicUsize::new(0));
            let counter = received.clone();
            let router = axum::Router::new().fallback(move || {
                let status = status.load(Ordering::SeqCst);
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    let body = axum::Json(serde_json::json!({ "id": 1 }));
                    (StatusCode::from_u16(status).unwrap(), body)
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            (url, received)
        }

        /// A client whose circuit opens after three failures in a row, for [`OPEN_FOR`].
        fn client(url: String, metrics: &Metrics) -> ServiceClient {
            let policy = CallPolicy {
                timeout: Duration::from_secs(5),
                max_in_flight: 4,
                breaker: Some(BreakerSettings {
                    failure_threshold: 3,
                    open_for: OPEN_FOR,
                }),
                retries: 2,
            };
            ServiceClient::new(
                ServiceClient::http_pool(),
                "user-service",
                url,
                policy,
                metrics.clone(),
            )
        }

        async fn get(client: &ServiceClient) -> Result<StatusCode, CallError> {
            Ok(get_user(client).await?.status)
        }

        /// The `circuit_breaker_state` sample of user-service, as `/metrics` shows it.
        fn gauge(metrics: &Metrics) -> String {
            let text = metrics.render(false).unwrap();
            let prefix = "circuit_breaker_state{target_service=\"user-service\"} ";
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in:\n{text}"))
                .to_owned()
        }

        /// Calls until `done` accepts an outcome, for at most ten times the open time.
        async fn call_until(
            client: &ServiceClient,
            done: impl Fn(&Result<StatusCode, CallError>) -> bool,
        ) {
            let deadline = Instant::now() + 10 * OPEN_FOR;
            loop {
                let outcome = get(client).await;
                if done(&outcome) {
                    return;
                }
                assert!(Instant::now() < deadline, "still {outcome:?}");
                tokio::time::sleep(OPEN_FOR / 20).await;
            }
        }

        async fn open_circuit() -> (ServiceClient, Metrics, Arc<AtomicU16>, Arc<AtomicUsize>) {
            let status = Arc::new(AtomicU16::new(500));
            let (url, received) = answering(status.clone()).await;
            let metrics = Metrics::new("order-service");
            let client = client(url, &metrics);
            assert_eq!(gauge(&metrics), "0");
            for _ in 0..3 {
                assert_eq!(
                    get(&client).await.unwrap(),
                    StatusCode::INTERNAL_SERVER_ERROR
                );
            }
            (client, metrics, status, received)
        }

        #[tokio::test]
        async fn three_failed_calls_in_a_row_open_the_circuit_and_later_calls_are_not_sent() {
            let (client, metrics, _status, received) = open_circuit().await;

            let refused = get(&client).await.expect_err("refused");

            assert!(
                matches!(refused, CallError::CircuitOpen { .. }),
                "{refused}"
            );
            assert!(!refused.may_have_reached_service());
            assert_eq!(
                refused.to_string(),
                "user-service is failing: its circuit breaker is open and the call was not sent"
            );
            assert_eq!(
                received.load(Ordering::SeqCst),
                3,
                "the refused call was sent"
            );
            assert_eq!(gauge(&metrics), "1");
            // Counted apart from the three that failed.
            let text = metrics.render(false).unwrap();
            let calls = |result: &str| {
                text.lines()
                    .filter(|l| {
                        l.starts_with("external_api_calls_total{")
                            && l.contains(&format!("result=\"{result}\""))
                    })
                    .map(|l| l.rsplit(' ').next().unwrap().to_owned())
                    .collect::<Vec<_>>()
            };
            assert_eq!(calls("failure"), ["3"], "{text}");
            assert_eq!(calls("refused"), ["1"], "{text}");
        }

        #[tokio::test]
        async fn once_the_open_time_is_over_a_successful_trial_call_closes_the_circuit() {
            let (client, metrics, status, received) = open_circuit().await;
            status.store(200, Ordering::SeqCst);

            call_until(&client, |o| matches!(o, Ok(StatusCode::OK))).await;

            assert_eq!(gauge(&metrics), "0");
            assert_eq!(received.load(Ordering::SeqCst), 4, "one trial call");
            assert_eq!(get(&client).await.unwrap(), StatusCode::OK);
        }

        #[tokio::test]
        async fn a_failed_trial_call_opens_the_circuit_again() {
            let (client, metrics, _status, received) = open_circuit().await;

            call_until(&client, |o| {
                matches!(o, Ok(StatusCode::INTERNAL_SERVER_ERROR))
            })
            .await;

            assert_eq!(received.load(Ordering::SeqCst), 4);
            assert!(matches!(
                get(&client).await,
                Err(CallError::CircuitOpen { .. })
            ));
            assert_eq!(gauge(&metrics), "1");
        }

        #[tokio::test]
        async fn a_compensation_goes_through_an_open_circuit() {
            let (client, _metrics, _status, received) = open_circuit().await;

            let reply = client
                .call::<(), serde_json::Value>(
                    CallKind::Compensation,
                    Method::POST,
                    "/inventory/reservations/{reservation_id}/release",
                    "/inventory/reservations/r-1/release",
                    None,
                )
                .await
                .unwrap();

            assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(received.load(Ordering::SeqCst), 4, "it was sent");
        }

        #[tokio::test]
        async fn answers_below_500_never_open_the_circuit() {
            let status = Arc::new(AtomicU16::new(404));
            let (url, received) = answering(status).await;
            let metrics = Metrics::new("order-service");
            let client = client(url, &metrics);

            for _ in 0..10 {
                assert_eq!(get(&client).await.unwrap(), StatusCode::NOT_FOUND);
            }

            assert_eq!(received.load(Ordering::SeqCst), 10);
            assert_eq!(gauge(&metrics), "0");
        }
    }

    mod retries {
        use super::*;
        use std::collections::VecDeque;
        use std::sync::Mutex;

        /// A service that answers with `statuses` in turn, then 200; returns its URL and the
        /// count of requests it received.
        async fn scripted(statuses: &[u16]) -> (String, Arc<AtomicUsize>) {
            let script = Arc::new(Mutex::new(
                statuses.iter().copied().collect::<VecDeque<_>>(),
            ));
            let received = Arc::new(AtomicUsize::new(0));
            let counter = received.clone();
            let router = axum::Router::new().fallback(move || {
                let status = script.lock().unwrap().pop_front().unwrap_or(200);
                counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    let body = axum::Json(serde_json::json!({ "id": 1 }));
                    (StatusCode::from_u16(status).unwrap(), body)
                }
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
            (url, received)
        }

        fn client(url: String) -> ServiceClient {
            let policy = CallPolicy {
                timeout: Duration::from_secs(5),
                max_in_flight: 4,
                breaker: None,
                retries: 2,
            };
            let metrics = Metrics::new("order-service");
            ServiceClient::new(
                ServiceClient::http_pool(),
                "product-service",
                url,
                policy,
                metrics,
            )
        }

        async fn get(client: &ServiceClient) -> StatusCode {
            let reply = client
                .call::<(), serde_json::Value>(
                    CallKind::Plain,
                    Method::GET,
                    "/products/{id}",
                    "/products/1",
                    None,
                )
                .await
                .unwrap();
            reply.status
        }

        async fn post(client: &ServiceClient, kind: CallKind) -> StatusCode {
            let body = Some(&serde_json::json!({ "product_ids": [1] }));
            let (route, path) = ("/products/batch", "/products/batch");
            let reply = client
                .call::<_, serde_json::Value>(kind, Method::POST, route, path, body)
                .await;
            reply.unwrap().status
        }

        #[tokio::test]
        async fn a_get_that_meets_503_and_502_is_tried_again_until_it_succeeds() {
            let (url, received) = scripted(&[503, 502]).await;

            assert_eq!(get(&client(url)).await, StatusCode::OK);

            assert_eq!(received.load(Ordering::SeqCst), 3);
        }

        #[tokio::test]
        async fn after_the_last_retry_the_last_answer_is_the_calls_answer() {
            let (url, received) = scripted(&[503, 503, 504, 503]).await;

            assert_eq!(get(&client(url)).await, StatusCode::GATEWAY_TIMEOUT);

            assert_eq!(
                received.load(Ordering::SeqCst),
                3,
                "one call and two retries"
            );
        }

        #[tokio::test]
        async fn a_500_is_an_answer_and_is_not_tried_again() {
            let (url, received) = scripted(&[500]).await;

            assert_eq!(get(&client(url)).await, StatusCode::INTERNAL_SERVER_ERROR);

            assert_eq!(received.load(Ordering::SeqCst), 1);
        }

        #[tokio::test]
        async fn a_post_is_tried_again_only_when_declared_idempotent() {
            let (url, received) = scripted(&[503, 503]).await;
            let client = client(url);

            assert_eq!(
                post(&client, CallKind::Plain).await,
                StatusCode::SERVICE_UNAVAILABLE
            );
            assert_eq!(received.load(Ordering::SeqCst), 1);

            assert_eq!(post(&client, CallKind::Idempotent).await, StatusCode::OK);
            assert_eq!(received.load(Ordering::SeqCst), 3);
        }
    }
}
