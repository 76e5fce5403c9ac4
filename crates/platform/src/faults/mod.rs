//! Faults injected on purpose, at run time, for resilience experiments and for practising
//! diagnosis: on a share of a service's requests (added latency, error answers, hanging,
//! dropped connections, optionally of one route), of its database operations (a slow
//! database), of its payment decisions (declines) and of the messages it consumes (delivered
//! twice, delayed, lost before acknowledgement). Each service keeps its own list, changed
//! through `GET/POST/DELETE /admin/faults` by the operator only (an admin token; `tracemart
//! chaos` signs one). What a fault touches says so on its span, in a counter and in a log line
//! ([`FaultInjected`]), so an injected failure is never mistaken for a real one.

mod admin;
mod inject;
mod words;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tracemart_telemetry::Metrics;
use tracemart_telemetry::events::{BusinessEvent, FaultInjected};

use crate::config::ServiceName;

pub use admin::{Cleared, FaultList, admin_routes};
pub use inject::{FaultState, inject};
pub use words::parse_duration;

/// The admin route of the fault list.
pub const ROUTE: &str = "/admin/faults";
/// Longest latency or delay a fault may add: longer would outlive every timeout anyway.
const MAX_LATENCY: Duration = Duration::from_secs(600);

/// What a fault does to what it touches. The JSON shape of `/admin/faults` (`type` and the
/// kind's fields).
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
    /// A slow database: the operation waits `latency_ms` plus up to `jitter_ms` inside its
    /// CLIENT span, on either engine.
    DbLatency {
        latency_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
    },
    /// The payment service declines a payment it would have authorised; the saga compensates.
    Decline,
    /// A consumed message is handled, then delivered again (as when an acknowledgement is
    /// lost); the inbox must make the second delivery harmless.
    EventDuplicate,
    /// A consumed message waits `delay_ms` before it is handled.
    EventDelay { delay_ms: u64 },
    /// A consumed message is dropped unhandled and unacknowledged; its transport delivers it
    /// again.
    EventLoss,
}

/// Where a fault acts: what code draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTarget {
    /// The service's HTTP requests (the [`inject`] middleware).
    Request,
    /// Its database operations, on both engines.
    Database,
    /// The payment service's decisions.
    Payment,
    /// The messages it consumes, on every transport.
    Event,
}

impl FaultTarget {
    /// Whether `service` has the code this target's faults act on: refused elsewhere, since a
    /// fault nothing applies would look set and do nothing.
    pub fn applies_to(self, service: ServiceName) -> bool {
        match self {
            Self::Request | Self::Database => true,
            Self::Payment => service == ServiceName::Payment,
            // The services that consume events (`tracemart_events::Inbound`).
            Self::Event => matches!(service, ServiceName::Order | ServiceName::Payment),
        }
    }

    /// Who may take such a fault, for the refusal.
    fn where_applied(self) -> &'static str {
        match self {
            Self::Request | Self::Database => "every service",
            Self::Payment => "the payment service",
            Self::Event => "the services that consume events (order, payment)",
        }
    }
}

impl FaultKind {
    /// The `fault.type` attribute and metric label.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Latency { .. } => "latency",
            Self::Error { .. } => "error",
            Self::Hang => "hang",
            Self::Drop => "drop",
            Self::DbLatency { .. } => "db_latency",
            Self::Decline => "decline",
            Self::EventDuplicate => "event_duplicate",
            Self::EventDelay { .. } => "event_delay",
            Self::EventLoss => "event_loss",
        }
    }

    pub fn target(&self) -> FaultTarget {
        match self {
            Self::Latency { .. } | Self::Error { .. } | Self::Hang | Self::Drop => {
                FaultTarget::Request
            }
            Self::DbLatency { .. } => FaultTarget::Database,
            Self::Decline => FaultTarget::Payment,
            Self::EventDuplicate | Self::EventDelay { .. } | Self::EventLoss => FaultTarget::Event,
        }
    }

    /// The wait this fault adds, drawn now (latency plus its jitter); `None` for a fault that
    /// adds none.
    pub fn delay(&self) -> Option<Duration> {
        let (fixed, jitter) = match *self {
            Self::Latency {
                latency_ms,
                jitter_ms,
            }
            | Self::DbLatency {
                latency_ms,
                jitter_ms,
            } => (latency_ms, jitter_ms),
            Self::EventDelay { delay_ms } => (delay_ms, 0),
            _ => return None,
        };
        let jitter = if jitter > 0 {
            rand::rng().random_range(0..=jitter)
        } else {
            0
        };
        Some(Duration::from_millis(fixed.saturating_add(jitter)))
    }
}

/// A fault as asked for: what, on which share of what it targets, where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Share of what it targets that it touches, in (0, 1].
    #[serde(default = "every_request")]
    pub rate: f64,
    /// Request faults only: requests whose path starts with this; without it, every route but
    /// `/health*`, `/metrics` and `/admin/*`.
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
    #[error("latency plus jitter (or an event delay) may be at most {} s", MAX_LATENCY.as_secs())]
    Latency,
    #[error("a route starts with '/' (got {0:?})")]
    Route(String),
    #[error("route= goes with request faults (latency, error, hang, drop), not {0}")]
    RouteOfOther(&'static str),
    #[error("{kind} faults apply to {applied} only, not to {service}")]
    NotApplied {
        kind: &'static str,
        applied: &'static str,
        service: ServiceName,
    },
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
            }
            | FaultKind::DbLatency {
                latency_ms,
                jitter_ms,
            } if Duration::from_millis(latency_ms.saturating_add(jitter_ms)) > MAX_LATENCY => {
                return Err(FaultSpecError::Latency);
            }
            FaultKind::EventDelay { delay_ms } if Duration::from_millis(delay_ms) > MAX_LATENCY => {
                return Err(FaultSpecError::Latency);
            }
            _ => {}
        }
        match &self.route {
            Some(_) if self.kind.target() != FaultTarget::Request => {
                Err(FaultSpecError::RouteOfOther(self.kind.name()))
            }
            Some(route) if !route.starts_with('/') => Err(FaultSpecError::Route(route.clone())),
            _ => Ok(()),
        }
    }

    /// [`FaultSpec::validate`], and whether `service` applies this kind of fault.
    pub fn validate_for(&self, service: ServiceName) -> Result<(), FaultSpecError> {
        self.validate()?;
        let target = self.kind.target();
        if target.applies_to(service) {
            Ok(())
        } else {
            Err(FaultSpecError::NotApplied {
                kind: self.kind.name(),
                applied: target.where_applied(),
                service,
            })
        }
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

/// A fault in a service's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
}

impl Fault {
    /// Records that this fault touched something: on the current span (attributes and an
    /// event), in `faults_injected_total{type,endpoint}` and in one log line. `endpoint` is the
    /// route template of a request, the operation of a database call (`SELECT stock`) or the
    /// topic of a message; `effect` says what the fault did.
    pub fn record(&self, metrics: &Metrics, endpoint: &str, effect: &str) {
        FaultInjected {
            metrics,
            id: self.id,
            kind: self.spec.kind.name(),
            endpoint,
            effect,
        }
        .emit();
    }
}

/// A service's faults. Cheap to clone; clones share the list.
#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// The service whose list it is; `None` takes every kind (a list outside a service).
    service: Option<ServiceName>,
    /// Read before taking the lock: with no fault set, a request, a database operation or a
    /// message pays one atomic load.
    any: AtomicBool,
    list: RwLock<List>,
}

#[derive(Default)]
struct List {
    next_id: u64,
    faults: Vec<Fault>,
}

impl Faults {
    /// The empty list of `service`, which refuses the kinds of fault it does not apply.
    pub fn of(service: ServiceName) -> Self {
        Self {
            inner: Arc::new(Shared {
                service: Some(service),
                ..Shared::default()
            }),
        }
    }

    /// Adds a fault (checked first) and returns it with its id.
    pub fn add(&self, spec: FaultSpec) -> Result<Fault, FaultSpecError> {
        match self.inner.service {
            Some(service) => spec.validate_for(service)?,
            None => spec.validate()?,
        }
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

    /// Removes fault `id`; whether it was there.
    pub fn remove(&self, id: u64) -> bool {
        let mut list = self.write();
        let before = list.faults.len();
        list.faults.retain(|f| f.id != id);
        self.inner
            .any
            .store(!list.faults.is_empty(), Ordering::Release);
        list.faults.len() < before
    }

    /// The faults of `target` that touch this occurrence, each drawn at its rate; `path` is a
    /// request's (request faults cover routes).
    pub fn draw(&self, target: FaultTarget, path: &str) -> Vec<Fault> {
        if !self.inner.any.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut rng = rand::rng();
        self.read()
            .faults
            .iter()
            .filter(|f| {
                f.spec.kind.target() == target
                    && (target != FaultTarget::Request || f.spec.covers(path))
                    && rng.random::<f64>() < f.spec.rate
            })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(s: &str) -> FaultSpec {
        let words: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
        FaultSpec::parse(&words).unwrap()
    }

    #[test]
    fn faults_without_a_route_spare_health_metrics_and_admin() {
        let any = spec("drop");
        assert!(any.covers("/products/1"));
        assert!(!any.covers("/health/ready") && !any.covers("/metrics"));
        assert!(!any.covers(ROUTE));
        let health = spec("error=503 route=/health");
        assert!(health.covers("/health/ready") && !health.covers("/products"));
    }

    #[test]
    fn a_fault_at_a_rate_touches_about_that_share_of_requests() {
        let faults = Faults::default();
        faults.add(spec("error=500 rate=30%")).unwrap();
        let touched = (0..10_000)
            .filter(|_| !faults.draw(FaultTarget::Request, "/x").is_empty())
            .count();
        // Binomial(10000, 0.3): the standard deviation is about 46.
        assert!((2_700..=3_300).contains(&touched), "{touched}");
        assert_eq!(faults.clear(), 1);
        assert!(faults.draw(FaultTarget::Request, "/x").is_empty());
    }

    #[test]
    fn each_fault_is_drawn_only_by_what_it_targets() {
        let faults = Faults::default();
        faults.add(spec("db-latency=5ms")).unwrap();
        faults.add(spec("event-loss")).unwrap();
        let kinds = |target| -> Vec<&'static str> {
            faults
                .draw(target, "/orders")
                .iter()
                .map(|f| f.spec.kind.name())
                .collect()
        };
        assert!(kinds(FaultTarget::Request).is_empty());
        assert_eq!(kinds(FaultTarget::Database), ["db_latency"]);
        assert_eq!(kinds(FaultTarget::Event), ["event_loss"]);
        assert!(kinds(FaultTarget::Payment).is_empty());
    }

    #[test]
    fn a_service_refuses_the_faults_it_has_no_code_for() {
        let inventory = Faults::of(ServiceName::Inventory);
        let refused = inventory.add(spec("decline")).unwrap_err().to_string();
        assert!(refused.contains("payment service only"), "{refused}");
        let refused = inventory.add(spec("event-duplicate")).unwrap_err();
        assert!(refused.to_string().contains("consume events"), "{refused}");
        assert!(inventory.add(spec("db-latency=300ms rate=50%")).is_ok());
        let payment = Faults::of(ServiceName::Payment);
        assert!(payment.add(spec("decline rate=30%")).is_ok());
        assert!(payment.add(spec("event-delay=2s")).is_ok());
        assert!(
            Faults::of(ServiceName::Order)
                .add(spec("event-loss"))
                .is_ok()
        );
    }

    #[test]
    fn one_fault_can_be_removed_by_its_id() {
        let faults = Faults::default();
        let first = faults.add(spec("error=503")).unwrap();
        let second = faults.add(spec("latency=5ms")).unwrap();
        assert!(faults.remove(first.id));
        assert!(!faults.remove(first.id));
        assert_eq!(faults.list(), std::slice::from_ref(&second));
        assert!(faults.remove(second.id));
        assert!(faults.draw(FaultTarget::Request, "/x").is_empty());
    }

    #[test]
    fn the_json_of_the_first_kinds_is_unchanged() {
        let latency: FaultSpec = serde_json::from_str(
            r#"{"type":"latency","latency_ms":800,"jitter_ms":200,"rate":0.5,"route":"/p"}"#,
        )
        .unwrap();
        assert_eq!(
            latency,
            spec("latency=800ms jitter=200ms rate=50% route=/p")
        );
        let error: FaultSpec = serde_json::from_str(r#"{"type":"error","status":503}"#).unwrap();
        assert_eq!(error, spec("error=503"));
        let db = serde_json::to_value(spec("db-latency=300ms rate=50%")).unwrap();
        assert_eq!(
            db,
            serde_json::json!({"type": "db_latency", "latency_ms": 300, "jitter_ms": 0, "rate": 0.5})
        );
    }
}
