//! What the services announce to each other through their outboxes: topics and payloads.
//! The saga: order publishes `order.created`; payment decides and publishes
//! `payment.authorized` or `payment.declined`; order commits or releases the reservation and
//! confirms or cancels, publishing `order.cancelled` (payment voids an authorisation it made).

use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::values::{Money, cents, order_total};

/// Topic names.
pub mod topic {
    pub const ORDER_CREATED: &str = "order.created";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const PAYMENT_AUTHORIZED: &str = "payment.authorized";
    pub const PAYMENT_DECLINED: &str = "payment.declined";
}

/// `order.created`: an order was accepted and its stock is held until
/// `reservation_expires_at`. Its key is the order id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderCreated {
    /// The seed's field: always `order.created`.
    pub event_type: String,
    pub order_id: String,
    pub user_id: UserId,
    /// `total_amount` (the seed's field, in currency units) and `total_minor` (in cents) on
    /// the wire.
    #[serde(flatten, with = "order_total")]
    pub total: Money,
    pub currency: String,
    pub reservation_id: String,
    #[serde(default)]
    pub reservation_expires_at: Option<String>,
    pub created_at: String,
}

/// `order.cancelled`: the order will not be fulfilled; an authorisation made for it is voided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderCancelled {
    pub order_id: String,
    /// A short code: `payment_declined`, `payment_timeout`, `reservation_expired`.
    pub reason: String,
    pub cancelled_at: String,
}

/// `payment.authorized` and `payment.declined`: payment's decision on an order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaymentDecided {
    pub payment_id: String,
    pub order_id: String,
    pub user_id: UserId,
    /// In cents on the wire.
    #[serde(rename = "amount_minor", with = "cents")]
    pub amount: Money,
    pub currency: String,
    /// `authorized` or `declined`.
    pub status: String,
    /// Why it was declined.
    #[serde(default)]
    pub reason: Option<String>,
    pub decided_at: String,
}
