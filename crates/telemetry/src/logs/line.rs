//! One JSON log line assembled in reused buffers, byte for byte as the earlier
//! `serde_json::Map` version wrote it: keys in byte order (that map is a `BTreeMap`), the same
//! value encodings, and the line's own fields winning over an event's fields of the same name.

use std::cmp::Ordering;
use std::fmt::{self, Write};

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Who set a value: under one key the line's own fields win over the event's, and within
/// each source the value set last wins.
#[derive(Clone, Copy)]
pub(crate) enum Source {
    Event,
    Line,
}

struct Entry {
    key: &'static str,
    /// The value's JSON text in `Line::values`.
    start: usize,
    end: usize,
}

/// The fields of one line, each value already JSON-encoded, written out in key order.
pub(crate) struct Line {
    values: String,
    /// The line's own fields and the event's, kept apart so that each list is sorted on its
    /// own (the line's arrive almost in order) and the two are merged.
    own: Vec<Entry>,
    event: Vec<Entry>,
}

impl Line {
    pub(crate) const fn new() -> Self {
        Self {
            values: String::new(),
            own: Vec::new(),
            event: Vec::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.values.clear();
        self.own.clear();
        self.event.clear();
    }

    fn push(&mut self, key: &'static str, source: Source, write: impl FnOnce(&mut String)) {
        let start = self.values.len();
        write(&mut self.values);
        let entry = Entry {
            key,
            start,
            end: self.values.len(),
        };
        match source {
            Source::Line => self.own.push(entry),
            Source::Event => self.event.push(entry),
        }
    }

    pub(crate) fn str(&mut self, key: &'static str, source: Source, value: &str) {
        self.push(key, source, |out| quoted(out, value));
    }

    /// A value already encoded as JSON.
    pub(crate) fn raw(&mut self, key: &'static str, source: Source, json: &str) {
        self.push(key, source, |out| out.push_str(json));
    }

    /// A string value from `Display`/`Debug` formatting, escaped as it is written.
    pub(crate) fn fmt(&mut self, key: &'static str, source: Source, value: fmt::Arguments<'_>) {
        self.push(key, source, |out| {
            out.push('"');
            // Writing into a String cannot fail; a failing Display impl leaves what it wrote.
            let _ = Escaped(out).write_fmt(value);
            out.push('"');
        });
    }

    /// An error and its sources, `outer: inner: root`.
    pub(crate) fn error(
        &mut self,
        key: &'static str,
        source: Source,
        error: &(dyn std::error::Error + 'static),
    ) {
        self.push(key, source, |out| {
            out.push('"');
            let _ = write!(Escaped(out), "{error}");
            let mut next = error.source();
            while let Some(e) = next {
                let _ = write!(Escaped(out), ": {e}");
                next = e.source();
            }
            out.push('"');
        });
    }

    pub(crate) fn f64(&mut self, key: &'static str, source: Source, value: f64) {
        // serde_json's own float text; NaN and infinities have none and become null.
        self.push(key, source, |out| {
            match serde_json::Number::from_f64(value) {
                Some(n) => {
                    let _ = write!(out, "{n}");
                }
                None => out.push_str("null"),
            }
        });
    }

    pub(crate) fn i64(&mut self, key: &'static str, source: Source, value: i64) {
        self.push(key, source, |out| {
            let _ = write!(out, "{value}");
        });
    }

    pub(crate) fn u64(&mut self, key: &'static str, source: Source, value: u64) {
        self.push(key, source, |out| {
            let _ = write!(out, "{value}");
        });
    }

    pub(crate) fn bool(&mut self, key: &'static str, source: Source, value: bool) {
        self.raw(key, source, if value { "true" } else { "false" });
    }

    /// The current time as `2026-11-25T22:47:47.615681Z` (RFC 3339, microseconds, UTC).
    pub(crate) fn timestamp(&mut self, key: &'static str, source: Source, now: DateTime<Utc>) {
        self.push(key, source, |out| {
            out.push('"');
            rfc3339_micros(out, now);
            out.push('"');
        });
    }

    /// Writes `{"key":value,...}` (no newline) to `out`.
    pub(crate) fn write_to(&mut self, out: &mut String) {
        // Stable sorts: entries of one key keep the order they were set in.
        self.own.sort_by(|a, b| a.key.cmp(b.key));
        self.event.sort_by(|a, b| a.key.cmp(b.key));
        let (own, event) = (&self.own, &self.event);
        let (mut o, mut e) = (last_of_key(own, 0), last_of_key(event, 0));
        out.push('{');
        let mut first = true;
        loop {
            let (entry, next_o, next_e) = match (o, e) {
                (None, None) => break,
                (Some((i, next)), None) => (&own[i], Some(next), None),
                (None, Some((j, next))) => (&event[j], None, Some(next)),
                (Some((i, oi)), Some((j, ej))) => match own[i].key.cmp(event[j].key) {
                    Ordering::Less => (&own[i], Some(oi), None),
                    Ordering::Greater => (&event[j], None, Some(ej)),
                    // The line's own field wins; the event's is dropped.
                    Ordering::Equal => (&own[i], Some(oi), Some(ej)),
                },
            };
            if let Some(next) = next_o {
                o = last_of_key(own, next);
            }
            if let Some(next) = next_e {
                e = last_of_key(event, next);
            }
            if !first {
                out.push(',');
            }
            first = false;
            quoted(out, entry.key);
            out.push(':');
            out.push_str(&self.values[entry.start..entry.end]);
        }
        out.push('}');
    }
}

/// In a sorted list, from `from`: the index of the last entry with the next key, and where the
/// key after it starts.
fn last_of_key(list: &[Entry], from: usize) -> Option<(usize, usize)> {
    let key = list.get(from)?.key;
    let mut last = from;
    while list.get(last + 1).is_some_and(|n| n.key == key) {
        last += 1;
    }
    Some((last, last + 1))
}

/// `value` as a JSON string, escaped exactly as serde_json escapes it.
pub(crate) fn quoted(out: &mut String, value: &str) {
    out.push('"');
    escape(out, value);
    out.push('"');
}

fn escape(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    loop {
        // Most text needs no escaping: pass over it eight bytes at a time, the short tail
        // padded with a plain byte.
        while let Some(chunk) = bytes.get(i..i + 8)
            && !needs_escape(u64::from_le_bytes(chunk.try_into().unwrap_or_default()))
        {
            i += 8;
        }
        if bytes.len() - i < 8 {
            let mut tail = [b' '; 8];
            for (t, b) in tail.iter_mut().zip(&bytes[i..]) {
                *t = *b;
            }
            if !needs_escape(u64::from_le_bytes(tail)) {
                break;
            }
        }
        // This chunk has a byte to escape: go byte by byte until past it.
        let b = bytes[i];
        i += 1;
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `b` is ASCII, so it sits on char boundaries.
        out.push_str(&s[start..i - 1]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        } else {
            out.push_str(short);
        }
        start = i;
    }
    out.push_str(&s[start..]);
}

/// Whether any of the eight bytes is a control character, `"` or `\` (exact as a yes/no:
/// the borrow tricks below can only misplace a hit, never invent one).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word;
    let equal = |c: u8| {
        let x = word ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x
    };
    (below(0x20) | equal(b'"') | equal(b'\\')) & HIGH != 0
}

/// Escapes whatever is formatted through it, so `Display` output needs no temporary String.
struct Escaped<'a>(&'a mut String);

impl Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape(self.0, s);
        Ok(())
    }
}

/// As `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it, without its String.
fn rfc3339_micros(out: &mut String, t: DateTime<Utc>) {
    let year = t.year();
    if !(0..=9999).contains(&year) {
        out.push_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        return;
    }
    let mut nanos = t.nanosecond();
    let mut second = t.second();
    // chrono's leap-second representation, written as chrono writes it.
    if nanos >= 1_000_000_000 {
        second += 1;
        nanos -= 1_000_000_000;
    }
    let year = year.unsigned_abs();
    let micros = nanos / 1_000;
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut buf[0..4], year);
    digits(&mut buf[5..7], t.month());
    digits(&mut buf[8..10], t.day());
    digits(&mut buf[11..13], t.hour());
    digits(&mut buf[14..16], t.minute());
    digits(&mut buf[17..19], second);
    digits(&mut buf[20..26], micros);
    out.extend(buf.iter().map(|b| char::from(*b)));
}

/// Writes `value`'s last `slot.len()` decimal digits, zero-padded, into `slot`.
fn digits(slot: &mut [u8], mut value: u32) {
    for d in slot.iter_mut().rev() {
        // `value % 10` is below 10, so the cast cannot truncate.
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every ASCII character at every position of two 8-byte chunks and a tail.
        let mut cases: Vec<String> = (0u32..0x80)
            .filter_map(char::from_u32)
            .flat_map(|c| {
                (0..19).map(move |at| format!("{}{c}{}", "a".repeat(at), "b".repeat(18 - at)))
            })
            .collect();
        cases.extend(
            [
                "",
                "plain",
                "quote \" and \\ backslash",
                "주문 생성 실패",
                "tab\tnew\nline\r\u{7f}\u{1}",
                "emoji 🦀 end",
                "한국어 텍스트와 \"따옴표\" 그리고 \u{1f}",
                "0123456789abcdef0123456789abcdef\u{7}",
            ]
            .map(str::to_owned),
        );
        for s in cases {
            let mut out = String::new();
            quoted(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for v in [
            0.0,
            -0.0,
            0.1,
            1.0,
            1.5e-7,
            1e20,
            123.456,
            f64::NAN,
            f64::INFINITY,
        ] {
            let mut line = Line::new();
            line.f64("v", Source::Line, v);
            let mut out = String::new();
            line.write_to(&mut out);
            let want = serde_json::json!({ "v": v }).to_string();
            assert_eq!(out, want, "{v}");
        }
    }

    #[test]
    fn timestamps_match_chrono() {
        let cases = [
            Utc.with_ymd_and_hms(2026, 11, 25, 22, 47, 47).unwrap(),
            Utc.with_ymd_and_hms(1999, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(2000, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::microseconds(7),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc::now(),
        ];
        for t in cases {
            let mut out = String::new();
            rfc3339_micros(&mut out, t);
            assert_eq!(out, t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
        }
    }

    #[test]
    fn keys_are_sorted_and_the_lines_own_field_wins_over_the_events() {
        let mut line = Line::new();
        line.str("service", Source::Event, "from the event");
        line.str("zeta", Source::Event, "first");
        line.str("service", Source::Line, "order-service");
        line.str("request_id", Source::Line, "outer");
        line.str("request_id", Source::Line, "inner");
        line.str("zeta", Source::Event, "last");
        line.u64("lineno", Source::Line, 7);
        let mut out = String::new();
        line.write_to(&mut out);
        assert_eq!(
            out,
            r#"{"lineno":7,"request_id":"inner","service":"order-service","zeta":"last"}"#
        );
    }
}
