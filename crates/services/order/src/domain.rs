//! The order's domain types, parsed once from the request body: nothing past `api.rs` sees
//! raw JSON, a bare integer id or a float amount.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tracemart_contracts::ids::whole_number;
use tracemart_contracts::{Currency, LineItem, Money, OrderId, ProductId, Quantity, UserId};

use crate::error::OrderError;

/// Most lines an order may have (after merging duplicates, before too).
pub const MAX_ITEMS: usize = 100;
/// Most units of one product in one order.
pub const MAX_QUANTITY: i64 = 10_000;
/// Most characters (not bytes) of an address field, and most fields of an address.
pub(crate) const MAX_ADDRESS_FIELD: usize = 200;
pub(crate) const MAX_ADDRESS_FIELDS: usize = 20;

/// The shop's one currency.
pub const CURRENCY: &str = Currency::Usd.code();

/// A validated `POST /orders` body. Duplicate product ids are merged (quantities added), in
/// the order of their first appearance.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub user_id: UserId,
    pub items: Vec<LineItem>,
    pub shipping_address: ShippingAddress,
}

impl NewOrder {
    /// The request as an idempotency key remembers it: a retry must match it exactly.
    pub fn canonical(&self) -> String {
        serde_json::json!({
            "user_id": self.user_id, "items": self.items, "shipping_address": self.shipping_address,
        })
        .to_string()
    }
}

/// Where to ship: `city` and `country` (non-empty) and any other fields the client sent, all
/// strings. Kept sorted by field name, as orders have always been written and answered
/// (serde_json's `Map` without `preserve_order` is sorted too). Read back from the store as
/// written: the limits apply to requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShippingAddress(BTreeMap<String, String>);

impl TryFrom<Map<String, Value>> for ShippingAddress {
    type Error = OrderError;

    fn try_from(a: Map<String, Value>) -> Result<Self, OrderError> {
        if a.len() > MAX_ADDRESS_FIELDS {
            return Err(invalid(format!(
                "shipping_address may have at most {MAX_ADDRESS_FIELDS} fields"
            )));
        }
        for required in ["city", "country"] {
            match a.get(required).and_then(Value::as_str) {
                Some(v) if !v.trim().is_empty() => {}
                _ => {
                    return Err(invalid(format!(
                        "shipping_address.{required} is required (a non-empty string)"
                    )));
                }
            }
        }
        let mut fields = BTreeMap::new();
        for (k, v) in a {
            match v {
                Value::String(s) if s.chars().count() <= MAX_ADDRESS_FIELD => {
                    fields.insert(k, s);
                }
                Value::String(_) => {
                    return Err(invalid(format!(
                        "shipping_address.{k} is longer than {MAX_ADDRESS_FIELD} characters"
                    )));
                }
                _ => return Err(invalid(format!("shipping_address.{k} must be a string"))),
            }
        }
        Ok(Self(fields))
    }
}

/// One line of an order at the product service's price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PricedLine {
    pub(crate) item: LineItem,
    pub(crate) unit_price: Money,
    pub(crate) total: Money,
}

/// An order's lines priced, and their sum: computed once, when the prices arrive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Priced {
    pub(crate) lines: Vec<PricedLine>,
    pub(crate) total: Money,
}

impl Priced {
    /// Prices every line from `prices`, or names the products it has no price for.
    pub(crate) fn new(
        items: &[LineItem],
        prices: &HashMap<ProductId, Money>,
    ) -> Result<Self, OrderError> {
        let mut lines = Vec::with_capacity(items.len());
        let mut missing = Vec::new();
        for &item in items {
            match prices.get(&item.product_id) {
                Some(&unit_price) => lines.push(PricedLine {
                    item,
                    unit_price,
                    total: unit_price * item.quantity,
                }),
                None => missing.push(item.product_id),
            }
        }
        if !missing.is_empty() {
            return Err(OrderError::ProductsNotFound(missing));
        }
        let total = lines.iter().map(|l| l.total).sum();
        Ok(Self { lines, total })
    }
}

fn invalid(message: impl Into<String>) -> OrderError {
    OrderError::InvalidField(message.into())
}

/// A positive integer, also when written as a whole float (`2.0`), as JSON Schema counts it.
fn positive_int(v: &Value, what: &str) -> Result<i64, OrderError> {
    match whole_number(v) {
        Some(n) if n > 0 => Ok(n),
        _ if v.is_number() => Err(invalid(format!("{what} must be a positive integer"))),
        _ => Err(invalid(format!(
            "{what} must be a positive integer, not {}",
            type_name(v)
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl TryFrom<Value> for NewOrder {
    type Error = OrderError;

    fn try_from(body: Value) -> Result<Self, OrderError> {
        let Value::Object(mut obj) = body else {
            return Err(invalid("Request body must be a JSON object"));
        };
        for field in ["user_id", "items", "shipping_address"] {
            if !obj.contains_key(field) {
                return Err(OrderError::MissingField(field));
            }
        }
        let user_id = UserId(positive_int(&obj["user_id"], "user_id")?);

        let Some(raw_items) = obj["items"].as_array() else {
            return Err(invalid("Items must be a non-empty array"));
        };
        if raw_items.is_empty() {
            return Err(invalid("Items must be a non-empty array"));
        }
        if raw_items.len() > MAX_ITEMS {
            return Err(invalid(format!(
                "Items may hold at most {MAX_ITEMS} entries"
            )));
        }
        let mut items: Vec<LineItem> = Vec::new();
        for (i, item) in raw_items.iter().enumerate() {
            let Some(item) = item.as_object() else {
                return Err(invalid(format!(
                    "items[{i}] must be an object with product_id and quantity"
                )));
            };
            let product_id = item
                .get("product_id")
                .ok_or_else(|| invalid(format!("items[{i}].product_id is required")))
                .and_then(|v| positive_int(v, &format!("items[{i}].product_id")))
                .map(ProductId)?;
            let quantity = item
                .get("quantity")
                .ok_or_else(|| invalid(format!("items[{i}].quantity is required")))
                .and_then(|v| positive_int(v, &format!("items[{i}].quantity")))?;
            let Some(quantity) = Quantity::new(quantity).filter(|q| q.get() <= MAX_QUANTITY) else {
                return Err(invalid(format!(
                    "items[{i}].quantity must be at most {MAX_QUANTITY}"
                )));
            };
            match items.iter_mut().find(|l| l.product_id == product_id) {
                Some(line) => {
                    line.quantity = line.quantity + quantity;
                    if line.quantity.get() > MAX_QUANTITY {
                        return Err(invalid(format!(
                            "quantity of product {product_id} must be at most {MAX_QUANTITY}"
                        )));
                    }
                }
                None => items.push(LineItem {
                    product_id,
                    quantity,
                }),
            }
        }

        let shipping_address = match obj.remove("shipping_address") {
            Some(Value::Object(a)) => ShippingAddress::try_from(a)?,
            Some(other) => {
                return Err(invalid(format!(
                    "shipping_address must be an object, not {}",
                    type_name(&other)
                )));
            }
            None => return Err(OrderError::MissingField("shipping_address")),
        };
        Ok(Self {
            user_id,
            items,
            shipping_address,
        })
    }
}

/// An `Idempotency-Key` header: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

impl IdempotencyKey {
    pub fn parse(raw: &[u8]) -> Result<Self, OrderError> {
        let ok =
            !raw.is_empty() && raw.len() <= 255 && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        if ok {
            Ok(Self(String::from_utf8_lossy(raw).into_owned()))
        } else {
            Err(OrderError::BadIdempotencyKey)
        }
    }
}

/// An order id: a hyphenated UUID, else 400 (never a lookup with garbage).
pub fn parse_order_id(raw: &str) -> Result<OrderId, OrderError> {
    OrderId::parse(raw).ok_or_else(|| OrderError::InvalidOrderId(raw.chars().take(64).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn addr() -> Value {
        json!({"city": "Seoul", "country": "KR", "street": "1 Sejong-daero"})
    }

    #[test]
    fn duplicate_products_are_merged_in_first_seen_order() {
        let o = NewOrder::try_from(json!({"user_id": 3, "items": [
            {"product_id": 5, "quantity": 1}, {"product_id": 2, "quantity": 2}, {"product_id": 5, "quantity": 3}],
            "shipping_address": addr()})).unwrap();
        assert_eq!(o.items, vec![line(5, 4), line(2, 2)]);
    }

    fn line(product: i64, quantity: i64) -> LineItem {
        LineItem {
            product_id: ProductId(product),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    #[test]
    fn the_address_and_the_canonical_request_keep_their_json() {
        let body = json!({"user_id": 3, "items": [{"product_id": 5, "quantity": 1}],
            "shipping_address": {"street": "1 Sejong-daero", "city": "Seoul", "country": "KR"}});
        let o = NewOrder::try_from(body).unwrap();
        assert_eq!(
            serde_json::to_string(&o.shipping_address).unwrap(),
            r#"{"city":"Seoul","country":"KR","street":"1 Sejong-daero"}"#
        );
        assert_eq!(
            o.canonical(),
            r#"{"items":[{"product_id":5,"quantity":1}],"shipping_address":{"city":"Seoul","country":"KR","street":"1 Sejong-daero"},"user_id":3}"#
        );
    }

    #[test]
    fn an_order_is_priced_once_in_cents() {
        let prices = HashMap::from([
            (ProductId(1), Money::from_minor(8418)),
            (ProductId(3), Money::from_minor(10)),
        ]);
        let priced = Priced::new(&[line(1, 3), line(3, 2)], &prices).unwrap();
        assert_eq!(priced.lines[0].total, Money::from_minor(25254));
        assert_eq!(priced.total, Money::from_minor(25274));

        let err = Priced::new(&[line(4, 1), line(1, 1), line(9, 1)], &prices).unwrap_err();
        assert_eq!(err.to_string(), "Products not found: [4, 9]");
    }

    #[test]
    fn bad_bodies_are_rejected_with_their_reason() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({"items": [], "shipping_address": addr()}), "user_id"),
            (
                json!({"user_id": "7", "items": [{"product_id": 1, "quantity": 1}], "shipping_address": addr()}),
                "not a string",
            ),
            (
                json!({"user_id": 7, "items": [], "shipping_address": addr()}),
                "non-empty",
            ),
            (
                json!({"user_id": 7, "items": {"a": 1}, "shipping_address": addr()}),
                "non-empty",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 0}], "shipping_address": addr()}),
                "quantity",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": -2}], "shipping_address": addr()}),
                "quantity",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 1.5}], "shipping_address": addr()}),
                "quantity",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 1e12}], "shipping_address": addr()}),
                "quantity",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 1}], "shipping_address": "Seoul"}),
                "object",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 1}], "shipping_address": {"city": "Seoul"}}),
                "country",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 6000}, {"product_id": 1, "quantity": 6000}], "shipping_address": addr()}),
                "quantity of product 1 must be at most 10000",
            ),
            (
                json!({"user_id": 7, "items": [{"product_id": 1, "quantity": 1}], "shipping_address": {"city": "Seoul", "country": "KR", "floor": 3}}),
                "shipping_address.floor must be a string",
            ),
        ];
        for (body, want) in cases {
            let err = NewOrder::try_from(body.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn whole_floats_are_the_integers_they_spell() {
        let o = NewOrder::try_from(
            json!({"user_id": 7.0, "items": [{"product_id": 2.0, "quantity": 3.0}],
            "shipping_address": addr()}),
        )
        .unwrap();
        assert_eq!((o.user_id, o.items), (UserId(7), vec![line(2, 3)]));
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse(b"order-42").is_ok());
        assert!(IdempotencyKey::parse(b"").is_err());
        assert!(IdempotencyKey::parse(b"has space").is_err());
        assert!(IdempotencyKey::parse(&[b'a'; 256]).is_err());
    }
}
