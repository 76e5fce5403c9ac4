//! The currencies the shop takes: ISO 4217 codes, of which it supports one, `USD`. Prices,
//! orders and payments are all in US dollars; any other code, and anything that is not a
//! code at all (`usd`, `€`, `XXX`), is refused where a request names a currency.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// A currency the shop supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Currency {
    /// US dollars, the shop's one currency.
    #[default]
    Usd,
}

impl Currency {
    /// Every supported currency.
    pub const ALL: [Currency; 1] = [Currency::Usd];

    /// The ISO 4217 code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Usd => "USD",
        }
    }

    /// The currency of an ISO 4217 code, exactly as written (upper case): `None` for a code the
    /// shop does not take, or for text that is no code.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == raw)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&raw).ok_or_else(|| D::Error::custom(unsupported(&raw)))
    }
}

/// Why `raw` is not a currency the shop takes.
pub fn unsupported(raw: &str) -> String {
    let codes: Vec<&str> = Currency::ALL.iter().map(|c| c.code()).collect();
    format!(
        "currency must be one of {codes:?} (an ISO 4217 code the shop supports), not {:?}",
        raw.chars().take(16).collect::<String>()
    )
}

impl PartialSchema for Currency {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Currency::ALL.iter().map(|c| c.code())))
            .description(Some("An ISO 4217 code the shop supports: only `USD`."))
            .into()
    }
}

impl ToSchema for Currency {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_upper_case_code_of_a_supported_currency_is_one() {
        assert_eq!(Currency::parse("USD"), Some(Currency::Usd));
        for raw in ["€", "usd", "Usd", "XXX", "EUR", "US", "USDD", " USD", ""] {
            assert_eq!(Currency::parse(raw), None, "{raw:?}");
        }
        assert_eq!(serde_json::to_value(Currency::Usd).unwrap(), json!("USD"));
        let err = serde_json::from_value::<Currency>(json!("€"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("ISO 4217"), "{err}");
    }
}
