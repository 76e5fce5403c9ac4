//! Typed business events: one type per fact the shop records ("an order failed", "a circuit
//! opened"), after vector's `InternalEvent`. A fact leaves a span event, a metric and a log
//! line; its `emit` writes all of them, with the keys of [`crate::names`], so no call site
//! records one part and forgets another, or logs the fact a second time.

mod breaker;
mod call;
mod fault;
mod messaging;
mod order;
#[cfg(test)]
mod tests;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

pub use breaker::CircuitStateChanged;
pub use call::ExternalCallFailed;
pub use fault::FaultInjected;
pub use messaging::{Delivery, EventConsumed, EventDeadLettered, EventDeliveryFailed, Failure};
pub use order::{
    InventoryReserved, ItemCalculated, OrderCreated, OrderEventAppended, OrderFailed,
    OrderRecordWritten, ProductsValidated, UserValidated,
};

/// A business fact, recorded once.
pub trait BusinessEvent {
    /// Records the fact where it has a trace: its event on the current span (emit inside the
    /// span the fact belongs to), its metric, and exactly one log line; a fact without one of
    /// these (a step of the order flow has no metric) leaves it out.
    fn emit(self);
}

/// Adds the span event `name` to the current span.
fn span_event(name: &'static str, attributes: Vec<KeyValue>) {
    Context::map_current(|cx| cx.span().add_event(name, attributes));
}
