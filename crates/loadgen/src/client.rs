//! The HTTP client: pooled HTTP/1.1 keep-alive connections (hyper), and the headers that mark
//! every request as synthetic and give it its own W3C trace.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;

use crate::base_url::BaseUrl;
use crate::error::LoadError;
use crate::scenario::{OrderIds, RequestKind, RequestSpec};

/// W3C baggage every request carries, so the console can tell load from real traffic.
pub const SYNTHETIC_BAGGAGE: &str = "synthetic_request=true";
const TRACEPARENT: &str = "traceparent";
const BAGGAGE: &str = "baggage";
const AGENT: &str = concat!("tracemart-loadgen/", env!("CARGO_PKG_VERSION"));

/// The trace a request starts: random ids, sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// 128-bit trace id (never zero).
    pub trace_id: u128,
    /// 64-bit id of the client-side parent span (never zero).
    pub span_id: u64,
}

impl TraceContext {
    /// Fresh random ids from the thread's OS-seeded generator (not `--seed`: ids must not repeat
    /// across runs).
    pub fn random() -> Self {
        let mut rng = rand::rng();
        let trace_id = rng.random_range(1..=u128::MAX);
        let span_id = rng.random_range(1..=u64::MAX);
        Self { trace_id, span_id }
    }

    /// The `traceparent` header value: version 00, sampled flag 01.
    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-01", self.trace_id, self.span_id)
    }

    /// The trace id as 32 lowercase hex digits, as Jaeger spells it.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

/// Why a request got no HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connection could not be made.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// Anything else: reset connection, malformed response, invalid URL.
    Other,
}

impl Failure {
    /// Short name used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cheap-to-clone pooled client with a per-request timeout.
#[derive(Clone, Debug)]
pub(crate) struct LoadClient {
    inner: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
    ids: OrderIds,
    /// `Authorization` of every request (`--token`).
    authorization: Option<HeaderValue>,
}

/// What a request got: its status and (for the caller's use) the body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl LoadClient {
    pub(crate) fn new(
        timeout: Duration,
        ids: OrderIds,
        authorization: Option<HeaderValue>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Self {
            inner,
            timeout,
            ids,
            authorization,
        }
    }

    /// Sends one load request and returns its status; a `201` to `POST /orders` donates its
    /// `order_id` to the pool that `GET /orders/{id}` reads from.
    pub(crate) async fn send(
        &self,
        spec: &RequestSpec,
        trace: &TraceContext,
    ) -> Result<u16, Failure> {
        let answer = self
            .exchange(
                spec.method.clone(),
                &spec.uri,
                spec.body.clone(),
                Some(trace),
            )
            .await
            .map_err(|(failure, _)| failure)?;
        if spec.kind == RequestKind::CreateOrder
            && answer.status == StatusCode::CREATED
            && let Some(id) = order_id(&answer.body)
        {
            self.ids.push(id);
        }
        Ok(answer.status.as_u16())
    }

    /// Sends a request and reads the whole body, within the timeout. The error carries a
    /// readable cause chain for messages.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        uri: &str,
        body: Bytes,
        trace: Option<&TraceContext>,
    ) -> Result<Answer, (Failure, String)> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(USER_AGENT, HeaderValue::from_static(AGENT))
            .header(BAGGAGE, HeaderValue::from_static(SYNTHETIC_BAGGAGE));
        if let Some(trace) = trace {
            builder = builder.header(TRACEPARENT, trace.traceparent());
        }
        if let Some(authorization) = &self.authorization {
            builder = builder.header(AUTHORIZATION, authorization.clone());
        }
        if !body.is_empty() {
            builder = builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = builder
            .body(Full::new(body))
            .map_err(|e| (Failure::Other, e.to_string()))?;
        let call = async {
            let response = self.inner.request(request).await.map_err(|e| {
                let failure = if e.is_connect() {
                    Failure::Connect
                } else {
                    Failure::Other
                };
                (failure, chain(&e))
            })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| (Failure::Other, chain(&e)))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err((
                Failure::Timeout,
                format!("no answer within {:?}", self.timeout),
            )),
        }
    }

    /// One request before the run: any HTTP answer (even 404) proves someone is listening.
    pub(crate) async fn probe(&self, base: &BaseUrl) -> Result<(), LoadError> {
        self.exchange(Method::GET, &base.join("/health"), Bytes::new(), None)
            .await
            .map(drop)
            .map_err(|(_, reason)| LoadError::Unreachable {
                url: base.to_string(),
                reason,
            })
    }
}

/// `order_id` of a created order, whether the service spells it as a string or a number.
fn order_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("order_id")? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An error and its sources, joined with `: `.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_w3c_version_00_and_sampled() {
        let trace = TraceContext {
            trace_id: 0xab,
            span_id: 0xcd,
        };
        assert_eq!(
            trace.traceparent(),
            "00-000000000000000000000000000000ab-00000000000000cd-01"
        );
    }

    #[test]
    fn order_ids_are_read_as_strings_or_numbers() {
        assert_eq!(order_id(br#"{"order_id":"o-1"}"#), Some("o-1".into()));
        assert_eq!(order_id(br#"{"order_id":42}"#), Some("42".into()));
        assert_eq!(order_id(br#"{"error":"x"}"#), None);
        assert_eq!(order_id(b"not json"), None);
    }
}
