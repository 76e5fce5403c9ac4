//! The commands the order service sends itself through its own outbox, so that every step of
//! the saga that calls inventory is durable, retried and dead-lettered like an event.

use serde::{Deserialize, Serialize};

/// Topics of the commands (delivered in process).
pub mod command {
    /// Payment authorised: sell the reserved stock, then confirm.
    pub const COMMIT_RESERVATION: &str = "order.commit_reservation";
    /// Payment declined: give the stock back, then cancel.
    pub const RELEASE_RESERVATION: &str = "order.release_reservation";
    /// Scheduled at the reservation's expiry: an order still unpaid is cancelled.
    pub const EXPIRE: &str = "order.expire";
    /// A reservation whose answer was lost, or whose order could not be written: no order
    /// holds it, so it is released.
    pub const RELEASE_ORPHAN: &str = "order.release_orphan_reservation";
}

/// The payload of a command about an order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct OrderCommand {
    pub(crate) order_id: String,
    /// Why (the payment's decline reason, for a release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

/// The payload of [`command::RELEASE_ORPHAN`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct OrphanReservation {
    pub(crate) reservation_id: String,
}

/// The id of an order's expiry message, so that settling the order can cancel it.
pub(crate) fn expiry_id(order_id: &str) -> String {
    format!("expire-{order_id}")
}
