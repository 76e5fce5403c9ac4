//! Span fields that every log line written inside that span carries (the request id and the
//! order's baggage), remembered per span for the JSON formatter.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Id, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::names::{attr, baggage};

/// Span fields that every log line written inside that span carries.
const CONTEXT_FIELDS: [&str; 3] = [
    attr::request::ID,
    baggage::ORDER_USER_ID,
    baggage::ORDER_CORRELATION_ID,
];

/// Remembers [`CONTEXT_FIELDS`] of each span so the formatter can add them to log lines.
pub(crate) struct ContextFieldsLayer;

/// A span's context fields: their text in one String, located by one slot per field, so a
/// span costs one allocation however many of them it carries.
#[derive(Default, Clone)]
pub(crate) struct ContextFields {
    text: String,
    slots: [Option<(usize, usize)>; CONTEXT_FIELDS.len()],
}

impl ContextFields {
    /// The fields that are set, as (name, value).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        CONTEXT_FIELDS
            .iter()
            .zip(&self.slots)
            .filter_map(|(name, slot)| slot.map(|(start, end)| (*name, &self.text[start..end])))
    }

    fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// Sets field `i` to what `write` appends (a replaced value's text is left unused).
    fn set(&mut self, i: usize, write: impl FnOnce(&mut String)) {
        // Room for a request id, a user id and a correlation id without growing.
        if self.text.capacity() == 0 {
            self.text.reserve(96);
        }
        let start = self.text.len();
        write(&mut self.text);
        self.slots[i] = Some((start, self.text.len()));
    }

    /// Takes over the fields `other` sets.
    fn merge(&mut self, other: &ContextFields) {
        for (i, slot) in other.slots.iter().enumerate() {
            if let Some((start, end)) = *slot {
                self.set(i, |t| t.push_str(&other.text[start..end]));
            }
        }
    }
}

struct ContextVisitor<'a>(&'a mut ContextFields);

fn context_field(field: &Field) -> Option<usize> {
    CONTEXT_FIELDS.iter().position(|n| *n == field.name())
}

impl Visit for ContextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(i) = context_field(field) {
            self.0.set(i, |t| t.push_str(value));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(i) = context_field(field) {
            self.0.set(i, |t| {
                let _ = write!(t, "{value:?}");
            });
        }
    }
}

impl<S> tracing_subscriber::Layer<S> for ContextFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = ContextFields::default();
        attrs.record(&mut ContextVisitor(&mut fields));
        if let (false, Some(span)) = (fields.is_empty(), ctx.span(id)) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        // Most records (status codes, durations) carry no context field: touch nothing then.
        let mut recorded = ContextFields::default();
        values.record(&mut ContextVisitor(&mut recorded));
        if recorded.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<ContextFields>() {
            Some(fields) => fields.merge(&recorded),
            None => ext.insert(recorded),
        }
    }
}
