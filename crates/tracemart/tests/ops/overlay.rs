//! The test overlay: the committed configuration, changed only where the end-to-end test must
//! be fast or must reach its local stand-ins. Prometheus's side is described in
//! deploy/prometheus/e2e/prometheus.yml; here are the transformations.
//!
//! - Rules: every range selector and every `for:` divided by [`TIME_SCALE`], so that the
//!   5-minute, 1-hour and 6-hour windows of the burn-rate alerts pass in seconds. Expressions,
//!   thresholds, labels and annotations are untouched.
//! - Alertmanager: PagerDuty's and Slack's URLs point at the local sink, the routing key and
//!   webhook files are the test's own, and the group timings are seconds instead of minutes.
//!   Routes, receivers, templates and inhibitions are untouched.

use std::path::Path;

use serde_yaml::Value;

use crate::tools::{deploy, yaml};

/// How much faster the rules' clock runs in the end-to-end test: 5m -> 5s, 1h -> 60s,
/// `for: 2m` -> 2s. Recovery is then seen within the longest short window (30m -> 30s).
pub const TIME_SCALE: u64 = 60;

/// The routing key the test's Alertmanager sends to PagerDuty (the sink).
pub const ROUTING_KEY: &str = "e2e-routing-key";

fn seconds(n: u64, unit: char) -> Option<u64> {
    Some(
        n * match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        },
    )
}

/// "5m" -> "5s" at scale 60; None if it is not a plain duration or does not divide evenly.
fn scaled(duration: &str, factor: u64) -> Option<String> {
    let unit = duration.chars().last()?;
    let n: u64 = duration[..duration.len() - 1].parse().ok()?;
    let s = seconds(n, unit)?;
    (s % factor == 0).then(|| format!("{}s", s / factor))
}

/// The rules file `text` with its time divided by `factor`; panics on a duration that would
/// not scale exactly, rather than testing different rules than the committed ones.
pub fn scale_rules(text: &str, factor: u64) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(d) = trimmed.strip_prefix("for: ") {
            let indent = &line[..line.len() - trimmed.len()];
            let s = scaled(d.trim(), factor).unwrap_or_else(|| panic!("cannot scale for: {d}"));
            out.push_str(&format!("{indent}for: {s}\n"));
            continue;
        }
        if trimmed.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            let Some(close) = rest[open..].find(']') else {
                break;
            };
            let inner = &rest[open + 1..open + close];
            out.push_str(&rest[..=open]);
            match scaled(inner, factor) {
                Some(s) => out.push_str(&s),
                // Not a range (a list in YAML): left alone.
                None if !inner.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    out.push_str(inner)
                }
                None => panic!("cannot scale the range [{inner}] by {factor}"),
            }
            out.push(']');
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// Writes the Prometheus overlay into `dir`: the e2e configuration, the scaled rules, the
/// targets (service name, port) and the Alertmanager to notify.
pub fn write_prometheus(dir: &Path, targets: &[(&str, u16)], alertmanager_port: u16) {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::copy(
        deploy("prometheus/e2e/prometheus.yml"),
        dir.join("prometheus.yml"),
    )
    .unwrap();
    for f in ["recording.yml", "alerts.yml"] {
        let text = std::fs::read_to_string(deploy("prometheus/rules").join(f)).unwrap();
        std::fs::write(dir.join("rules").join(f), scale_rules(&text, TIME_SCALE)).unwrap();
    }
    let targets: Vec<serde_json::Value> = targets
        .iter()
        .map(|(service, port)| {
            serde_json::json!({"targets": [format!("127.0.0.1:{port}")], "labels": {"service": service}})
        })
        .collect();
    std::fs::write(
        dir.join("targets.json"),
        serde_json::to_string(&targets).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("alertmanagers.json"),
        serde_json::json!([{"targets": [format!("127.0.0.1:{alertmanager_port}")]}]).to_string(),
    )
    .unwrap();
}

/// Writes the Alertmanager overlay into `dir` and returns its path.
pub fn write_alertmanager(dir: &Path, sink: &str) -> std::path::PathBuf {
    let mut doc = yaml(&deploy("alertmanager/alertmanager.yml"));
    let key_file = dir.join("pagerduty-routing-key");
    let hook_file = dir.join("slack-webhook-url");
    std::fs::write(&key_file, ROUTING_KEY).unwrap();
    std::fs::write(&hook_file, format!("{sink}/slack")).unwrap();
    doc["global"]["pagerduty_url"] = format!("{sink}/pagerduty/v2/enqueue").into();
    doc["templates"] = Value::Sequence(vec![
        deploy("alertmanager/templates/*.tmpl")
            .display()
            .to_string()
            .into(),
    ]);
    doc["route"]["group_wait"] = "1s".into();
    doc["route"]["group_interval"] = "1s".into();
    for receiver in doc["receivers"].as_sequence_mut().expect("receivers") {
        for pd in receiver["pagerduty_configs"]
            .as_sequence_mut()
            .into_iter()
            .flatten()
        {
            pd["routing_key_file"] = key_file.display().to_string().into();
        }
        for slack in receiver["slack_configs"]
            .as_sequence_mut()
            .into_iter()
            .flatten()
        {
            slack["api_url_file"] = hook_file.display().to_string().into();
        }
    }
    let path = dir.join("alertmanager.yml");
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    path
}

#[test]
fn the_overlay_divides_ranges_and_for_durations_and_nothing_else() {
    let rules = "      - alert: X\n        # over [5m]\n        expr: rate(a[5m]) / rate(b{le=\"0.5\"}[1h]) > (14.4 * 0.005)\n        for: 2m\n";
    assert_eq!(
        scale_rules(rules, 60),
        "      - alert: X\n        # over [5m]\n        expr: rate(a[5s]) / rate(b{le=\"0.5\"}[60s]) > (14.4 * 0.005)\n        for: 2s\n"
    );
}

#[test]
fn the_overlay_rules_and_configuration_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    write_prometheus(dir.path(), &[("order", 8080)], 9093);
    crate::tools::run_ok(
        std::process::Command::new(crate::tools::promtool())
            .args(["check", "config"])
            .arg(dir.path().join("prometheus.yml")),
    );
}
