//! What every log line written in a context carries besides its trace and span ids: the
//! request id and the order's baggage, read from the current OpenTelemetry context.

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;

use crate::names::{attr, baggage};
use crate::span::RequestId;

/// Baggage entries a log line shows as fields of its own.
const BAGGAGE_FIELDS: [&str; 2] = [baggage::ORDER_USER_ID, baggage::ORDER_CORRELATION_ID];

/// Calls `field` with each context field `cx` carries, as (name, value).
pub(crate) fn context_fields(cx: &Context, mut field: impl FnMut(&'static str, &str)) {
    if let Some(id) = cx.get::<RequestId>().and_then(|id| id.0.to_str().ok()) {
        field(attr::request::ID, id);
    }
    // Most contexts carry no baggage: don't look it up entry by entry then.
    let bag = cx.baggage();
    if bag.is_empty() {
        return;
    }
    for key in BAGGAGE_FIELDS {
        if let Some(value) = bag.get(key) {
            field(key, value.as_str());
        }
    }
}
