//! What the OTLP/HTTP protobuf exporters share: one encoded batch POSTed with the blocking
//! reqwest client opentelemetry-otlp's HTTP exporter uses, with its headers and timeout,
//! retried as it retries, until shut down.

use std::io::Read;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry_http::Bytes;
use opentelemetry_otlp::ExporterBuildError;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use prost::Message;
use reqwest::blocking::Client;

const PROTOBUF: &str = "application/x-protobuf";
const USER_AGENT_VALUE: &str = concat!("tracemart-telemetry/", env!("CARGO_PKG_VERSION"));
/// opentelemetry-otlp's limit: a larger body is discarded, not sent.
const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
/// A success answer is read this far for a partial-success notice; an error's body for a
/// short excerpt.
const MAX_SUCCESS_BODY: u64 = 64 * 1024;
const EXCERPT: usize = 200;

// opentelemetry-otlp's default `RetryPolicy` (`recommended()`), bounded by the timeout.
const MAX_RETRIES: usize = 3;
const INITIAL_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_millis(1600);
const MAX_JITTER_MS: u32 = 100;
/// The longest a `Retry-After` answer makes us wait.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// The signal a poster exports: its path, its words in errors, its answer's type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Signal {
    Traces,
    Logs,
}

impl Signal {
    /// The signal as OpenTelemetry names it ("traces", "logs").
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    /// "OTLP/HTTP {noun} export failed".
    fn noun(self) -> &'static str {
        match self {
            Signal::Traces => "trace",
            Signal::Logs => "log",
        }
    }

    fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
        }
    }

    /// The rejected count and message of a partial-success answer, if it says anything.
    fn partial_success(self, body: &[u8]) -> Option<(i64, String)> {
        let (rejected, message) = match self {
            Signal::Traces => {
                let p = ExportTraceServiceResponse::decode(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_spans, p.error_message)
            }
            Signal::Logs => {
                let p = ExportLogsServiceResponse::decode(body)
                    .ok()?
                    .partial_success?;
                (p.rejected_log_records, p.error_message)
            }
        };
        (rejected > 0 || !message.is_empty()).then_some((rejected, message))
    }
}

/// POSTs encoded batches of one signal to `{endpoint}/v1/{signal}`.
#[derive(Debug)]
pub(super) struct ProtobufPoster {
    signal: Signal,
    /// `None` once shut down.
    client: Mutex<Option<Client>>,
    url: reqwest::Url,
    /// Content type, user agent, then the configured headers (which win).
    headers: HeaderMap,
    /// Bounds every attempt and, with the retries, the whole export.
    timeout: Duration,
}

/// Why one attempt failed, and whether trying again may help.
#[derive(Debug)]
struct Failure {
    message: String,
    retry: Retry,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Retry {
    Never,
    Backoff,
    /// A throttling answer's `Retry-After`.
    After(Duration),
}

impl ProtobufPoster {
    /// Posts to `{endpoint}/v1/{signal}`, sending `headers` with every request.
    pub(super) fn new(
        signal: Signal,
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, ExporterBuildError> {
        let url = format!("{endpoint}{}", signal.path());
        let url = reqwest::Url::parse(&url).map_err(|e| {
            ExporterBuildError::InvalidConfiguration(format!("invalid endpoint '{url}': {e}"))
        })?;
        let mut header_map = HeaderMap::new();
        header_map.insert(CONTENT_TYPE, HeaderValue::from_static(PROTOBUF));
        header_map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        // Names or values that are not valid in HTTP are skipped, as opentelemetry-otlp does.
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_str(name), HeaderValue::from_str(value))
            {
                header_map.insert(name, value);
            }
        }
        Ok(Self {
            signal,
            client: Mutex::new(Some(blocking_client(timeout)?)),
            url,
            headers: header_map,
            timeout,
        })
    }

    /// Sends the batch of `items` items `encode` writes into `body` (cleared first), which
    /// is given back for the next batch.
    pub(super) fn export(
        &self,
        body: &mut Vec<u8>,
        items: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> OTelSdkResult {
        let client = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(OTelSdkError::AlreadyShutdown)?;
        encode(body);
        if body.len() > MAX_REQUEST_BODY {
            return Err(OTelSdkError::InternalFailure(format!(
                "OTLP/HTTP {} export of {} bytes exceeds the {MAX_REQUEST_BODY}-byte limit; \
                 {items} {} discarded",
                self.signal.noun(),
                body.len(),
                self.signal.items(),
            )));
        }
        // Lent to the client as shared bytes (a retry sends them again), and taken back for the
        // next batch: without a copy once the client has let go of them, as it usually has.
        let shared = Bytes::from(std::mem::take(body));
        let result = self.send(&client, &shared);
        *body = Vec::from(shared);
        result
    }

    /// Lets go of the client: later exports fail.
    pub(super) fn shutdown(&self) -> OTelSdkResult {
        let mut client = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        client.take().map(drop).ok_or(OTelSdkError::AlreadyShutdown)
    }

    /// POSTs `body`, retrying as opentelemetry-otlp does by default: connection errors, 429,
    /// 502, 503 and 504 are tried again up to three times with exponential backoff and jitter
    /// (a 429 or 503 waits at least its `Retry-After` seconds), while the timeout allows.
    fn send(&self, client: &Client, body: &Bytes) -> OTelSdkResult {
        let start = Instant::now();
        let mut delay = INITIAL_DELAY;
        let mut cap = MAX_DELAY;
        let mut retries = 0;
        loop {
            let failure = match self.post(client, body.clone()) {
                Ok(()) => return Ok(()),
                Err(failure) => failure,
            };
            let wait = match failure.retry {
                Retry::Never => None,
                Retry::Backoff => Some(delay),
                Retry::After(asked) => {
                    let asked = asked.min(MAX_THROTTLE);
                    if asked > cap {
                        cap = MAX_THROTTLE;
                    }
                    delay = delay.max(asked);
                    Some(delay)
                }
            };
            let remaining = self.timeout.saturating_sub(start.elapsed());
            let wait = wait
                .filter(|_| retries < MAX_RETRIES)
                .map(|d| (d + jitter()).min(cap))
                .filter(|d| *d < remaining);
            let Some(wait) = wait else {
                return Err(OTelSdkError::InternalFailure(failure.message));
            };
            retries += 1;
            pause(wait);
            delay = (delay * 2).min(cap);
        }
    }

    /// One attempt.
    fn post(&self, client: &Client, body: Bytes) -> Result<(), Failure> {
        let noun = self.signal.noun();
        let response = client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .body(body)
            .send()
            .map_err(|e| Failure {
                message: format!("OTLP/HTTP {noun} export failed: {}", error_chain(&e)),
                retry: Retry::Backoff,
            })?;
        let status = response.status();
        if status.is_success() {
            self.warn_on_partial_success(response);
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        let retry = match status.as_u16() {
            429 | 503 => retry_after.map_or(Retry::Backoff, Retry::After),
            502 | 504 => Retry::Backoff,
            _ => Retry::Never,
        };
        Err(Failure {
            message: format!(
                "OTLP/HTTP {noun} export to {} failed with status {status}: {}",
                self.url,
                excerpt(response)
            ),
            retry,
        })
    }

    /// A collector that rejected some items says so in a 2xx answer; worth a warning.
    fn warn_on_partial_success(&self, response: reqwest::blocking::Response) {
        let mut body = Vec::new();
        if response
            .take(MAX_SUCCESS_BODY)
            .read_to_end(&mut body)
            .is_err()
            || body.is_empty()
        {
            return;
        }
        if let Some((rejected, error_message)) = self.signal.partial_success(&body) {
            tracing::warn!(
                signal = self.signal.noun(),
                rejected,
                error_message,
                "OTLP/HTTP export partially rejected"
            );
        }
    }
}

/// reqwest's blocking client runs a Tokio runtime of its own, which cannot be created inside
/// another runtime: it is built on a thread of its own, as opentelemetry-otlp builds it.
fn blocking_client(timeout: Duration) -> Result<Client, ExporterBuildError> {
    let failed = |what: String| ExporterBuildError::InternalFailure(what);
    std::thread::Builder::new()
        .name("otlp-http-client".into())
        .spawn(move || Client::builder().timeout(timeout).build())
        .map_err(|e| failed(format!("cannot start a thread for the HTTP client: {e}")))?
        .join()
        .map_err(|_| failed("building the HTTP client panicked".into()))?
        .map_err(|e| failed(format!("cannot build the HTTP client: {e}")))
}

/// The start of an error answer's body, on one line.
fn excerpt(response: reqwest::blocking::Response) -> String {
    let mut body = Vec::new();
    let _ = response.take(EXCERPT as u64 + 1).read_to_end(&mut body);
    let cut = body.len() > EXCERPT;
    body.truncate(EXCERPT);
    let mut text: String = String::from_utf8_lossy(&body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cut {
        text.push('…');
    }
    text
}

/// An error and its causes: reqwest's own message leaves out why a connection failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    std::iter::successors(Some(error), |e| e.source())
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

/// Up to `MAX_JITTER_MS`, so that exporters restarted together do not retry in step.
fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    Duration::from_millis(u64::from(nanos % (MAX_JITTER_MS + 1)))
}

/// The wait between attempts, on the export thread (the SDK's batch processor's own): what
/// opentelemetry-otlp's exporter does there too.
#[allow(clippy::disallowed_methods)]
fn pause(wait: Duration) {
    std::thread::sleep(wait);
}
