//! A chaos scenario file: faults set and cleared on a timeline, for `tracemart chaos run`.
//! The whole file is read and checked before anything is played, and each mistake is named
//! with its line and field.
//!
//! ```toml
//! name = "inventory slows, then fails"   # optional
//! duration = "30s"                       # every fault the run set is cleared at its end
//!
//! [[step]]
//! at = "0s"
//! service = "inventory"
//! fault = "latency=800ms rate=50%"       # the words of `tracemart chaos inject`
//!
//! [[step]]
//! at = "20s"
//! clear = "inventory"                    # a service, or "all"
//! ```

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use tracemart_platform::ServiceName;
use tracemart_platform::faults::{FaultSpec, parse_duration};

/// A scenario, checked: its steps in time order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    pub name: Option<String>,
    pub duration: Duration,
    pub steps: Vec<Step>,
}

/// One step of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    pub at: Duration,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Sets a fault on a service.
    Inject {
        service: ServiceName,
        spec: FaultSpec,
    },
    /// Removes every fault of these services.
    Clear(Vec<ServiceName>),
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Option<String>,
    duration: Spanned<String>,
    #[serde(default)]
    step: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    at: Spanned<String>,
    service: Option<Spanned<String>>,
    fault: Option<Spanned<String>>,
    clear: Option<Spanned<String>>,
}

/// Reads and checks the scenario at `path`; the error names the file, line and field.
pub(crate) fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// Checks a scenario's text; an error starts with its line number (`7: step 2: fault: ...`).
pub(crate) fn parse(text: &str) -> Result<Scenario, String> {
    let line = |span: Range<usize>| 1 + text[..span.start.min(text.len())].matches('\n').count();
    let file: File = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(1, line);
        format!("{at}: {}", e.message())
    })?;
    let duration = parse_duration(file.duration.get_ref())
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            format!(
                "{}: duration: {:?} is not a duration above zero, like 30s",
                line(file.duration.span()),
                file.duration.get_ref()
            )
        })?;
    if file.step.is_empty() {
        return Err("1: no [[step]]: a scenario sets or clears at least one fault".to_owned());
    }
    let mut steps = Vec::with_capacity(file.step.len());
    for (n, raw) in file.step.iter().enumerate() {
        let raw_step = raw.get_ref();
        let bad = |span: Range<usize>, field: &str, why: String| {
            format!("{}: step {}: {field}: {why}", line(span), n + 1)
        };
        let at = parse_duration(raw_step.at.get_ref())
            .map_err(|e| bad(raw_step.at.span(), "at", e.to_string()))?;
        if at > duration {
            return Err(bad(
                raw_step.at.span(),
                "at",
                format!("{at:?} is after the scenario's end ({duration:?})"),
            ));
        }
        let service = |s: &Spanned<String>| {
            ServiceName::parse(s.get_ref()).ok_or_else(|| {
                bad(
                    s.span(),
                    "service",
                    format!(
                        "{:?} is not a service (order, user, product, inventory, payment)",
                        s.get_ref()
                    ),
                )
            })
        };
        let action = match (&raw_step.service, &raw_step.fault, &raw_step.clear) {
            (Some(name), Some(fault), None) => {
                let service = service(name)?;
                let words: Vec<String> = fault
                    .get_ref()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                let spec = FaultSpec::parse(&words)
                    .and_then(|spec| spec.validate_for(service).map(|()| spec))
                    .map_err(|e| bad(fault.span(), "fault", e.to_string()))?;
                Action::Inject { service, spec }
            }
            (None, None, Some(clear)) if clear.get_ref() == "all" => {
                Action::Clear(ServiceName::ALL.to_vec())
            }
            (None, None, Some(clear)) => Action::Clear(vec![service(clear)?]),
            _ => {
                return Err(bad(
                    raw.span(),
                    "step",
                    "give either service and fault, or clear (a service or \"all\")".to_owned(),
                ));
            }
        };
        steps.push(Step { at, action });
    }
    // Stable: steps at the same time keep the file's order.
    steps.sort_by_key(|s| s.at);
    Ok(Scenario {
        name: file.name,
        duration,
        steps,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_example_scenarios_are_valid() {
        for text in [
            include_str!("../../../examples/chaos/inventory-slow-then-failing.toml"),
            include_str!("../../../examples/chaos/saga-under-fire.toml"),
        ] {
            let scenario = parse(text).unwrap();
            assert!(!scenario.steps.is_empty());
        }
    }

    #[test]
    fn a_scenario_is_its_steps_in_time_order() {
        let scenario = parse(
            r#"
duration = "5s"
[[step]]
at = "2s"
clear = "all"
[[step]]
at = "0s"
service = "payment"
fault = "decline rate=30%"
"#,
        )
        .unwrap();
        assert_eq!(scenario.duration, Duration::from_secs(5));
        assert_eq!(scenario.steps[0].at, Duration::ZERO);
        assert!(matches!(
            &scenario.steps[0].action,
            Action::Inject { service: ServiceName::Payment, spec } if spec.rate == 0.3
        ));
        assert_eq!(
            scenario.steps[1].action,
            Action::Clear(ServiceName::ALL.to_vec())
        );
    }

    #[test]
    fn each_mistake_is_named_with_its_line_and_field() {
        let step = |body: &str| format!("duration = \"10s\"\n[[step]]\n{body}\n");
        let cases: Vec<(String, &str)> = vec![
            (
                "duration = \"soon\"\n[[step]]\nat = \"0s\"\nclear = \"all\"".to_owned(),
                "1: duration:",
            ),
            ("duration = \"10s\"\n".to_owned(), "no [[step]]"),
            (
                "duration = \"10s\"\nspeed = 3\n".to_owned(),
                "2: unknown field `speed`",
            ),
            (step("at = \"later\"\nclear = \"all\""), "3: step 1: at:"),
            (
                step("at = \"11s\"\nclear = \"all\""),
                "after the scenario's end",
            ),
            (
                step("at = \"1s\"\nservice = \"shipping\"\nfault = \"hang\""),
                "4: step 1: service: \"shipping\" is not a service",
            ),
            (
                step("at = \"1s\"\nservice = \"inventory\"\nfault = \"latency=fast\""),
                "5: step 1: fault:",
            ),
            (
                step("at = \"1s\"\nservice = \"inventory\"\nfault = \"decline\""),
                "payment service only",
            ),
            (
                step("at = \"1s\"\nservice = \"inventory\""),
                "step 1: step: give either",
            ),
        ];
        for (text, says) in cases {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(says), "{text:?} gave {err:?}");
        }
    }
}
