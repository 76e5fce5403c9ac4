//! The shop's value types: quantities and money, parsed once and carried typed (ids are in
//! `ids`). On the wire they keep the seed's shapes: quantities are JSON integers, amounts
//! decimal numbers of currency units (`168.36`).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, Mul};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A number of units: at least one. Upper bounds are each service's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    /// `n` units, if `n` is positive.
    pub fn new(n: i64) -> Option<Self> {
        (n > 0).then_some(Self(n))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl Add for Quantity {
    type Output = Self;

    /// Saturates instead of overflowing: every bound refuses such a sum anyway.
    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Deserialising checks the one rule, so a zero or negative quantity never gets past a body.
/// A whole float (`2.0`) is the integer it spells, as JSON Schema counts it.
impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = crate::ids::whole(d, "quantity")?;
        Self::new(n).ok_or_else(|| D::Error::custom(format!("quantity must be positive, not {n}")))
    }
}

impl PartialSchema for Quantity {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1))
            .maximum(Some(i64::MAX))
            .description(Some("A number of units: at least one."))
            .into()
    }
}

impl ToSchema for Quantity {}

/// An amount of the shop's one currency (USD), in minor units (cents), so that sums and
/// products are exact. On the wire it is the seed's decimal number of dollars (`168.36`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Cents beyond which an `f64` no longer holds every cent: amounts past it are refused.
const MAX_EXACT_MINOR: f64 = (1_u64 << 53) as f64;

/// Why a decimal number is not an amount.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MoneyError {
    NotFinite,
    OutOfRange(f64),
    /// More than two decimal places: not a whole number of cents.
    SubCent(f64),
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFinite => f.write_str("amount must be a finite number"),
            Self::OutOfRange(a) => write!(f, "amount {a} is out of range"),
            Self::SubCent(a) => write!(f, "amount {a} is not a whole number of cents"),
        }
    }
}

impl std::error::Error for MoneyError {}

impl Money {
    pub const ZERO: Self = Self(0);

    pub const fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    /// The amount in currency units, rounded to the nearest cent.
    pub fn from_decimal(amount: f64) -> Result<Self, MoneyError> {
        if !amount.is_finite() {
            return Err(MoneyError::NotFinite);
        }
        if (amount * 100.0).abs() > MAX_EXACT_MINOR {
            return Err(MoneyError::OutOfRange(amount));
        }
        Ok(Self(decimal_to_minor(amount)))
    }

    /// The amount in currency units, exactly: at most two decimal places, as the number was
    /// written (`12.34`, `0.5`; not `0.015`, nor `1e-300`, which no cent count spells). The
    /// digits are those of the shortest decimal that reads back as `amount`, the number a
    /// JSON writer put on the wire.
    pub fn from_exact_decimal(amount: f64) -> Result<Self, MoneyError> {
        let money = Self::from_decimal(amount)?;
        let written = format!("{amount}");
        match written.split_once('.') {
            Some((_, decimals)) if decimals.len() > 2 => Err(MoneyError::SubCent(amount)),
            _ => Ok(money),
        }
    }

    /// In currency units, for bodies and telemetry.
    pub fn to_decimal(self) -> f64 {
        minor_to_decimal(self.0)
    }
}

// Saturating, like `Quantity`: a total past i64::MAX cents is over every payment limit.
impl Add for Money {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }
}

impl Mul<Quantity> for Money {
    type Output = Self;

    fn mul(self, quantity: Quantity) -> Self {
        Self(self.0.saturating_mul(quantity.0))
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::ZERO, Add::add)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_decimal())
    }
}

/// Reads any JSON number, so the events stored with a float `total_amount` read back exactly.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::from_decimal(f64::deserialize(d)?).map_err(D::Error::custom)
    }
}

impl PartialSchema for Money {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
            .description(Some("US dollars, exact to the cent, e.g. `168.36`."))
            .into()
    }
}

impl ToSchema for Money {}

/// Money on the wire as an integer of cents (`amount_minor`, `total_minor`), for fields that
/// were written that way: `#[serde(with = "cents")]`.
pub mod cents {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Money;

    pub fn serialize<S: Serializer>(amount: &Money, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(amount.minor())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        i64::deserialize(d).map(Money::from_minor)
    }
}

/// An order's total as its events carry it: `total_amount` in currency units (the seed's
/// field) and `total_minor` in cents. One [`Money`] in the code, two fields on the wire:
/// `#[serde(flatten, with = "order_total")]`. Events written before `total_minor` existed
/// read from `total_amount`.
pub mod order_total {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Money;

    #[derive(Serialize, Deserialize)]
    struct Fields {
        total_amount: Money,
        #[serde(default, with = "option_cents")]
        total_minor: Option<Money>,
    }

    pub fn serialize<S: Serializer>(total: &Money, s: S) -> Result<S::Ok, S::Error> {
        Fields {
            total_amount: *total,
            total_minor: Some(*total),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let fields = Fields::deserialize(d)?;
        Ok(fields.total_minor.unwrap_or(fields.total_amount))
    }

    mod option_cents {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::Money;

        pub(super) fn serialize<S: Serializer>(
            amount: &Option<Money>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match amount {
                Some(a) => s.serialize_some(&a.minor()),
                None => s.serialize_none(),
            }
        }

        pub(super) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Money>, D::Error> {
            Option::<i64>::deserialize(d).map(|m| m.map(Money::from_minor))
        }
    }
}

/// Money is kept in minor units (cents) inside; this is the one conversion to the decimal
/// number of the JSON bodies.
pub fn minor_to_decimal(minor: i64) -> f64 {
    minor as f64 / 100.0
}

/// The inverse of [`minor_to_decimal`], rounding to the nearest cent.
pub fn decimal_to_minor(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ids::{ProductId, UserId};
    use serde_json::json;

    fn money(v: serde_json::Value) -> Result<Money, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn sums_of_decimal_amounts_are_exact() {
        let (a, b) = (money(json!(0.1)).unwrap(), money(json!(0.2)).unwrap());
        assert_eq!(a + b, Money::from_minor(30));
        assert_eq!(serde_json::to_string(&(a + b)).unwrap(), "0.3");
        assert_ne!(0.1 + 0.2, 0.3, "what floats would have said");

        let line = money(json!(84.18)).unwrap() * Quantity::new(3).unwrap();
        assert_eq!(line.minor(), 25254);
        assert_eq!(serde_json::to_string(&line).unwrap(), "252.54");
        let total: Money = [line, Money::from_minor(1), Money::ZERO].into_iter().sum();
        assert_eq!(total.minor(), 25255);
    }

    #[test]
    fn amounts_written_as_floats_read_back_to_the_cent() {
        for (written, cents) in [
            (json!(168.36), 16836),
            (json!(220.92), 22092),
            (json!(0.07), 7),
            (json!(19.99), 1999),
            (json!(100), 10000),
        ] {
            let m = money(written.clone()).unwrap();
            assert_eq!(m.minor(), cents, "{written}");
        }
        for cents in [0, 1, 29, 1999, 16836, 999_999_999, -250] {
            let m = Money::from_minor(cents);
            let wire = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<Money>(&wire).unwrap(), m, "{wire}");
        }
    }

    #[test]
    fn what_is_not_an_amount_is_refused_with_its_reason() {
        assert_eq!(Money::from_decimal(f64::NAN), Err(MoneyError::NotFinite));
        assert_eq!(
            Money::from_decimal(f64::INFINITY),
            Err(MoneyError::NotFinite)
        );
        assert_eq!(
            Money::from_decimal(1e300),
            Err(MoneyError::OutOfRange(1e300))
        );
        for (body, want) in [
            (json!("168.36"), "invalid type: string"),
            (json!(null), "invalid type: null"),
            (json!(1e14), "out of range"),
        ] {
            let err = money(body.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn an_exact_amount_has_at_most_two_decimal_places() {
        for (amount, cents) in [
            (12.34, 1234),
            (0.5, 50),
            (0.01, 1),
            (220.92, 22092),
            (1e13, 1e15 as i64),
        ] {
            assert_eq!(
                Money::from_exact_decimal(amount),
                Ok(Money::from_minor(cents)),
                "{amount}"
            );
        }
        for amount in [0.015, 1e-300, 0.5700000000000001, 19.999] {
            assert_eq!(
                Money::from_exact_decimal(amount),
                Err(MoneyError::SubCent(amount)),
                "{amount}"
            );
        }
        assert_eq!(
            Money::from_exact_decimal(f64::NAN),
            Err(MoneyError::NotFinite)
        );
    }

    #[test]
    fn quantities_are_positive_integers() {
        assert_eq!(
            serde_json::from_value::<Quantity>(json!(3)).unwrap().get(),
            3
        );
        for (body, want) in [
            (json!(0), "quantity must be positive, not 0"),
            (json!(-2), "quantity must be positive, not -2"),
            (json!(1.5), "must be an integer, not 1.5"),
            (json!("2"), "invalid type: string"),
        ] {
            let err = serde_json::from_value::<Quantity>(body.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
        assert_eq!(
            serde_json::from_value::<Quantity>(json!(2.0))
                .unwrap()
                .get(),
            2,
            "a whole float is the integer it spells"
        );
        let big = Quantity::new(i64::MAX).unwrap();
        assert_eq!((big + big).get(), i64::MAX);
    }

    #[test]
    fn ids_and_quantities_are_plain_integers_on_the_wire() {
        let line = json!({"product_id": 5, "quantity": 2});
        let item: crate::LineItem = serde_json::from_value(line.clone()).unwrap();
        assert_eq!(item.product_id, ProductId(5));
        assert_eq!(serde_json::to_value(item).unwrap(), line);
        assert_eq!(serde_json::to_string(&UserId(7)).unwrap(), "7");
    }

    #[test]
    fn an_order_total_writes_both_fields_and_reads_either() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Event {
            id: u8,
            #[serde(flatten, with = "order_total")]
            total: Money,
            currency: String,
        }
        let event = Event {
            id: 1,
            total: Money::from_minor(16836),
            currency: "USD".into(),
        };
        let wire = serde_json::to_string(&event).unwrap();
        assert_eq!(
            wire,
            r#"{"id":1,"total_amount":168.36,"total_minor":16836,"currency":"USD"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&wire).unwrap(), event);
        let legacy = r#"{"id":1,"total_amount":168.36,"currency":"USD"}"#;
        assert_eq!(serde_json::from_str::<Event>(legacy).unwrap(), event);
        let with_null = r#"{"id":1,"total_amount":168.36,"total_minor":null,"currency":"USD"}"#;
        assert_eq!(serde_json::from_str::<Event>(with_null).unwrap(), event);
    }
}
