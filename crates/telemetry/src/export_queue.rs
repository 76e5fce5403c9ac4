//! A hard bound on spans waiting for export, with the spans dropped beyond it counted.
//!
//! The SDK's `BatchSpanProcessor` drops when its queue is full but keeps the count private, so
//! the bound is enforced here, one step before it: spans are counted in when they end and
//! counted out when the exporter has taken them. The processor's own queue is set to the same
//! size and can therefore never overflow behind our back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

/// Spans dropped because the export queue was full, since the process started.
static SPANS_DROPPED: AtomicU64 = AtomicU64::new(0);

/// How many spans this process dropped (exposed as `otel_spans_dropped_total`).
pub fn spans_dropped() -> u64 {
    SPANS_DROPPED.load(Ordering::Relaxed)
}

#[derive(Debug, Default)]
struct Pending(AtomicUsize);

/// Forwards ended spans to `inner` while fewer than `capacity` wait for export.
#[derive(Debug)]
pub(crate) struct BoundedQueue<P> {
    inner: P,
    pending: Arc<Pending>,
    capacity: usize,
}

/// Wraps the exporter so that exported (or failed) batches leave the queue.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    inner: E,
    pending: Arc<Pending>,
}

/// The two halves of one bounded queue.
pub(crate) fn bounded<E: SpanExporter>(
    exporter: E,
    capacity: usize,
) -> (CountingExporter<E>, QueueHandle) {
    let pending = Arc::new(Pending::default());
    (
        CountingExporter {
            inner: exporter,
            pending: pending.clone(),
        },
        QueueHandle { pending, capacity },
    )
}

/// What the processor half needs: builds [`BoundedQueue`] around the SDK's processor.
pub(crate) struct QueueHandle {
    pending: Arc<Pending>,
    capacity: usize,
}

impl QueueHandle {
    pub(crate) fn around<P: SpanProcessor>(self, inner: P) -> BoundedQueue<P> {
        BoundedQueue {
            inner,
            pending: self.pending,
            capacity: self.capacity,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for BoundedQueue<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        let admitted = self
            .pending
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok();
        if admitted {
            self.inner.on_end(span);
        } else {
            SPANS_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.pending.0.fetch_sub(
            n.min(self.pending.0.load(Ordering::Acquire)),
            Ordering::AcqRel,
        );
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};

    /// Counts what it is given to export.
    #[derive(Debug, Clone, Default)]
    struct Recording(Arc<AtomicUsize>);
    impl SpanExporter for Recording {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    /// Takes spans and never exports them: they stay pending, as behind a dead collector.
    #[derive(Debug)]
    struct NeverExports;
    impl SpanProcessor for NeverExports {
        fn on_start(&self, _span: &mut Span, _cx: &Context) {}
        fn on_end(&self, _span: SpanData) {}
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    #[test]
    fn spans_leave_the_queue_when_exported_and_beyond_the_bound_are_dropped_and_counted() {
        let recording = Recording::default();
        let (exporter, handle) = bounded(recording.clone(), 3);
        let flowing = SdkTracerProvider::builder()
            .with_span_processor(handle.around(SimpleSpanProcessor::new(exporter)))
            .build();
        let before = spans_dropped();
        for _ in 0..5 {
            flowing.tracer("t").start("s");
        }
        assert_eq!(
            recording.0.load(Ordering::SeqCst),
            5,
            "exported spans free their place"
        );
        assert_eq!(spans_dropped(), before);

        let (_exporter, handle) = bounded(Recording::default(), 3);
        let stuck = SdkTracerProvider::builder()
            .with_span_processor(handle.around(NeverExports))
            .build();
        for _ in 0..5 {
            stuck.tracer("t").start("s");
        }
        assert_eq!(spans_dropped() - before, 2, "3 admitted, 2 dropped");
    }
}
