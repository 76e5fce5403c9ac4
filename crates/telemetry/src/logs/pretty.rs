//! Pretty lines (`--log-format pretty`) with the context they were written in: the request id
//! and trace id in front of tracing-subscriber's compact line, which knows only `tracing`
//! spans and so would show neither.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::context::context_fields;
use crate::ids::trace_hex;
use crate::names::attr;

/// `inner`'s line, after the current context's `request_id=.. trace_id=..`.
pub(crate) struct WithContext<F>(pub(crate) F);

impl<S, N, F> FormatEvent<S, N> for WithContext<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        opentelemetry::Context::map_current(|cx| {
            let mut result = Ok(());
            context_fields(cx, |k, v| {
                if k == attr::request::ID {
                    result = result.and_then(|()| write!(writer, "{k}={v} "));
                }
            });
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                result = result.and_then(|()| {
                    write!(writer, "trace_id={} ", trace_hex(sc.trace_id()).as_str())
                });
            }
            result
        })?;
        self.0.format_event(ctx, writer, event)
    }
}
