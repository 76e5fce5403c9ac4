//! A fault in the CLI's words (`latency=800ms rate=50% route=/products`), both ways: what
//! `tracemart chaos inject` and scenario files are read with, and how a fault is shown.

use std::fmt;
use std::time::Duration;

use super::{FaultKind, FaultSpec, FaultSpecError};

/// Every word a fault may be written with, for the error that names an unknown one.
const WORDS: &str = "latency=DURATION, jitter=DURATION, error=STATUS, hang, drop, \
                     db-latency=DURATION, decline, event-duplicate, event-delay=DURATION, \
                     event-loss, rate=PERCENT, route=PATH";

impl FaultSpec {
    /// Reads the CLI's words: one fault, then `rate=50%` (or `0.5`) and, for a request fault,
    /// `route=/products`, in any order. The faults: `latency=800ms` (with `jitter=200ms`),
    /// `error=503`, `hang`, `drop`, `db-latency=300ms` (with `jitter=`), `decline`,
    /// `event-duplicate`, `event-delay=2s`, `event-loss`.
    pub fn parse(words: &[String]) -> Result<Self, FaultSpecError> {
        let syntax = |m: String| FaultSpecError::Syntax(m);
        let mut kind = None;
        let (mut jitter_ms, mut rate, mut route) = (None, 1.0, None);
        for word in words {
            let (key, value) = word.split_once('=').unwrap_or((word.as_str(), ""));
            let set = |kind: &mut Option<FaultKind>, k: FaultKind| {
                if kind.replace(k).is_some() {
                    return Err(syntax(format!("more than one fault type in {words:?}")));
                }
                Ok(())
            };
            let ms = |value: &str| parse_duration(value).map(|d| d.as_millis() as u64);
            match key {
                "latency" => set(
                    &mut kind,
                    FaultKind::Latency {
                        latency_ms: ms(value)?,
                        jitter_ms: 0,
                    },
                )?,
                "db-latency" => set(
                    &mut kind,
                    FaultKind::DbLatency {
                        latency_ms: ms(value)?,
                        jitter_ms: 0,
                    },
                )?,
                "event-delay" => set(
                    &mut kind,
                    FaultKind::EventDelay {
                        delay_ms: ms(value)?,
                    },
                )?,
                "jitter" => jitter_ms = Some(ms(value)?),
                "error" => {
                    let status = value.parse().map_err(|_| {
                        syntax(format!("error=STATUS wants a number, got {value:?}"))
                    })?;
                    set(&mut kind, FaultKind::Error { status })?;
                }
                "hang" if value.is_empty() => set(&mut kind, FaultKind::Hang)?,
                "drop" if value.is_empty() => set(&mut kind, FaultKind::Drop)?,
                "decline" if value.is_empty() => set(&mut kind, FaultKind::Decline)?,
                "event-duplicate" if value.is_empty() => set(&mut kind, FaultKind::EventDuplicate)?,
                "event-loss" if value.is_empty() => set(&mut kind, FaultKind::EventLoss)?,
                "rate" => rate = share(value)?,
                "route" => route = Some(value.to_owned()),
                _ => {
                    return Err(syntax(format!("unknown word {word:?}: expected {WORDS}")));
                }
            }
        }
        let mut kind = kind.ok_or_else(|| {
            syntax(format!(
                "no fault type: give one of latency=DURATION, error=STATUS, hang, drop, \
                 db-latency=DURATION, decline, event-duplicate, event-delay=DURATION, event-loss \
                 (in {words:?})"
            ))
        })?;
        if let Some(j) = jitter_ms {
            match &mut kind {
                FaultKind::Latency { jitter_ms, .. } | FaultKind::DbLatency { jitter_ms, .. } => {
                    *jitter_ms = j
                }
                _ => return Err(syntax("jitter= goes with latency= or db-latency=".into())),
            }
        }
        let spec = Self { kind, rate, route };
        spec.validate()?;
        Ok(spec)
    }
}

/// The fault in the words [`FaultSpec::parse`] reads back.
impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn with_jitter(
            f: &mut fmt::Formatter<'_>,
            word: &str,
            ms: u64,
            jitter: u64,
        ) -> fmt::Result {
            write!(f, "{word}={ms}ms")?;
            if jitter > 0 {
                write!(f, " jitter={jitter}ms")?;
            }
            Ok(())
        }
        match self.kind {
            FaultKind::Latency {
                latency_ms,
                jitter_ms,
            } => with_jitter(f, "latency", latency_ms, jitter_ms)?,
            FaultKind::DbLatency {
                latency_ms,
                jitter_ms,
            } => with_jitter(f, "db-latency", latency_ms, jitter_ms)?,
            FaultKind::Error { status } => write!(f, "error={status}")?,
            FaultKind::EventDelay { delay_ms } => write!(f, "event-delay={delay_ms}ms")?,
            FaultKind::Hang => f.write_str("hang")?,
            FaultKind::Drop => f.write_str("drop")?,
            FaultKind::Decline => f.write_str("decline")?,
            FaultKind::EventDuplicate => f.write_str("event-duplicate")?,
            FaultKind::EventLoss => f.write_str("event-loss")?,
        }
        // Rounded: 0.3 * 100 is 30.000000000000004 in binary floating point.
        let percent = (self.rate * 100.0 * 1e6).round() / 1e6;
        write!(f, " rate={percent}%")?;
        if let Some(route) = &self.route {
            write!(f, " route={route}")?;
        }
        Ok(())
    }
}

/// `800ms`, `2s`, `1.5s`, `10m` or a bare number of milliseconds.
pub fn parse_duration(value: &str) -> Result<Duration, FaultSpecError> {
    let bad =
        || FaultSpecError::Syntax(format!("{value:?} is not a duration like 800ms, 2s or 10m"));
    let (number, scale) = if let Some(n) = value.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = value.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = value.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (value, 1.0)
    };
    let n: f64 = number.trim().parse().map_err(|_| bad())?;
    // Bounded so that the conversion below cannot overflow; a fault checks its own bound.
    if !(n.is_finite() && n >= 0.0 && n * scale < 1e12) {
        return Err(bad());
    }
    Ok(Duration::from_millis((n * scale).round() as u64))
}

/// `50%` or `0.5`.
fn share(value: &str) -> Result<f64, FaultSpecError> {
    let bad = || FaultSpecError::Syntax(format!("{value:?} is not a rate like 50% or 0.5"));
    match value.strip_suffix('%') {
        Some(p) => p
            .trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| bad()),
        None => value.trim().parse().map_err(|_| bad()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn the_cli_words_make_the_fault_they_name() {
        assert_eq!(
            FaultSpec::parse(&words("latency=800ms jitter=0.2s rate=50% route=/products")),
            Ok(FaultSpec {
                kind: FaultKind::Latency {
                    latency_ms: 800,
                    jitter_ms: 200
                },
                rate: 0.5,
                route: Some("/products".into()),
            })
        );
        let kinds = [
            ("error=503 rate=0.1", FaultKind::Error { status: 503 }),
            ("hang", FaultKind::Hang),
            (
                "db-latency=300ms jitter=50ms",
                FaultKind::DbLatency {
                    latency_ms: 300,
                    jitter_ms: 50,
                },
            ),
            ("decline rate=30%", FaultKind::Decline),
            ("event-duplicate", FaultKind::EventDuplicate),
            ("event-delay=2s", FaultKind::EventDelay { delay_ms: 2000 }),
            ("event-loss rate=10%", FaultKind::EventLoss),
        ];
        for (input, kind) in kinds {
            assert_eq!(FaultSpec::parse(&words(input)).map(|s| s.kind), Ok(kind));
        }
    }

    #[test]
    fn a_fault_reads_back_from_the_words_it_is_shown_in() {
        for input in [
            "latency=800ms jitter=200ms rate=50% route=/products",
            "error=503 rate=10%",
            "drop rate=100%",
            "db-latency=300ms rate=50%",
            "decline rate=30%",
            "event-delay=2000ms rate=100%",
            "event-loss rate=10%",
            "event-duplicate rate=20%",
        ] {
            let spec = FaultSpec::parse(&words(input)).unwrap();
            assert_eq!(spec.to_string(), input);
        }
    }

    #[test]
    fn bad_words_are_refused_with_what_is_wrong() {
        for (input, says) in [
            ("", "no fault type"),
            ("latency=fast", "not a duration"),
            ("error=200", "400 to 599"),
            ("drop rate=150%", "at most 100%"),
            ("hang rate=0", "above 0"),
            ("hang drop", "more than one"),
            ("error=500 jitter=5ms", "goes with latency"),
            ("latency=1s route=products", "starts with '/'"),
            ("decline route=/payments", "goes with request faults"),
            ("event-delay=20m", "at most 600 s"),
            ("db-latency=soon", "not a duration"),
            ("db-latency=700s", "at most 600 s"),
            ("explode", "unknown word"),
        ] {
            let err = FaultSpec::parse(&words(input)).unwrap_err().to_string();
            assert!(err.contains(says), "{input:?} gave {err:?}");
        }
    }
}
