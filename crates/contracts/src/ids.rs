//! The shop's identifiers, parsed once: users and products are positive integers, orders are
//! UUIDs. Each type refuses what it cannot be, so a value of it is always valid.
//!
//! A JSON integer may be written as a whole float (`7.0`): JSON Schema counts it as the same
//! integer, so every integer a body carries reads that spelling too.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A user, as the user service numbers them: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

/// A product, as the product service numbers them: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ProductId(pub i64);

macro_rules! positive_id {
    ($id:ident, $what:literal) => {
        impl $id {
            /// The id of a path segment or query value: a positive decimal integer.
            pub fn parse(raw: &str) -> Option<Self> {
                positive_decimal(raw).map(Self)
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl<'de> Deserialize<'de> for $id {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match whole(d, $what)? {
                    n if n > 0 => Ok(Self(n)),
                    n => Err(de::Error::custom(format!(
                        "{} must be a positive integer, not {n}",
                        $what
                    ))),
                }
            }
        }

        impl PartialSchema for $id {
            fn schema() -> RefOr<Schema> {
                positive_integer_schema(concat!("A ", $what, ": a positive integer."))
            }
        }

        impl ToSchema for $id {}
    };
}

positive_id!(UserId, "user id");
positive_id!(ProductId, "product id");

/// The schema of a positive `int64`, bounds stated so that generated values stay in range.
pub fn positive_integer_schema(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(i64::MAX))
        .description(Some(description))
        .into()
}

/// A positive decimal integer, digits only (`"7"`, `"07"`; not `"+7"`, `" 7"` or `"7.0"`).
fn positive_decimal(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<i64>().ok().filter(|n| *n > 0)
}

/// Reads a JSON integer, also when written as a whole float (`7.0`), into an `i64`.
pub fn whole<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<i64, D::Error> {
    d.deserialize_any(WholeVisitor(what))
}

/// `#[serde(default, deserialize_with = "ids::optional_whole")]` for an optional integer.
pub fn optional_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::<Whole>::deserialize(d).map(|w| w.map(|Whole(n)| n))
}

/// An integer as [`whole`] reads it.
struct Whole(i64);

impl<'de> Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        whole(d, "integer").map(Self)
    }
}

struct WholeVisitor(&'static str);

/// Floats from -2^63 up to (not including) 2^63 convert exactly when whole.
const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

impl Visitor<'_> for WholeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: an integer", self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range", self.0)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() != 0.0 || !v.is_finite() {
            return Err(E::custom(format!("{} must be an integer, not {v}", self.0)));
        }
        if !(-I64_BOUND..I64_BOUND).contains(&v) {
            return Err(E::custom(format!("{} {v} is out of range", self.0)));
        }
        Ok(v as i64)
    }
}

/// The whole number a JSON value holds (`7` or `7.0`), if it is one within `i64`.
pub fn whole_number(v: &serde_json::Value) -> Option<i64> {
    whole(v, "number").ok()
}

/// An order: a UUID, written hyphenated (`6ad81ef3-…`), as JSON Schema's `uuid` format has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(uuid::Uuid);

impl OrderId {
    /// A new order id: time-ordered (UUID v7).
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    /// The id written hyphenated (any case); the braced, URN and bare-hex forms are refused.
    pub fn parse(raw: &str) -> Option<Self> {
        if raw.len() != 36 {
            return None;
        }
        uuid::Uuid::try_parse(raw).ok().map(Self)
    }
}

impl Default for OrderId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl Serialize for OrderId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| de::Error::custom(format!("not an order id: {raw:?}")))
    }
}

impl PartialSchema for OrderId {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uuid".to_owned())))
            .description(Some("An order: a UUID, hyphenated."))
            .into()
    }
}

impl ToSchema for OrderId {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_are_positive_integers_also_written_as_whole_floats() {
        for (body, want) in [(json!(7), 7), (json!(7.0), 7), (json!(i64::MAX), i64::MAX)] {
            assert_eq!(
                serde_json::from_value::<UserId>(body).unwrap(),
                UserId(want)
            );
        }
        for (body, why) in [
            (json!(0), "positive"),
            (json!(-3), "positive"),
            (json!(1.5), "must be an integer"),
            (json!(1e19), "out of range"),
            (json!(u64::MAX), "out of range"),
            (json!("7"), "invalid type: string"),
        ] {
            let err = serde_json::from_value::<ProductId>(body.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }

    #[test]
    fn path_ids_are_plain_positive_decimals() {
        assert_eq!(UserId::parse("42"), Some(UserId(42)));
        for raw in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            " 1",
            "99999999999999999999",
        ] {
            assert_eq!(ProductId::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn order_ids_are_hyphenated_uuids() {
        let id = OrderId::new();
        let text = id.to_string();
        assert_eq!(OrderId::parse(&text), Some(id));
        assert_eq!(OrderId::parse(&text.to_uppercase()), Some(id));
        for raw in [
            "0",
            "123e4567e89b12d3a456426614174000",
            "{123e4567-e89b-12d3-a456-426614174000}",
            "urn:uuid:123e4567-e89b-12d3-a456-426614174000",
            "g23e4567-e89b-42d3-a456-426614174000",
        ] {
            assert_eq!(OrderId::parse(raw), None, "{raw}");
        }
        assert_eq!(serde_json::to_value(id).unwrap(), json!(text));
    }
}
