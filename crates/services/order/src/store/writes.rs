//! What a write of the order service puts in the database, worked out once for both engines:
//! the events a saga step appends and the row they lead to, the messages it sends, and
//! everything placing an order writes.

use serde::Serialize;
use tracemart_contracts::events::{self as messages, OrderCancelled, topic};
use tracemart_telemetry::Span;

use super::columns::{EventColumns, OrderColumns};
use crate::commands::{OrderCommand, expiry_id};
use crate::saga::Step;
use crate::stream::{Created, OrderEvent, OrderRow, apply};

/// The events `events` append after seq `last` to the order `row`, each at the time the
/// order stands at after it, and the row they lead to.
fn appended(
    row: OrderRow,
    last: i64,
    events: &[OrderEvent],
    cause: &str,
    trace_id: Option<&str>,
) -> (Vec<EventColumns>, OrderRow) {
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut current = row;
    let mut written = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        current = apply(Some(current.clone()), event, &at).unwrap_or(current);
        written.push(event_columns(
            &current,
            last + 1 + i as i64,
            event,
            cause,
            trace_id,
        ));
    }
    (written, current)
}

pub(super) fn event_columns(
    row: &OrderRow,
    seq: i64,
    event: &OrderEvent,
    cause: &str,
    trace_id: Option<&str>,
) -> EventColumns {
    let (kind, payload) = event.to_columns();
    EventColumns {
        event_id: uuid::Uuid::now_v7().to_string(),
        order_id: row.created.order_id.clone(),
        seq,
        kind,
        payload,
        created_at: row.updated_at.clone(),
        cause: Some(cause.to_owned()),
        trace_id: trace_id.map(str::to_owned),
    }
}

/// The payload of a message a saga step sends, serialised as itself.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Outgoing {
    Command(OrderCommand),
    Cancelled(OrderCancelled),
}

/// What recording a saga step writes, besides its inbox entry.
pub(super) struct StepWrites {
    /// Empty when the step changes nothing (then the row is not written either).
    pub(super) events: Vec<EventColumns>,
    pub(super) row: OrderRow,
    /// Topic and payload of each message.
    pub(super) messages: Vec<(&'static str, Outgoing)>,
    /// A final event: the order's expiry is cancelled.
    pub(super) finished: bool,
    pub(super) appended: Vec<OrderEvent>,
}

impl StepWrites {
    pub(super) fn of(
        row: OrderRow,
        last: i64,
        step: Step,
        cause: &str,
        trace_id: Option<&str>,
    ) -> Self {
        let finished = step.events.iter().any(OrderEvent::is_final);
        let (events, row) = appended(row, last, &step.events, cause, trace_id);
        let mut messages: Vec<_> = step
            .commands
            .into_iter()
            .map(|(topic, c)| (topic, Outgoing::Command(c)))
            .collect();
        if let Some(reason) = step.cancelled {
            messages.push((
                topic::ORDER_CANCELLED,
                Outgoing::Cancelled(OrderCancelled {
                    order_id: row.created.order_id.clone(),
                    reason: reason.as_str().to_owned(),
                    cancelled_at: row.status_changed_at.clone(),
                }),
            ));
        }
        Self {
            events,
            row,
            messages,
            finished,
            appended: step.events,
        }
    }

    pub(super) fn recorded(self) -> Recorded {
        Recorded::Settled {
            row: Box::new(self.row),
            finished: self.finished,
            events: self.appended,
        }
    }
}

/// What recording a message's step did.
pub(crate) enum Recorded {
    /// The message was handled before: nothing was written.
    Duplicate,
    /// No such order.
    NoOrder,
    /// The order as the step left it, whether the step ended the saga, and what it appended.
    Settled {
        row: Box<OrderRow>,
        finished: bool,
        events: Vec<OrderEvent>,
    },
}

/// Everything placing an order writes in its one transaction.
pub(crate) struct Placement<'a> {
    pub(crate) created: &'a Created,
    /// What made it: `POST /orders <request id>`.
    pub(crate) cause: String,
    pub(crate) trace_id: Option<String>,
    /// The span of the order's write.
    pub(crate) write_span: &'a Span,
    /// Starts the PRODUCER span of its `order.created` (once the order is written).
    pub(crate) publish_span: &'a (dyn Fn(&str) -> Span + Sync),
    /// When the order expires unless its payment is settled.
    pub(crate) expires_at: chrono::DateTime<chrono::Utc>,
    /// The idempotency key and the answer to keep under it.
    pub(crate) answer: Option<(&'a str, String)>,
}

impl Placement<'_> {
    pub(super) fn order_id(&self) -> &str {
        &self.created.order_id
    }

    /// Its `order.created` message.
    pub(super) fn message(&self) -> messages::OrderCreated {
        let c = self.created;
        messages::OrderCreated {
            event_type: topic::ORDER_CREATED.to_owned(),
            order_id: c.order_id.clone(),
            user_id: c.user_id,
            total: c.total,
            currency: c.currency.clone(),
            reservation_id: c.reservation_id.clone(),
            reservation_expires_at: c.reservation_expires_at.clone(),
            created_at: c.created_at.clone(),
        }
    }

    pub(super) fn expiry(&self) -> (String, OrderCommand) {
        let order_id = self.order_id();
        (
            expiry_id(order_id),
            OrderCommand {
                order_id: order_id.to_owned(),
                reason: None,
            },
        )
    }

    /// The order's first event (seq 1) and its row.
    pub(super) fn first(&self) -> (EventColumns, OrderColumns) {
        let row = OrderRow::new(self.created);
        let event = OrderEvent::OrderCreated(self.created.clone());
        (
            event_columns(&row, 1, &event, &self.cause, self.trace_id.as_deref()),
            OrderColumns::from(&row),
        )
    }
}
