//! Pretty lines (`--log-format pretty`) with the context they were written in: the request id
//! and trace id in front of tracing-subscriber's compact line, which knows only `tracing`
//! spans and so would show neither.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::ids::trace_hex;
use crate::names::attr;
use crate::span::request_id;

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
            if let Some(id) = request_id(cx) {
                write!(writer, "{}={id} ", attr::request::ID)?;
            }
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                write!(writer, "trace_id={} ", trace_hex(sc.trace_id()).as_str())?;
            }
            Ok(())
        })?;
        self.0.format_event(ctx, writer, event)
    }
}
