//! Go-style durations (`"1.2ms"`, `"100ms"`, `"1s"`, `"2h45m"`) as Jaeger's query API and the
//! configuration write them.

use std::time::Duration;

/// Parses a sequence of `<number><unit>` terms; units: ns, us, µs, ms, s, m, h, d.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total_ns = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} has no unit"))?;
        let (num, tail) = rest.split_at(num_len);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return Err(format!("invalid unit {unit:?} in duration {text:?}")),
        };
        total_ns += value * scale;
        rest = tail;
    }
    if !total_ns.is_finite() || total_ns > u64::MAX as f64 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_nanos(total_ns as u64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_jaeger_durations() {
        let cases = [
            ("1.2ms", Duration::from_micros(1200)),
            ("100ms", Duration::from_millis(100)),
            ("1s", Duration::from_secs(1)),
            ("2h45m", Duration::from_secs(2 * 3600 + 45 * 60)),
            ("500us", Duration::from_micros(500)),
            ("30", Duration::from_secs(30)),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for text in ["", "abc", "10x", "ms", "1..2s"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
