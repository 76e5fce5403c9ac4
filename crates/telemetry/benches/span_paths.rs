//! CPU per span of three ways to make the shop's spans and hand them to export (issue 16).
//!
//! `cargo bench -p tracemart-telemetry --bench span_paths` runs every span shape with each path
//! in turn (3 rounds, 120,000 spans a run) in fresh child processes, since each path installs
//! process-wide state, and prints one line per run, then the medians:
//!
//! - `tracing`: the shop's former path. `tracing` spans through the tracing-opentelemetry
//!   layer (installed for the bench's thread), under the sampler and batch processor `init`
//!   installs.
//! - `sdk`: the shop's path since: [`tracemart_telemetry::Span`], the same provider's tracer
//!   used directly, each span carried in the OpenTelemetry `Context` its work runs in.
//! - `fastrace`: fastrace spans, turned into the SDK's `SpanData` by fastrace-opentelemetry's
//!   reporter on fastrace's collector thread.
//!
//! All three end in one exporter: our OTLP encoder, whose bytes are then dropped (no network).
//! It times its encoding, so that the export share shows apart from the making of spans.
//!
//! The shapes are the code's: `server` (`trace_http`'s SERVER span), `client` (the platform
//! client's CLIENT span), `step` (the order flow's `validate_products`: three attributes, one
//! set through the OpenTelemetry extension, and an event), `nested` (a server span with five
//! step spans inside). A span of the first three has a remote parent, as a server span gets
//! from `traceparent`. Each span is entered once (a future instrumented with it is polled at
//! least once) and has its ids read (for the response headers, or to inject them).
//!
//! Spans are made in bursts of 1,200, each exported before the next begins, as a service's
//! come and go; the CPU counted is the process's (every thread) from the first span to the last
//! export. Columns: `cpu` per span, `caller` the CPU of the thread making the spans, `encode`
//! our encoder's, `wall` the caller's while making spans (waits for export left out). One run
//! in this process: `span_paths run <path> <shape> [spans]`.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::time::{ClockId, clock_gettime};
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracemart_telemetry::bench::{
    ScopeGroups, TraceEncoder, init_exporting_spans_to, resource, tracer_provider,
};
use tracemart_telemetry::events::{BusinessEvent, ProductsValidated};
use tracemart_telemetry::names::{event, span as span_name};
use tracemart_telemetry::{Span, SpanStart, TelemetryConfig, TelemetryGuard, span_site};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

const ROUNDS: usize = 3;
const SPANS: u64 = 120_000;
const WARM_UP_SPANS: u64 = 6_000;
/// Spans made before they are all exported; fastrace's per-thread ring holds 3,413 roots.
const BURST: u64 = 1_200;
/// How often fastrace's collector reports when not pressed (its default is 1 s, which would
/// leave each burst waiting).
const REPORT_INTERVAL: Duration = Duration::from_millis(10);
const PATHS: [&str; 3] = ["tracing", "sdk", "fastrace"];
const SHAPES: [&str; 4] = ["server", "client", "step", "nested"];
const SERVICE: &str = "order-service";

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["run", path, shape] => run(path, shape, SPANS),
        ["run", path, shape, n] => run(path, shape, n.parse().expect("a span count")),
        _ => compare(),
    }
}

/// What one run measured, per span, in ns.
#[derive(Debug, Clone, Copy)]
struct Measured {
    cpu: u64,
    caller: u64,
    encode: u64,
    wall: u64,
}

/// Runs the paths alternately, shape by shape, round by round; prints the runs, then medians.
fn compare() {
    let exe = std::env::current_exe().unwrap();
    let mut runs: BTreeMap<(usize, usize), Vec<Measured>> = BTreeMap::new();
    println!("round path      shape    cpu ns  caller ns  encode ns  wall ns  (per span)");
    for round in 1..=ROUNDS {
        for (s, shape) in SHAPES.iter().enumerate() {
            for (p, path) in PATHS.iter().enumerate() {
                let out = Command::new(&exe)
                    .args(["run", path, shape])
                    .stdout(Stdio::null())
                    .output()
                    .unwrap();
                let report = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{path} {shape} failed: {report}");
                let m = parse(&report);
                println!(
                    "{round:>5} {path:<9} {shape:<7} {:>7} {:>10} {:>10} {:>8}",
                    m.cpu, m.caller, m.encode, m.wall
                );
                runs.entry((s, p)).or_default().push(m);
            }
        }
    }
    println!("\nmedian of {ROUNDS} rounds, us of CPU per span");
    println!("| shape | path | CPU | x tracing's | caller thread | other threads | encoding |");
    println!("|---|---|---|---|---|---|---|");
    for (s, shape) in SHAPES.iter().enumerate() {
        let median = |p: usize, f: fn(&Measured) -> u64| {
            let mut v: Vec<f64> = runs[&(s, p)].iter().map(|m| f(m) as f64).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2] / 1000.0
        };
        let today = median(0, |m| m.cpu);
        for (p, path) in PATHS.iter().enumerate() {
            let cpu = median(p, |m| m.cpu);
            let caller = median(p, |m| m.caller);
            println!(
                "| {shape} | {path} | {cpu:.2} | {:.2} | {caller:.2} | {:.2} | {:.2} |",
                cpu / today,
                median(p, |m| m.cpu - m.caller),
                median(p, |m| m.encode),
            );
        }
    }
}

fn parse(report: &str) -> Measured {
    let line = report.lines().last().unwrap_or_default();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert_eq!(v.len(), 4, "unexpected report {report:?}");
    Measured {
        cpu: v[0],
        caller: v[1],
        encode: v[2],
        wall: v[3],
    }
}

/// One path, one shape, in this process: reports `cpu caller encode wall` (ns per span).
fn run(path: &str, shape: &str, spans: u64) {
    let stats = Arc::new(ExportStats::default());
    // The defaults, as a service runs: JSON log lines (none is written here), parent-based
    // sampling of everything.
    let config = TelemetryConfig::new(SERVICE, "0.0.0");
    let guard = init_exporting_spans_to(&config, EncodeAndDiscard::new(&stats)).unwrap();
    // Only for the `tracing` path: its layer, for this thread.
    let mut _subscriber = None;
    let maker: Box<dyn SpanPath> = match path {
        "tracing" => {
            let tracer = tracer_provider(&guard).unwrap().tracer(SERVICE);
            _subscriber = Some(tracing::subscriber::set_default(
                tracing_subscriber::registry().with(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_tracked_inactivity(false)
                        .with_threads(false),
                ),
            ));
            Box::new(TracingPath)
        }
        "sdk" => Box::new(SdkPath),
        "fastrace" => {
            let reporter = fastrace_opentelemetry::OpenTelemetryReporter::new(
                EncodeAndDiscard::new(&stats),
                Cow::Owned(resource(&config)),
                InstrumentationScope::builder(SERVICE).build(),
            );
            fastrace::set_reporter(
                reporter,
                fastrace::collector::Config::default().report_interval(REPORT_INTERVAL),
            );
            Box::new(FastracePath)
        }
        other => panic!("path is tracing, sdk or fastrace, not {other}"),
    };
    let per_iteration = if shape == "nested" { 6 } else { 1 };
    let exported = || stats.spans.load(Ordering::Relaxed);
    let make = |iterations: u64| {
        make_in_bursts(&*maker, &guard, shape, iterations, per_iteration, &exported)
    };

    make(WARM_UP_SPANS / per_iteration);
    let exported_before = exported();
    let encode_before = stats.encode_nanos.load(Ordering::Relaxed);
    let (cpu, caller) = (process_cpu(), thread_cpu());
    let (made, wall) = make(spans / per_iteration);
    let (cpu, caller) = (process_cpu() - cpu, thread_cpu() - caller);
    assert_eq!(
        exported() - exported_before,
        made,
        "every span made must reach the exporter"
    );
    assert_eq!(tracemart_telemetry::spans_dropped(), 0);
    let encode = stats.encode_nanos.load(Ordering::Relaxed) - encode_before;
    let per_span = |d: Duration| d.as_nanos() as u64 / made;
    eprintln!(
        "{} {} {} {}",
        per_span(cpu),
        per_span(caller),
        encode / made,
        per_span(wall)
    );
}

/// Makes `iterations` spans (or trees) of `shape` in bursts of [`BURST`] spans, each exported
/// before the next, so that no path builds a backlog: one made faster than fastrace's collector
/// takes it grows a per-thread queue that then costs more than the spans. Returns the spans made
/// and the wall time spent making them (waits for export left out).
fn make_in_bursts(
    maker: &dyn SpanPath,
    guard: &TelemetryGuard,
    shape: &str,
    iterations: u64,
    per_iteration: u64,
    exported: &dyn Fn() -> u64,
) -> (u64, Duration) {
    let base = exported();
    let (mut made, mut making) = (0, Duration::ZERO);
    let mut next = 0;
    while next < iterations {
        let end = (next + BURST / per_iteration).min(iterations);
        let start = Instant::now();
        for i in next..end {
            match shape {
                "server" => maker.server(i),
                "client" => maker.client(Some(i)),
                "step" => maker.step(Some(i)),
                "nested" => maker.nested(i),
                other => panic!("shape is one of {SHAPES:?}, not {other}"),
            }
        }
        making += start.elapsed();
        made += (end - next) * per_iteration;
        next = end;
        maker.flush(guard, &|| exported() >= base + made);
    }
    (made, making)
}

/// CPU time of every thread of this process, ended ones included.
fn process_cpu() -> Duration {
    cpu_clock(ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread: unlike wall time, not stretched while other work has the
/// core.
fn thread_cpu() -> Duration {
    cpu_clock(ClockId::CLOCK_THREAD_CPUTIME_ID)
}

fn cpu_clock(clock: ClockId) -> Duration {
    Duration::from(clock_gettime(clock).unwrap())
}

/// Encodes every batch as our OTLP/HTTP exporter does, then drops the bytes.
#[derive(Debug)]
struct EncodeAndDiscard {
    encoder: TraceEncoder,
    buffers: Mutex<(ScopeGroups, Vec<u8>)>,
    stats: Arc<ExportStats>,
}

#[derive(Debug, Default)]
struct ExportStats {
    spans: AtomicU64,
    encode_nanos: AtomicU64,
}

impl EncodeAndDiscard {
    fn new(stats: &Arc<ExportStats>) -> Self {
        Self {
            encoder: TraceEncoder::default(),
            buffers: Mutex::default(),
            stats: stats.clone(),
        }
    }
}

impl SpanExporter for EncodeAndDiscard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut buffers = self.buffers.lock().unwrap();
        let (groups, body) = &mut *buffers;
        let start = thread_cpu();
        self.encoder.encode(&batch, groups, body);
        black_box(body.len());
        let nanos = (thread_cpu() - start).as_nanos() as u64;
        self.stats.encode_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.stats
            .spans
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.encoder = TraceEncoder::new(resource);
    }
}

// What the spans carry, as a product request and an order's call to the user service do.
const SERVER_NAME: &str = "GET /products/{id}";
const ROUTE: &str = "/products/{id}";
const REQUEST_ID: &str = "5fa3339a-90b1-4dd3-b595-68c368b203d5";
const CLIENT_ROUTE: &str = "/users/{id}";
const CLIENT_PATH: &str = "/users/7";
const CLIENT_URL: &str = "http://127.0.0.1:8081/users/7";
const PEER: &str = "user";
const PRODUCT_IDS: [i64; 3] = [11, 12, 13];

/// The request path of the `i`th request; ids cycle, as a product page's do.
fn path(i: u64) -> String {
    format!("/products/{}", i % 100)
}

fn trace_id(i: u64) -> u128 {
    u128::from(i) + 1
}

fn parent_id(i: u64) -> u64 {
    i + 1
}

/// The caller's span, as `traceparent` gives it.
fn remote_parent(i: u64) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(trace_id(i)),
        SpanId::from(parent_id(i)),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    ))
}

/// One way of making spans; `Some(i)` gives a span the `i`th remote parent, `None` makes it a
/// child of the current span.
trait SpanPath {
    fn server(&self, i: u64);
    fn client(&self, remote: Option<u64>);
    fn step(&self, remote: Option<u64>);
    fn nested(&self, i: u64);
    /// Returns once every span made so far is exported (`done` says when).
    fn flush(&self, guard: &TelemetryGuard, _done: &dyn Fn() -> bool) {
        guard.flush();
    }
}

/// Today's: `tracing` spans, as `trace_http`, the platform client and the order flow make them.
struct TracingPath;

impl TracingPath {
    fn server_span(i: u64) -> tracing::Span {
        let path = path(i);
        let span = tracing::info_span!(
            target: "tracemart::http",
            "http.server",
            otel.name = SERVER_NAME,
            otel.kind = "server",
            otel.status_code = Empty,
            http.request.method = "GET",
            http.route = ROUTE,
            url.path = path.as_str(),
            url.scheme = "http",
            http.method = "GET",
            http.target = path.as_str(),
            http.response.status_code = Empty,
            http.status_code = Empty,
            request_id = REQUEST_ID,
            order.user_id = Some("7"),
            order.correlation_id = Some(REQUEST_ID),
        );
        let _ = span.set_parent(remote_parent(i));
        black_box(span.context().span().span_context().span_id());
        span
    }

    fn with_status(span: tracing::Span, inside: impl FnOnce()) {
        span.in_scope(|| {
            inside();
            let current = tracing::Span::current();
            current.record("http.response.status_code", 200_u16);
            current.record("http.status_code", 200_u16);
        });
    }
}

impl SpanPath for TracingPath {
    fn server(&self, i: u64) {
        Self::with_status(Self::server_span(i), || {});
    }

    fn client(&self, remote: Option<u64>) {
        let span = tracing::info_span!(
            target: "tracemart::client",
            "http.client",
            otel.name = %format_args!("GET {CLIENT_ROUTE}"),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = "GET",
            http.method = "GET",
            url.full = CLIENT_URL,
            http.url = CLIENT_URL,
            http.target = CLIENT_PATH,
            http.route = CLIENT_ROUTE,
            server.address = Empty,
            peer.service = PEER,
            http.response.status_code = Empty,
            http.status_code = Empty,
            http.request.duration_ms = Empty,
            bulkhead.wait_ms = Empty,
            http.request.resend_count = Empty,
        );
        if let Some(i) = remote {
            let _ = span.set_parent(remote_parent(i));
        }
        black_box(span.context().span().span_context().span_id());
        span.in_scope(|| {});
        span.record("http.request.duration_ms", 1.25);
        span.record("http.response.status_code", 200_u16);
        span.record("http.status_code", 200_u16);
    }

    fn step(&self, remote: Option<u64>) {
        let span = tracing::info_span!(
            target: "tracemart::order",
            "validate_products",
            otel.name = span_name::VALIDATE_PRODUCTS,
            products.count = PRODUCT_IDS.len(),
            products.validated = Empty,
        );
        if let Some(i) = remote {
            let _ = span.set_parent(remote_parent(i));
        }
        span.set_attribute(
            "products.ids",
            Value::Array(Array::I64(PRODUCT_IDS.to_vec())),
        );
        span.in_scope(|| {
            tracing::Span::current().record("products.validated", PRODUCT_IDS.len());
        });
        // The order flow's own event, as it records it.
        span.in_scope(|| {
            ProductsValidated {
                count: PRODUCT_IDS.len(),
                total_value: 59.97,
            }
            .emit();
        });
    }

    fn nested(&self, i: u64) {
        Self::with_status(Self::server_span(i), || {
            for _ in 0..5 {
                self.step(None);
            }
        });
    }
}

/// The shop's [`Span`]: the SDK's tracer used directly; a span lives in the `Context` a future
/// would carry.
struct SdkPath;

impl SdkPath {
    fn server_span(i: u64) -> Span {
        let path = StringValue::from(Arc::<str>::from(path(i)));
        let span = Span::build(span_site!("tracemart::http"), SpanKind::Server, SERVER_NAME)
            .attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", ROUTE),
                KeyValue::new("url.path", path.clone()),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("http.method", "GET"),
                KeyValue::new("http.target", path),
                KeyValue::new("request_id", REQUEST_ID.to_owned()),
                KeyValue::new("order.user_id", "7".to_owned()),
                KeyValue::new("order.correlation_id", REQUEST_ID.to_owned()),
            ])
            .start_in(&remote_parent(i));
        black_box(span.ids());
        span
    }

    /// Entered once, as `Span::instrument` does on each poll; then ended.
    fn finish(span: Span, inside: impl FnOnce(), last: impl IntoIterator<Item = KeyValue>) {
        span.in_scope(inside);
        for kv in last {
            span.set_attribute(kv);
        }
    }

    fn status() -> [KeyValue; 2] {
        [
            KeyValue::new("http.response.status_code", 200_i64),
            KeyValue::new("http.status_code", 200_i64),
        ]
    }

    fn start(start: SpanStart, remote: Option<u64>) -> Span {
        match remote {
            Some(i) => start.start_in(&remote_parent(i)),
            None => start.start(),
        }
    }
}

impl SpanPath for SdkPath {
    fn server(&self, i: u64) {
        Self::finish(Self::server_span(i), || {}, Self::status());
    }

    fn client(&self, remote: Option<u64>) {
        let method = StringValue::from(Arc::<str>::from("GET"));
        let start = Span::build(
            span_site!("tracemart::client"),
            SpanKind::Client,
            format!("GET {CLIENT_ROUTE}"),
        )
        .attributes([
            KeyValue::new("http.request.method", method.clone()),
            KeyValue::new("http.method", method),
            KeyValue::new("url.full", CLIENT_URL.to_owned()),
            KeyValue::new("http.url", CLIENT_URL.to_owned()),
            KeyValue::new("http.target", CLIENT_PATH.to_owned()),
            KeyValue::new("http.route", CLIENT_ROUTE),
            KeyValue::new("peer.service", PEER),
        ]);
        let span = Self::start(start, remote);
        black_box(span.ids());
        let [status, old_status] = Self::status();
        let last = [
            KeyValue::new("http.request.duration_ms", 1.25),
            status,
            old_status,
        ];
        Self::finish(span, || {}, last);
    }

    fn step(&self, remote: Option<u64>) {
        let start = Span::internal(span_site!("tracemart::order"), span_name::VALIDATE_PRODUCTS)
            .attributes([
                KeyValue::new("products.count", PRODUCT_IDS.len() as i64),
                KeyValue::new(
                    "products.ids",
                    Value::Array(Array::I64(PRODUCT_IDS.to_vec())),
                ),
            ]);
        let span = Self::start(start, remote);
        // The order flow's own event, as it records it.
        span.in_scope(|| {
            ProductsValidated {
                count: PRODUCT_IDS.len(),
                total_value: 59.97,
            }
            .emit();
        });
        let validated = [KeyValue::new(
            "products.validated",
            PRODUCT_IDS.len() as i64,
        )];
        Self::finish(span, || {}, validated);
    }

    fn nested(&self, i: u64) {
        let span = Self::server_span(i);
        let inside = || {
            for _ in 0..5 {
                self.step(None);
            }
        };
        Self::finish(span, inside, Self::status());
    }
}

/// fastrace: properties are text only, so numbers are written out and the array as JSON; kind,
/// remote parent and status go in the properties its reporter reads.
struct FastracePath;

type Property = (&'static str, Cow<'static, str>);

impl FastracePath {
    fn remote(i: u64) -> fastrace::collector::SpanContext {
        fastrace::collector::SpanContext::new(
            fastrace::collector::TraceId(trace_id(i)),
            fastrace::collector::SpanId(parent_id(i)),
        )
    }

    /// A root with a remote parent, or a child of the local parent.
    fn start(name: impl Into<Cow<'static, str>>, remote: Option<u64>) -> fastrace::Span {
        match remote {
            Some(i) => fastrace::Span::root(name, Self::remote(i))
                .with_property(|| (fastrace_opentelemetry::SPAN_PARENT_SPAN_IS_REMOTE, "true")),
            None => fastrace::Span::enter_with_local_parent(name),
        }
    }

    fn server_span(i: u64) -> fastrace::Span {
        let path = path(i);
        let span = Self::start(SERVER_NAME, Some(i)).with_properties(|| -> [Property; 10] {
            [
                (fastrace_opentelemetry::SPAN_KIND, "server".into()),
                ("http.request.method", "GET".into()),
                ("http.route", ROUTE.into()),
                ("url.path", path.clone().into()),
                ("url.scheme", "http".into()),
                ("http.method", "GET".into()),
                ("http.target", path.into()),
                ("request_id", REQUEST_ID.to_owned().into()),
                ("order.user_id", "7".to_owned().into()),
                ("order.correlation_id", REQUEST_ID.to_owned().into()),
            ]
        });
        black_box(fastrace::collector::SpanContext::from_span(&span));
        span
    }

    /// Set as local parent once, as `in_span` does on each poll; then ended.
    fn finish(span: fastrace::Span, inside: impl FnOnce(), last: impl FnOnce() -> Vec<Property>) {
        {
            let _parent = span.set_local_parent();
            inside();
        }
        span.add_properties(last);
    }

    fn status() -> Vec<Property> {
        vec![
            ("http.response.status_code", 200_u16.to_string().into()),
            ("http.status_code", 200_u16.to_string().into()),
        ]
    }
}

impl SpanPath for FastracePath {
    fn server(&self, i: u64) {
        Self::finish(Self::server_span(i), || {}, Self::status);
    }

    fn client(&self, remote: Option<u64>) {
        let span = Self::start(format!("GET {CLIENT_ROUTE}"), remote).with_properties(
            || -> [Property; 8] {
                [
                    (fastrace_opentelemetry::SPAN_KIND, "client".into()),
                    ("http.request.method", "GET".into()),
                    ("http.method", "GET".into()),
                    ("url.full", CLIENT_URL.to_owned().into()),
                    ("http.url", CLIENT_URL.to_owned().into()),
                    ("http.target", CLIENT_PATH.to_owned().into()),
                    ("http.route", CLIENT_ROUTE.into()),
                    ("peer.service", PEER.into()),
                ]
            },
        );
        black_box(fastrace::collector::SpanContext::from_span(&span));
        Self::finish(
            span,
            || {},
            || {
                let mut last = Self::status();
                last.push(("http.request.duration_ms", 1.25_f64.to_string().into()));
                last
            },
        );
    }

    fn step(&self, remote: Option<u64>) {
        let span = Self::start(span_name::VALIDATE_PRODUCTS, remote).with_properties(
            || -> [Property; 2] {
                [
                    ("products.count", PRODUCT_IDS.len().to_string().into()),
                    ("products.ids", format!("{PRODUCT_IDS:?}").into()),
                ]
            },
        );
        span.add_event(
            fastrace::Event::new(event::PRODUCTS_VALIDATED).with_properties(|| -> [Property; 2] {
                [
                    ("products.count", PRODUCT_IDS.len().to_string().into()),
                    ("products.total_value", 59.97_f64.to_string().into()),
                ]
            }),
        );
        Self::finish(
            span,
            || {},
            || vec![("products.validated", PRODUCT_IDS.len().to_string().into())],
        );
    }

    fn nested(&self, i: u64) {
        let inside = || {
            for _ in 0..5 {
                self.step(None);
            }
        };
        Self::finish(Self::server_span(i), inside, Self::status);
    }

    /// Waits for the collector thread, which reports every [`REPORT_INTERVAL`], rather than
    /// calling `fastrace::flush`, which spawns a thread per call: a service never calls it.
    fn flush(&self, _guard: &TelemetryGuard, done: &dyn Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "fastrace's collector stopped");
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }
}
