//! The facts of the order flow: its steps (the seed's span events), and its outcome, which
//! also feeds the order metrics and writes the flow's one log line.

use std::time::Duration;

use opentelemetry::KeyValue;

use super::{BusinessEvent, span_event};
use crate::metrics::Metrics;
use crate::names::attr::{error, item, log, order, products, reservation, user};
use crate::names::event;
use crate::span::{Span, current_trace_id};

/// An order was written: counted with its amount, timed, and logged.
pub struct OrderCreated<'a> {
    pub metrics: &'a Metrics,
    pub order_id: &'a str,
    pub user_id: i64,
    pub total_amount: f64,
    pub currency: &'a str,
    pub items_count: usize,
    /// From the start of the request's `create_order` span.
    pub elapsed: Duration,
}

impl BusinessEvent for OrderCreated<'_> {
    fn emit(self) {
        let trace_id = current_trace_id();
        self.metrics.order_created(
            self.user_id,
            self.total_amount,
            self.currency,
            trace_id.clone(),
        );
        self.metrics
            .order_processed("success", self.elapsed, trace_id);
        tracing::info!(
            { log::ORDER_ID } = self.order_id,
            { log::USER_ID } = self.user_id,
            { log::TOTAL_AMOUNT } = self.total_amount,
            { log::ITEMS_COUNT } = self.items_count,
            "Order created successfully"
        );
    }
}

/// An order could not be created: the seed's failure event, the span marked failed, the
/// processing time counted as failed, and one log line.
pub struct OrderFailed<'a> {
    pub metrics: &'a Metrics,
    pub user_id: i64,
    pub items_count: usize,
    /// The exception type recorded on the span (`ValueError`, `DatabaseError`, ...).
    pub error_type: &'static str,
    pub error: &'a dyn std::fmt::Display,
    /// A fault of ours (the database), not of the request or a downstream service: an error
    /// line instead of a warning, since nothing else logs it.
    pub unexpected: bool,
    pub elapsed: Duration,
}

impl BusinessEvent for OrderFailed<'_> {
    fn emit(self) {
        span_event(
            event::ORDER_FAILED,
            vec![
                KeyValue::new(error::MESSAGE, self.error.to_string()),
                KeyValue::new(error::TYPE, self.error_type),
            ],
        );
        Span::current().record_error(self.error_type, self.error);
        self.metrics
            .order_processed("failed", self.elapsed, current_trace_id());
        if self.unexpected {
            tracing::error!({ log::USER_ID } = self.user_id, { log::ITEMS_COUNT } = self.items_count, { log::ERROR } = %self.error, { log::ERROR_TYPE } = self.error_type, "Order creation failed");
        } else {
            tracing::warn!({ log::USER_ID } = self.user_id, { log::ITEMS_COUNT } = self.items_count, { log::ERROR } = %self.error, { log::ERROR_TYPE } = self.error_type, "Order creation failed");
        }
    }
}

/// The user service knows the ordering user.
pub struct UserValidated<'a> {
    pub membership: &'a str,
}

impl BusinessEvent for UserValidated<'_> {
    fn emit(self) {
        span_event(
            event::USER_VALIDATED,
            vec![KeyValue::new(user::MEMBERSHIP, self.membership.to_owned())],
        );
    }
}

/// Every product of the order exists; `total_value` is the order priced at their prices.
pub struct ProductsValidated {
    pub count: usize,
    pub total_value: f64,
}

impl BusinessEvent for ProductsValidated {
    fn emit(self) {
        span_event(
            event::PRODUCTS_VALIDATED,
            vec![
                KeyValue::new(products::COUNT, self.count as i64),
                KeyValue::new(products::TOTAL_VALUE, self.total_value),
            ],
        );
    }
}

/// Inventory holds the order's stock until `expires_at`.
pub struct InventoryReserved<'a> {
    pub reservation_id: &'a str,
    pub expires_at: &'a str,
}

impl BusinessEvent for InventoryReserved<'_> {
    fn emit(self) {
        span_event(
            event::INVENTORY_RESERVED,
            vec![
                KeyValue::new(reservation::ID, self.reservation_id.to_owned()),
                KeyValue::new(reservation::EXPIRES_AT, self.expires_at.to_owned()),
            ],
        );
    }
}

/// One line of the order priced (the seed's `item_calculated`).
pub struct ItemCalculated {
    pub product_id: i64,
    pub quantity: i64,
    pub unit_price: f64,
    pub item_total: f64,
}

impl BusinessEvent for ItemCalculated {
    fn emit(self) {
        span_event(
            event::ITEM_CALCULATED,
            vec![
                KeyValue::new(item::PRODUCT_ID, self.product_id),
                KeyValue::new(item::QUANTITY, self.quantity),
                KeyValue::new(item::UNIT_PRICE, self.unit_price),
                KeyValue::new(item::ITEM_TOTAL, self.item_total),
            ],
        );
    }
}

/// The order's row and its messages were committed.
pub struct OrderRecordWritten<'a> {
    pub order_id: &'a str,
}

impl BusinessEvent for OrderRecordWritten<'_> {
    fn emit(self) {
        span_event(
            event::ORDER_RECORD_WRITTEN,
            vec![KeyValue::new(order::ID, self.order_id.to_owned())],
        );
    }
}

/// A saga step appended an event (`PaymentAuthorized`, ...) to the order's history.
pub struct OrderEventAppended<'a> {
    pub event_type: &'a str,
}

impl BusinessEvent for OrderEventAppended<'_> {
    fn emit(self) {
        span_event(
            event::ORDER_EVENT_APPENDED,
            vec![KeyValue::new(order::EVENT_TYPE, self.event_type.to_owned())],
        );
    }
}
