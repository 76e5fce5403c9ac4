//! A call to another service got no answer, or was never sent.

use super::BusinessEvent;
use crate::metrics::Metrics;
use crate::names::attr::log;
use crate::span::Span;

/// A call to `service` failed without an answer: its CLIENT span marked failed, the call
/// counted, one log line. The log line belongs to the caller (the CLIENT span is not entered
/// for it), as the calls that succeed log nothing of their own.
pub struct ExternalCallFailed<'a> {
    pub metrics: &'a Metrics,
    /// The call's CLIENT span.
    pub span: &'a Span,
    pub service: &'static str,
    /// The route template called, e.g. `/users/{id}`.
    pub endpoint: &'static str,
    /// The exception type recorded on the span (`Timeout`, `CircuitOpen`, ...).
    pub error_type: &'static str,
    pub error: &'a dyn std::fmt::Display,
    /// Never sent (an open circuit, no free bulkhead slot): counted as `refused`.
    pub refused: bool,
}

impl BusinessEvent for ExternalCallFailed<'_> {
    fn emit(self) {
        if self.refused {
            self.metrics
                .external_call_refused(self.service, self.endpoint);
        } else {
            self.metrics.external_call(self.service, self.endpoint, 0);
        }
        self.span.record_error(self.error_type, self.error);
        tracing::error!({ log::SERVICE } = self.service, { log::ENDPOINT } = self.endpoint, { log::ERROR } = %self.error, "External API call failed");
    }
}
