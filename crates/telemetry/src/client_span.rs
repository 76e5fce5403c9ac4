//! CLIENT leaf spans made with the OpenTelemetry SDK directly: the same span a `tracing` span
//! becomes through tracing-opentelemetry, at a fraction of the CPU (see docs/benchmarks.md,
//! "Telemetry cost"). For spans that have no children and no log lines inside, so that nothing
//! needs them as the current `tracing` span.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use opentelemetry::trace::{Span as _, SpanKind, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SdkTracer, Span};

use crate::names::attr::code;
use crate::spans::{FailureRecord, mark_failed};

/// The tracer the `tracing` layer exports through, once `init` has installed it: the same
/// provider, sampler, resource and instrumentation scope. Unset with the SDK disabled.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Called by `init` once its subscriber is installed (at most once per process).
pub(crate) fn install(tracer: SdkTracer) {
    let _ = TRACER.set(tracer);
}

/// Where a span is made, written with [`span_site!`](crate::span_site): the `tracing` target
/// and code location the layer would have put on it.
#[derive(Debug, Clone, Copy)]
pub struct SpanSite {
    pub target: &'static str,
    pub module: &'static str,
    pub file: &'static str,
    pub line: u32,
}

/// The [`SpanSite`] of the line it is written on, under `target`.
#[macro_export]
macro_rules! span_site {
    ($target:expr) => {
        $crate::SpanSite {
            target: $target,
            module: ::std::module_path!(),
            file: ::std::file!(),
            line: ::std::line!(),
        }
    };
}

/// A started CLIENT span; it ends when dropped.
pub struct ClientSpan(Span);

impl ClientSpan {
    pub fn set_attribute(&mut self, attribute: KeyValue) {
        self.0.set_attribute(attribute);
    }

    /// Marks the span failed as [`record_error`](crate::record_error) marks a `tracing` span.
    pub fn record_error(&mut self, error_type: &'static str, error: &dyn fmt::Display) {
        mark_failed(&mut self.0, error_type, error);
    }
}

impl FailureRecord for Span {
    fn event(&mut self, name: &'static str, attributes: Vec<KeyValue>) {
        self.add_event(name, attributes);
    }
    fn attribute(&mut self, attribute: KeyValue) {
        self.set_attribute(attribute);
    }
    fn status(&mut self, status: opentelemetry::trace::Status) {
        self.set_status(status);
    }
}

/// Starts a CLIENT span named `name` as a child of the current OpenTelemetry context, which
/// tracing-opentelemetry keeps as the entered `tracing` span's (it activates a span's context
/// on enter): the parent a `tracing` span made here would get, so a child of an unsampled
/// parent is not sampled either. `None`, having built nothing, when the SDK is disabled.
pub fn start_client_span(
    site: &SpanSite,
    name: fmt::Arguments<'_>,
    attributes: impl IntoIterator<Item = KeyValue>,
) -> Option<ClientSpan> {
    let tracer = TRACER.get()?;
    let name: Cow<'static, str> = match name.as_str() {
        Some(name) => Cow::Borrowed(name),
        None => Cow::Owned(name.to_string()),
    };
    let location = [
        KeyValue::new(code::FILE_PATH, site.file),
        KeyValue::new(code::MODULE_NAME, site.module),
        KeyValue::new(code::LINE_NUMBER, i64::from(site.line)),
        KeyValue::new(code::TARGET, site.target),
    ];
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Client)
        .with_attributes(location.into_iter().chain(attributes))
        .start_with_context(tracer, &Context::current());
    Some(ClientSpan(span))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{
        SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SpanData, SpanExporter};

    use super::*;
    use crate::TelemetryConfig;

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Collect(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Collect {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn attr(span: &SpanData, key: &str) -> Option<opentelemetry::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    // One test: `init` installs the process's subscriber and tracer once.
    #[test]
    fn a_client_span_is_a_child_of_the_entered_span_and_follows_its_sampling() {
        let exported = Collect::default();
        let guard = crate::bench::init_exporting_spans_to(
            &TelemetryConfig::new("svc", "1"),
            exported.clone(),
        )
        .unwrap();
        static SITE: SpanSite = crate::span_site!("tracemart::test");

        let parent = tracing::info_span!(target: "tracemart::test", "parent");
        parent.in_scope(|| {
            let mut span = start_client_span(
                &SITE,
                format_args!("SELECT {}", "orders"),
                [KeyValue::new("db.system.name", "sqlite")],
            )
            .unwrap();
            span.set_attribute(KeyValue::new("db.duration_ms", 1.5));
            span.record_error("DatabaseError", &"disk I/O error");
        });
        drop(parent);

        let unsampled = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::default(),
            true,
            TraceState::default(),
        );
        {
            let _cx = Context::new().with_remote_span_context(unsampled).attach();
            drop(start_client_span(&SITE, format_args!("INSERT orders"), []));
        }
        guard.flush();

        let spans = exported.0.lock().unwrap().clone();
        assert_eq!(
            spans.len(),
            2,
            "the parent and the sampled child only: {spans:?}"
        );
        let parent = spans.iter().find(|s| s.name == "parent").unwrap();
        let child = spans.iter().find(|s| s.name == "SELECT orders").unwrap();
        assert_eq!(child.span_kind, SpanKind::Client);
        assert_eq!(child.parent_span_id, parent.span_context.span_id());
        assert_eq!(
            child.span_context.trace_id(),
            parent.span_context.trace_id()
        );
        assert_eq!(child.instrumentation_scope, parent.instrumentation_scope);
        assert_eq!(attr(child, "db.system.name"), Some("sqlite".into()));
        assert_eq!(attr(child, "db.duration_ms"), Some(1.5.into()));
        assert_eq!(attr(child, code::TARGET), Some("tracemart::test".into()));
        assert_eq!(attr(child, code::MODULE_NAME), Some(module_path!().into()));
        assert_eq!(attr(child, code::FILE_PATH), attr(parent, code::FILE_PATH));
        assert_eq!(attr(child, "error.type"), Some("DatabaseError".into()));
        assert_eq!(child.status, Status::error("disk I/O error"));
        assert_eq!(child.events.events[0].name, "exception");
    }
}
