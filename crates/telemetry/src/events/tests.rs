//! Each typed event leaves its span event, its metric and exactly one log line.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

use super::*;
use crate::metrics::{CircuitState, Metrics};
use crate::names::{attr, event};

/// The spans that ended.
#[derive(Debug, Clone, Default)]
struct Ended(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Ended {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The message of every log line.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Lines {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.0.lock().unwrap().push(message.0);
    }
}

/// A span event: its name and attributes (key, value as text).
type SpanEvent = (String, Vec<(String, String)>);

/// Runs `emit` inside a span; returns that span's events and the log lines.
fn recorded(emit: impl FnOnce()) -> (Vec<SpanEvent>, Vec<String>) {
    let ended = Ended::default();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(ended.clone())
        .build();
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry().with(lines.clone());
    let span = provider.tracer("test").start("step");
    let cx = Context::current_with_span(span);
    tracing::subscriber::with_default(subscriber, || {
        let _entered = cx.clone().attach();
        emit();
    });
    cx.span().end();
    let spans = ended.0.lock().unwrap();
    let events = spans[0]
        .events
        .iter()
        .map(|e| {
            let attrs = e.attributes.iter();
            let attrs = attrs.map(|kv| (kv.key.to_string(), kv.value.to_string()));
            (e.name.to_string(), attrs.collect())
        })
        .collect();
    let lines = lines.0.lock().unwrap().clone();
    (events, lines)
}

#[test]
fn a_circuit_that_opens_sets_its_gauge_marks_the_call_and_is_logged_once() {
    let metrics = Metrics::new("order-service");
    let (events, lines) = recorded(|| {
        CircuitStateChanged {
            metrics: &metrics,
            service: "inventory-service",
            state: CircuitState::Open,
        }
        .emit();
    });

    let opened = events
        .iter()
        .find(|(name, _)| name == event::CIRCUIT_OPENED);
    let target = (
        attr::resilience::TARGET_SERVICE.to_owned(),
        "inventory-service".to_owned(),
    );
    assert_eq!(opened.unwrap().1, [target], "{events:?}");
    assert_eq!(
        lines,
        ["Circuit breaker opened: calls are refused until a trial call succeeds"]
    );
    let text = metrics.render(false).unwrap();
    assert!(
        text.contains("circuit_breaker_state{target_service=\"inventory-service\"} 1"),
        "{text}"
    );
}

#[test]
fn a_failed_order_is_the_seeds_event_a_failed_span_a_failed_duration_and_one_line() {
    let metrics = Metrics::new("order-service");
    let (events, lines) = recorded(|| {
        OrderFailed {
            metrics: &metrics,
            user_id: 7,
            items_count: 2,
            error_type: "InsufficientStockError",
            error: &"Insufficient stock for product 3",
            unexpected: false,
            elapsed: Duration::from_millis(12),
        }
        .emit();
    });

    let failed = events.iter().find(|(name, _)| name == event::ORDER_FAILED);
    let expected = [
        (
            attr::error::MESSAGE.to_owned(),
            "Insufficient stock for product 3".to_owned(),
        ),
        (
            attr::error::TYPE.to_owned(),
            "InsufficientStockError".to_owned(),
        ),
    ];
    assert_eq!(failed.unwrap().1, expected, "{events:?}");
    assert!(
        events.iter().any(|(name, _)| name == "exception"),
        "{events:?}"
    );
    assert_eq!(lines, ["Order creation failed"]);
    let text = metrics.render(false).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("order_processing_duration_seconds_count")
                && l.contains("status=\"failed\"")
                && l.ends_with(" 1")),
        "{text}"
    );
}
