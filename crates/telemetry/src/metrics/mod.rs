//! The seed's Prometheus metrics, one registry per service, with trace-id exemplars.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TraceId;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::names::metric;
use crate::process::ProcessCollector;

mod connections;
mod messaging;

pub use connections::ConnectionDrop;
pub use messaging::{OrderOutcome, SagaOutcome};

/// The seed's customer segments (`user_id % 10 < 2` premium, `< 6` standard, else basic).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum UserSegment {
    premium,
    standard,
    basic,
}

impl UserSegment {
    pub fn of(user_id: i64) -> Self {
        match user_id.rem_euclid(10) {
            0 | 1 => Self::premium,
            2..=5 => Self::standard,
            _ => Self::basic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::premium => "premium",
            Self::standard => "standard",
            Self::basic => "basic",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceExemplar {
    trace_id: TraceIdLabel,
}

/// A trace id kept as its 16 bytes and written as hex only when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
struct TraceIdLabel(TraceId);

impl EncodeLabelValue for TraceIdLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        use std::fmt::Write;
        encoder.write_str(crate::ids::trace_hex(self.0).as_str())
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrderLabels {
    status: &'static str,
    user_segment: UserSegment,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AmountLabels {
    currency: String,
    user_segment: UserSegment,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProcessingLabels {
    status: &'static str,
    service: Arc<str>,
}

/// Every field borrowed, so that recording a request allocates nothing (only an extension
/// method's name is copied).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: Cow<'static, str>,
    endpoint: &'static str,
    status_code: u16,
    status_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DbLabels {
    operation: &'static str,
    table: &'static str,
    service: Arc<str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExternalCallLabels {
    target_service: &'static str,
    endpoint: &'static str,
    status_code: u16,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    r#type: &'static str,
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    target_service: &'static str,
}

#[derive(Clone)]
struct Buckets(&'static [f64]);

impl MetricConstructor<HistogramWithExemplars<TraceExemplar>> for Buckets {
    fn new_metric(&self) -> HistogramWithExemplars<TraceExemplar> {
        HistogramWithExemplars::new(self.0.iter().copied())
    }
}

type Histograms<L> = Family<L, HistogramWithExemplars<TraceExemplar>, Buckets>;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const AMOUNT_BUCKETS: &[f64] = &[
    10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// A service's metrics. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared by the label sets that carry it, instead of a copy per observation.
    service: Arc<str>,
    registry: Registry,
    orders_created: Family<OrderLabels, Counter>,
    order_amount: Histograms<AmountLabels>,
    order_processing: Histograms<ProcessingLabels>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Histograms<HttpLabels>,
    db_duration: Histograms<DbLabels>,
    external_calls: Family<ExternalCallLabels, Counter>,
    circuit_states: Family<CircuitLabels, Gauge>,
    faults_injected: Family<FaultLabels, Counter>,
    messaging: messaging::MessagingMetrics,
    connections: connections::ConnectionMetrics,
}

/// A downstream service's circuit breaker state, as the `circuit_breaker_state` gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// Result of an HTTP exchange as the RED metrics see it.
pub struct HttpObservation<'a> {
    pub method: &'a http::Method,
    /// The route template (`/orders/{order_id}`), never the raw path.
    pub endpoint: &'static str,
    pub status: u16,
    pub duration: Duration,
    /// The exemplar of the duration histogram.
    pub trace_id: Option<TraceId>,
}

impl Metrics {
    /// Registers the seed's metrics for `service` (e.g. `order-service`).
    pub fn new(service: impl Into<String>) -> Self {
        let service: Arc<str> = service.into().into();
        let mut registry = Registry::default();
        let orders_created = Family::<OrderLabels, Counter>::default();
        let order_amount = Histograms::new_with_constructor(Buckets(AMOUNT_BUCKETS));
        let order_processing = Histograms::new_with_constructor(Buckets(LATENCY_BUCKETS));
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration = Histograms::new_with_constructor(Buckets(LATENCY_BUCKETS));
        let db_duration = Histograms::new_with_constructor(Buckets(LATENCY_BUCKETS));
        let external_calls = Family::<ExternalCallLabels, Counter>::default();
        let circuit_states = Family::<CircuitLabels, Gauge>::default();
        let faults_injected = Family::<FaultLabels, Counter>::default();
        registry.register(
            metric::ORDERS_CREATED,
            "Total number of orders created",
            orders_created.clone(),
        );
        registry.register(
            metric::ORDER_AMOUNT,
            "Order amount distribution",
            order_amount.clone(),
        );
        registry.register(
            metric::ORDER_PROCESSING_DURATION_SECONDS,
            "Time taken to process orders",
            order_processing.clone(),
        );
        registry.register(
            metric::HTTP_REQUESTS,
            "Total HTTP requests",
            http_requests.clone(),
        );
        registry.register(
            metric::HTTP_REQUEST_DURATION_SECONDS,
            "HTTP request processing time",
            http_duration.clone(),
        );
        registry.register(
            metric::DATABASE_QUERY_DURATION_SECONDS,
            "Database query execution time",
            db_duration.clone(),
        );
        registry.register(
            metric::EXTERNAL_API_CALLS,
            "External API calls made",
            external_calls.clone(),
        );
        registry.register(
            metric::CIRCUIT_BREAKER_STATE,
            "Circuit breaker of calls to a service: 0 closed, 1 open (calls refused), 2 half-open (trial calls)",
            circuit_states.clone(),
        );
        registry.register(
            metric::FAULTS_INJECTED,
            "Faults injected on purpose (tracemart chaos), by type and where: route, database operation or topic",
            faults_injected.clone(),
        );
        let messaging = messaging::MessagingMetrics::register(&mut registry);
        let connections = connections::ConnectionMetrics::register(&mut registry);
        registry.register_collector(Box::new(ProcessCollector));
        Self {
            inner: Arc::new(Inner {
                service,
                registry,
                orders_created,
                order_amount,
                order_processing,
                http_requests,
                http_duration,
                db_duration,
                external_calls,
                circuit_states,
                faults_injected,
                messaging,
                connections,
            }),
        }
    }

    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The seed's `record_order_created`: count and amount, by segment.
    pub fn order_created(
        &self,
        user_id: i64,
        amount: f64,
        currency: &str,
        trace_id: Option<String>,
    ) {
        let segment = UserSegment::of(user_id);
        self.inner
            .orders_created
            .get_or_create(&OrderLabels {
                status: "created",
                user_segment: segment,
            })
            .inc();
        self.inner
            .order_amount
            .get_or_create(&AmountLabels {
                currency: currency.to_owned(),
                user_segment: segment,
            })
            .observe(amount, exemplar(trace_id.as_deref()), None);
    }

    /// The seed's `record_order_processing_time` (which the seed never called).
    pub fn order_processed(
        &self,
        status: &'static str,
        duration: Duration,
        trace_id: Option<String>,
    ) {
        self.inner
            .order_processing
            .get_or_create(&ProcessingLabels {
                status,
                service: self.inner.service.clone(),
            })
            .observe(duration.as_secs_f64(), exemplar(trace_id.as_deref()), None);
    }

    pub fn http_request(&self, o: HttpObservation<'_>) {
        let method = match crate::intern::method(o.method) {
            Some(m) => Cow::Borrowed(m),
            None => Cow::Owned(o.method.as_str().to_owned()),
        };
        let labels = HttpLabels {
            method,
            endpoint: o.endpoint,
            status_code: o.status,
            status_class: status_class(o.status),
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        self.inner.http_duration.get_or_create(&labels).observe(
            o.duration.as_secs_f64(),
            o.trace_id.map(|id| TraceExemplar {
                trace_id: TraceIdLabel(id),
            }),
            None,
        );
    }

    pub fn db_query(&self, operation: &'static str, table: &'static str, duration: Duration) {
        self.inner
            .db_duration
            .get_or_create(&DbLabels {
                operation,
                table,
                service: self.inner.service.clone(),
            })
            .observe(duration.as_secs_f64(), None, None);
    }

    /// `status` 0 means no HTTP answer (connect error or timeout), as in the seed.
    pub fn external_call(&self, target_service: &'static str, endpoint: &'static str, status: u16) {
        let result = if (200..300).contains(&status) {
            "success"
        } else {
            "failure"
        };
        self.count_call(target_service, endpoint, status, result);
    }

    /// A call that was never sent: refused by an open circuit or a full bulkhead. Counted
    /// with status 0 like a call that got no answer, as `result="refused"`, so that refusals
    /// can be told from failures.
    pub fn external_call_refused(&self, target_service: &'static str, endpoint: &'static str) {
        self.count_call(target_service, endpoint, 0, "refused");
    }

    fn count_call(
        &self,
        target_service: &'static str,
        endpoint: &'static str,
        status_code: u16,
        result: &'static str,
    ) {
        self.inner
            .external_calls
            .get_or_create(&ExternalCallLabels {
                target_service,
                endpoint,
                status_code,
                result,
            })
            .inc();
    }

    /// The state of the circuit breaker in front of `target_service`.
    pub fn circuit_state(&self, target_service: &'static str, state: CircuitState) {
        self.inner
            .circuit_states
            .get_or_create(&CircuitLabels { target_service })
            .set(state as i64);
    }

    /// A fault of `kind` was injected into a request to `endpoint` (a route template).
    pub fn fault_injected(&self, kind: &'static str, endpoint: &'static str) {
        self.inner
            .faults_injected
            .get_or_create(&FaultLabels {
                r#type: kind,
                endpoint,
            })
            .inc();
    }

    /// Renders the registry: OpenMetrics (with exemplars) or classic Prometheus text.
    pub fn render(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(16 * 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry)?;
        }
        Ok(out)
    }
}

/// The exemplar of a trace id given as text (ids that are not hex are left out).
fn exemplar(trace_id: Option<&str>) -> Option<TraceExemplar> {
    let id = TraceId::from_hex(trace_id?).ok()?;
    Some(TraceExemplar {
        trace_id: TraceIdLabel(id),
    })
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

/// Content types of the two renderings.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_are_counted_by_method_route_and_status_with_the_trace_as_exemplar() {
        let metrics = Metrics::new("order-service");
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        for method in [
            http::Method::POST,
            http::Method::POST,
            http::Method::from_bytes(b"PURGE").unwrap(),
        ] {
            metrics.http_request(HttpObservation {
                method: &method,
                endpoint: "/orders",
                status: 201,
                duration: Duration::from_millis(3),
                trace_id: Some(TraceId::from_hex(trace).unwrap()),
            });
        }
        metrics.order_created(7, 42.5, "USD", Some(trace.to_owned()));
        let text = metrics.render(true).unwrap();
        for want in [
            r#"http_requests_total{method="POST",endpoint="/orders",status_code="201",status_class="2xx"} 2"#,
            r#"http_requests_total{method="PURGE",endpoint="/orders",status_code="201",status_class="2xx"} 1"#,
            r#"http_request_duration_seconds_bucket{le="0.005",method="POST",endpoint="/orders",status_code="201",status_class="2xx"} 2 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.003"#,
            r#"order_amount_bucket{le="50.0",currency="USD",user_segment="basic"} 1 # {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 42.5"#,
        ] {
            assert!(text.contains(want), "no {want} in\n{text}");
        }
    }

    #[test]
    fn segments_follow_the_seed_rule() {
        let cases = [
            (10, "premium"),
            (21, "premium"),
            (2, "standard"),
            (15, "standard"),
            (6, "basic"),
            (99, "basic"),
        ];
        for (user, want) in cases {
            assert_eq!(UserSegment::of(user).as_str(), want, "user {user}");
        }
    }
}
