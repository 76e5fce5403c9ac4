//! What every log line written in a context carries besides its trace and span ids: the
//! request id and the order's baggage, read from the current OpenTelemetry context.

use opentelemetry::Context;
use opentelemetry::baggage::BaggageExt;

use crate::names::attr;
use crate::span::{ORDER_BAGGAGE, request_id};

/// Calls `field` with each context field `cx` carries, as (name, value).
pub(crate) fn context_fields(cx: &Context, mut field: impl FnMut(&'static str, &str)) {
    if let Some(id) = request_id(cx) {
        field(attr::request::ID, id);
    }
    // Most contexts carry no baggage: don't look it up entry by entry then.
    let bag = cx.baggage();
    if bag.is_empty() {
        return;
    }
    for key in ORDER_BAGGAGE {
        if let Some(value) = bag.get(key) {
            field(key, value.as_str());
        }
    }
}
