//! Time as the messaging tables store it: microseconds since the Unix epoch for times the
//! relay compares, RFC 3339 for times people read.

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A stored microsecond time, for people.
pub(crate) fn from_micros(us: i64) -> String {
    DateTime::from_timestamp_micros(us).map_or_else(|| us.to_string(), rfc3339)
}
