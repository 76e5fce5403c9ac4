//! The inventory service's domain: a hold of stock parsed once from `POST /inventory/reserve`
//! (its lines merged and bounded, its duration, its id), reservation ids and product ids.

use std::collections::BTreeMap;

use tracemart_contracts::{LineItem, ProductId, Quantity, ReserveRequest};

use crate::error::InventoryError;

/// Most lines one reservation may have, before merging.
pub(crate) const MAX_ITEMS: usize = 100;
/// Most units of one line.
pub(crate) const MAX_QUANTITY: i64 = 1_000_000;
/// Longest hold, in minutes (a day).
pub(crate) const MAX_HOLD_MINUTES: i64 = 24 * 60;
/// Longest reservation id.
pub(crate) const MAX_RESERVATION_ID: usize = 64;

/// A valid reservation request: what to hold, for how long, under which id.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hold {
    /// Each product once (quantities of a repeated product added up), by product id.
    pub(crate) items: Vec<LineItem>,
    pub(crate) duration: chrono::Duration,
    pub(crate) id: ReservationId,
}

impl TryFrom<ReserveRequest> for Hold {
    type Error = InventoryError;

    fn try_from(req: ReserveRequest) -> Result<Self, InventoryError> {
        let items = merge(&req.items)?;
        let duration = duration(req.expires_in_seconds, req.expires_in_minutes)?;
        let id = match req.reservation_id {
            Some(raw) => ReservationId::parse(&raw).map_err(|_| {
                invalid(format!(
                    "reservation_id must be 1 to {MAX_RESERVATION_ID} letters, digits or '-'"
                ))
            })?,
            None => ReservationId::new(),
        };
        Ok(Self {
            items,
            duration,
            id,
        })
    }
}

/// Merges repeated product ids (quantities add up) and checks the bounds.
fn merge(items: &[LineItem]) -> Result<Vec<LineItem>, InventoryError> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(invalid(format!("items must hold 1 to {MAX_ITEMS} entries")));
    }
    let mut merged: BTreeMap<ProductId, Quantity> = BTreeMap::new();
    for &item in items {
        if item.quantity.get() > MAX_QUANTITY {
            return Err(invalid(format!(
                "each item needs a quantity from 1 to {MAX_QUANTITY}"
            )));
        }
        merged
            .entry(item.product_id)
            .and_modify(|q| *q = *q + item.quantity)
            .or_insert(item.quantity);
    }
    Ok(merged
        .into_iter()
        .map(|(product_id, quantity)| LineItem {
            product_id,
            quantity,
        })
        .collect())
}

/// How long the stock is held: `expires_in_seconds` (1 s to a day) if given, else
/// `expires_in_minutes` (1 to 1440). Each one given must be in range, even the one not used.
fn duration(
    seconds: Option<i64>,
    minutes: Option<i64>,
) -> Result<chrono::Duration, InventoryError> {
    let max_seconds = MAX_HOLD_MINUTES * 60;
    let refused = || {
        invalid(format!(
            "expires_in_seconds (1 to {max_seconds}) or expires_in_minutes (1 to {MAX_HOLD_MINUTES}) is required"
        ))
    };
    if seconds.is_some_and(|s| !(1..=max_seconds).contains(&s))
        || minutes.is_some_and(|m| !(1..=MAX_HOLD_MINUTES).contains(&m))
    {
        return Err(refused());
    }
    match (seconds, minutes) {
        (Some(s), _) => Ok(chrono::Duration::seconds(s)),
        (None, Some(m)) => Ok(chrono::Duration::minutes(m)),
        (None, None) => Err(refused()),
    }
}

/// A reservation's id: 1 to 64 letters, digits or `-` (the caller's, or a new UUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReservationId(String);

impl ReservationId {
    pub(crate) fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, InventoryError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_RESERVATION_ID
            && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InventoryError::InvalidReservationId(
                raw.chars().take(MAX_RESERVATION_ID).collect(),
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product id from a path: a positive integer, else 400.
pub(crate) fn parse_product_id(raw: &str) -> Result<ProductId, InventoryError> {
    ProductId::parse(raw).ok_or_else(|| InventoryError::InvalidId(raw.chars().take(64).collect()))
}

fn invalid(message: impl Into<String>) -> InventoryError {
    InventoryError::InvalidField(message.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn hold(body: serde_json::Value) -> Result<Hold, InventoryError> {
        Hold::try_from(serde_json::from_value::<ReserveRequest>(body).unwrap())
    }

    #[test]
    fn repeated_products_are_merged_and_seconds_win_over_minutes() {
        let h = hold(
            json!({"items": [{"product_id": 2, "quantity": 1}, {"product_id": 1, "quantity": 2},
            {"product_id": 2, "quantity": 3}], "expires_in_seconds": 30, "expires_in_minutes": 5,
            "reservation_id": "r-1"}),
        )
        .unwrap();
        let lines: Vec<(i64, i64)> = h
            .items
            .iter()
            .map(|l| (l.product_id.0, l.quantity.get()))
            .collect();
        assert_eq!(lines, [(1, 2), (2, 4)]);
        assert_eq!(h.duration, chrono::Duration::seconds(30));
        assert_eq!(h.id.as_str(), "r-1");
    }

    #[test]
    fn bad_holds_are_refused_with_their_reason() {
        let one = json!([{"product_id": 1, "quantity": 1}]);
        for (body, why) in [
            (json!({"items": [], "expires_in_minutes": 5}), "items"),
            (json!({"items": one, "expires_in_minutes": 0}), "expires_in"),
            (json!({"items": one}), "expires_in"),
            (
                json!({"items": one, "expires_in_seconds": 5, "expires_in_minutes": 0}),
                "expires_in",
            ),
            (
                json!({"items": [{"product_id": 1, "quantity": 1_000_001}], "expires_in_minutes": 5}),
                "quantity",
            ),
            (
                json!({"items": one, "expires_in_minutes": 5, "reservation_id": "a b"}),
                "reservation",
            ),
            (
                json!({"items": one, "expires_in_minutes": 5, "reservation_id": ""}),
                "reservation",
            ),
        ] {
            let err = hold(body.clone()).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
