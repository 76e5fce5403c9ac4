//! Faults injected on purpose, at run time: added latency, error answers, hanging, dropped
//! connections, on a share of a service's requests (optionally of one route), for resilience
//! experiments and for practising diagnosis. Each service keeps its own list, changed through
//! `GET/POST/DELETE /admin/faults` by the operator only (an admin token; `tracemart chaos`
//! signs one). A request a fault touches says so on its SERVER span, in a counter and in a log
//! line ([`FaultInjected`]), so an injected failure is never mistaken for a real one.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::StatusCode;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tracemart_telemetry::Metrics;
use tracemart_telemetry::events::{BusinessEvent, FaultInjected};

use crate::error::ApiError;
use crate::identity::Caller;

/// The admin route of the fault list.
pub const ROUTE: &str = "/admin/faults";
/// Longest latency a fault may add: longer would outlive every timeout anyway.
const MAX_LATENCY: Duration = Duration::from_secs(600);

/// What a fault does to a request it touches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Waits `latency_ms` plus up to `jitter_ms` (uniform) before handling the request.
    Latency {
        latency_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// Answers `status` without handling the request.
    Error { status: u16 },
    /// Never answers: the request waits until the server's own timeout (408 after 30 s) or the
    /// caller gives up.
    Hang,
    /// Closes the connection without an answer.
    Drop,
}

impl FaultKind {
    /// The `fault.type` attribute and metric label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Error { .. } => "error",
            Self::Hang => "hang",
            Self::Drop => "drop",
        }
    }
}

/// A fault as asked for: what, on which share of requests, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Share of the requests it touches, in (0, 1].
    #[serde(default = "every_request")]
    pub rate: f64,
    /// Only requests whose path starts with this; without it, every route but `/health*`,
    /// `/metrics` and `/admin/*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

fn every_request() -> f64 {
    1.0
}

/// Why a fault cannot be set.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultSpecError {
    #[error("rate must be above 0 and at most 100% (got {0})")]
    Rate(f64),
    #[error("an error fault answers a status from 400 to 599 (got {0})")]
    Status(u16),
    #[error("latency plus jitter may be at most {} s", MAX_LATENCY.as_secs())]
    Latency,
    #[error("a route starts with '/' (got {0:?})")]
    Route(String),
    #[error("{0}")]
    Syntax(String),
}

impl FaultSpec {
    /// Checks the values a request or the CLI gave.
    pub fn validate(&self) -> Result<(), FaultSpecError> {
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            return Err(FaultSpecError::Rate(self.rate));
        }
        match self.kind {
            FaultKind::Error { status } if !(400..=599).contains(&status) => {
                return Err(FaultSpecError::Status(status));
            }
            FaultKind::Latency {
                latency_ms,
                jitter_ms,
            } if Duration::from_millis(latency_ms.saturating_add(jitter_ms)) > MAX_LATENCY => {
                return Err(FaultSpecError::Latency);
            }
            _ => {}
        }
        match &self.route {
            Some(route) if !route.starts_with('/') => Err(FaultSpecError::Route(route.clone())),
            _ => Ok(()),
        }
    }

    /// Reads the CLI's words: one of `latency=800ms` (with `jitter=200ms`), `error=503`,
    /// `hang`, `drop`, then `rate=50%` (or `0.5`) and `route=/products`, in any order.
    pub fn parse(words: &[String]) -> Result<Self, FaultSpecError> {
        let syntax = |m: String| FaultSpecError::Syntax(m);
        let mut kind = None;
        let (mut jitter_ms, mut rate, mut route) = (None, 1.0, None);
        for word in words {
            let (key, value) = word.split_once('=').unwrap_or((word.as_str(), ""));
            let set = |kind: &mut Option<FaultKind>, k: FaultKind| {
                if kind.replace(k).is_some() {
                    return Err(syntax(format!("more than one fault type in {words:?}")));
                }
                Ok(())
            };
            match key {
                "latency" => set(
                    &mut kind,
                    FaultKind::Latency {
                        latency_ms: millis(value)?,
                        jitter_ms: 0,
                    },
                )?,
                "jitter" => jitter_ms = Some(millis(value)?),
                "error" => {
                    let status = value.parse().map_err(|_| {
                        syntax(format!("error=STATUS wants a number, got {value:?}"))
                    })?;
                    set(&mut kind, FaultKind::Error { status })?;
                }
                "hang" if value.is_empty() => set(&mut kind, FaultKind::Hang)?,
                "drop" if value.is_empty() => set(&mut kind, FaultKind::Drop)?,
                "rate" => rate = share(value)?,
                "route" => route = Some(value.to_owned()),
                _ => {
                    return Err(syntax(format!(
                        "unknown word {word:?}: expected latency=DURATION, jitter=DURATION, \
                         error=STATUS, hang, drop, rate=PERCENT, route=PATH"
                    )));
                }
            }
        }
        let mut kind = kind.ok_or_else(|| {
            syntax("no fault type: give latency=DURATION, error=STATUS, hang or drop".into())
        })?;
        if let Some(j) = jitter_ms {
            match &mut kind {
                FaultKind::Latency { jitter_ms, .. } => *jitter_ms = j,
                _ => return Err(syntax("jitter= goes with latency=".into())),
            }
        }
        let spec = Self { kind, rate, route };
        spec.validate()?;
        Ok(spec)
    }

    /// Whether it applies to a request for `path`.
    fn covers(&self, path: &str) -> bool {
        match &self.route {
            Some(route) => path.starts_with(route.as_str()),
            None => {
                !(path.starts_with("/health")
                    || path.starts_with("/metrics")
                    || path.starts_with("/admin/"))
            }
        }
    }
}

/// `800ms`, `2s`, `1.5s` or a bare number of milliseconds.
fn millis(value: &str) -> Result<u64, FaultSpecError> {
    let bad = || FaultSpecError::Syntax(format!("{value:?} is not a duration like 800ms or 2s"));
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (value, 1.0)
    };
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(n.is_finite() && n >= 0.0) {
        return Err(bad());
    }
    Ok((n * scale).round() as u64)
}

/// `50%` or `0.5`.
fn share(value: &str) -> Result<f64, FaultSpecError> {
    let bad = || FaultSpecError::Syntax(format!("{value:?} is not a rate like 50% or 0.5"));
    match value.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| bad()),
        None => value.trim().parse().map_err(|_| bad()),
    }
}

/// A fault in a service's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
}

/// A service's faults. Cheap to clone; clones share the list.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Read by every request before taking the lock: with no fault set, a request pays one
    /// atomic load.
    any: AtomicBool,
    list: RwLock<List>,
}

#[derive(Default)]
struct List {
    next_id: u64,
    faults: Vec<Fault>,
}

impl Faults {
    /// Adds a fault (checked first) and returns it with its id.
    pub fn add(&self, spec: FaultSpec) -> Result<Fault, FaultSpecError> {
        spec.validate()?;
        let mut list = self.write();
        list.next_id += 1;
        let fault = Fault {
            id: list.next_id,
            spec,
        };
        list.faults.push(fault.clone());
        self.inner.any.store(true, Ordering::Release);
        Ok(fault)
    }

    pub fn list(&self) -> Vec<Fault> {
        self.read().faults.clone()
    }

    /// Removes every fault; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut list = self.write();
        self.inner.any.store(false, Ordering::Release);
        std::mem::take(&mut list.faults).len()
    }

    /// The faults that touch this request: each covering it, drawn at its rate.
    fn draw(&self, path: &str) -> Vec<Fault> {
        if !self.inner.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut rng = rand::rng();
        self.read()
            .faults
            .iter()
            .filter(|f| f.spec.covers(path) && rng.random::<f64>() < f.spec.rate)
            .cloned()
            .collect()
    }

    // A panic while holding the lock leaves a list that is still whole: keep using it.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, List> {
        self.inner.list.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, List> {
        self.inner.list.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the middleware and the admin routes share.
#[derive(Clone)]
pub struct FaultState {
    pub faults: Faults,
    pub metrics: Metrics,
}

/// Middleware: applies the faults drawn for the request. Latency first, then the first fault
/// that ends the request (error, hang or drop) if any; each recorded on the request's span.
pub async fn inject(State(state): State<FaultState>, req: Request, next: Next) -> Response {
    let drawn = state.faults.draw(req.uri().path());
    if drawn.is_empty() {
        return next.run(req).await;
    }
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let endpoint = matched.as_ref().map_or("", MatchedPath::as_str);
    let record = |fault: &Fault, effect: &str| {
        FaultInjected {
            metrics: &state.metrics,
            id: fault.id,
            kind: fault.spec.kind.name(),
            endpoint,
            effect,
        }
        .emit();
    };
    for fault in &drawn {
        if let FaultKind::Latency {
            latency_ms,
            jitter_ms,
        } = fault.spec.kind
        {
            let jitter = if jitter_ms > 0 {
                rand::rng().random_range(0..=jitter_ms)
            } else {
                0
            };
            let delay = latency_ms + jitter;
            record(fault, &format!("added {delay} ms"));
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
    }
    for fault in &drawn {
        match fault.spec.kind {
            FaultKind::Latency { .. } => {}
            FaultKind::Error { status } => {
                record(fault, &format!("answered {status}"));
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                return ApiError::new(status, "fault_injected", "Fault injected on purpose")
                    .into_response();
            }
            FaultKind::Hang => {
                record(fault, "no answer");
                std::future::pending::<()>().await;
            }
            FaultKind::Drop => {
                record(fault, "closed the connection");
                return Response::new(axum::body::Body::new(BrokenBody));
            }
        }
    }
    next.run(req).await
}

/// A body whose first read fails: the server closes the connection without an answer.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::other(
            "fault injected: connection dropped",
        ))))
    }
}

/// `GET /admin/faults` (list), `POST /admin/faults` (add one), `DELETE /admin/faults` (clear).
pub fn admin_routes(state: FaultState) -> Router {
    Router::new()
        .route(ROUTE, get(list).post(add).delete(clear))
        .with_state(state)
}

/// The operator only: tokens or not, nobody else changes faults.
fn operator_only(caller: Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Admin => Ok(()),
        Caller::Unchecked => Err(Caller::Anonymous.refuse("Fault injection")),
        other => Err(other.refuse("Fault injection")),
    }
}

#[derive(Serialize, Deserialize)]
pub struct FaultList {
    pub faults: Vec<Fault>,
}

async fn list(caller: Caller, State(st): State<FaultState>) -> Result<Json<FaultList>, ApiError> {
    operator_only(caller)?;
    Ok(Json(FaultList {
        faults: st.faults.list(),
    }))
}

async fn add(
    caller: Caller,
    State(st): State<FaultState>,
    body: Result<Json<FaultSpec>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Fault>), ApiError> {
    operator_only(caller)?;
    let Json(spec) = body.map_err(|e| ApiError::bad_request("invalid_fault", e.body_text()))?;
    let fault = st
        .faults
        .add(spec)
        .map_err(|e| ApiError::bad_request("invalid_fault", e.to_string()))?;
    tracing::warn!(fault.id = fault.id, fault.type = fault.spec.kind.name(), "Fault set");
    Ok((StatusCode::CREATED, Json(fault)))
}

#[derive(Serialize, Deserialize)]
pub struct Cleared {
    pub cleared: usize,
}

async fn clear(caller: Caller, State(st): State<FaultState>) -> Result<Json<Cleared>, ApiError> {
    operator_only(caller)?;
    let cleared = st.faults.clear();
    tracing::info!(cleared, "Faults cleared");
    Ok(Json(Cleared { cleared }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_cli_words_make_the_fault_they_name() {
        assert_eq!(
            FaultSpec::parse(&words("latency=800ms jitter=0.2s rate=50% route=/products")),
            Ok(FaultSpec {
                kind: FaultKind::Latency {
                    latency_ms: 800,
                    jitter_ms: 200
                },
                rate: 0.5,
                route: Some("/products".into()),
            })
        );
        assert_eq!(
            FaultSpec::parse(&words("error=503 rate=0.1")).map(|s| (s.kind, s.rate)),
            Ok((FaultKind::Error { status: 503 }, 0.1))
        );
        assert_eq!(
            FaultSpec::parse(&words("hang")).map(|s| s.kind),
            Ok(FaultKind::Hang)
        );
    }

    #[test]
    fn bad_words_are_refused_with_what_is_wrong() {
        for (input, says) in [
            ("", "no fault type"),
            ("latency=fast", "not a duration"),
            ("error=200", "400 to 599"),
            ("drop rate=150%", "at most 100%"),
            ("hang rate=0", "above 0"),
            ("hang drop", "more than one"),
            ("error=500 jitter=5ms", "goes with latency"),
            ("latency=1s route=products", "starts with '/'"),
            ("explode", "unknown word"),
        ] {
            let err = FaultSpec::parse(&words(input)).unwrap_err().to_string();
            assert!(err.contains(says), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn faults_without_a_route_spare_health_metrics_and_admin() {
        let any = FaultSpec::parse(&words("drop")).unwrap();
        assert!(any.covers("/products/1"));
        assert!(!any.covers("/health/ready") && !any.covers("/metrics"));
        assert!(!any.covers(ROUTE));
        let health = FaultSpec::parse(&words("error=503 route=/health")).unwrap();
        assert!(health.covers("/health/ready") && !health.covers("/products"));
    }

    #[test]
    fn a_fault_at_a_rate_touches_about_that_share_of_requests() {
        let faults = Faults::default();
        faults
            .add(FaultSpec::parse(&words("error=500 rate=30%")).unwrap())
            .unwrap();
        let touched = (0..10_000)
            .filter(|_| !faults.draw("/x").is_empty())
            .count();
        // Binomial(10000, 0.3): the standard deviation is about 46.
        assert!((2_700..=3_300).contains(&touched), "{touched}");
        assert_eq!(faults.clear(), 1);
        assert!(faults.draw("/x").is_empty());
    }
}
