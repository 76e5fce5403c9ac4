//! deploy/prometheus: promtool accepts the configurations and rules, the unit tests pass and
//! cover every alert both ways, and every alert tells the person it reaches what they need.

use std::collections::BTreeSet;
use std::process::Command;

use serde_yaml::Value;

use crate::tools::{assert_rejects, deploy, promtool, root, run_ok, yaml};

/// The unit test files of deploy/prometheus/tests.
const TEST_FILES: [&str; 2] = ["alerts_test.yml", "slow_burn_test.yml"];

/// Every alert rule in rules/alerts.yml, as YAML mappings.
pub fn alert_rules() -> Vec<Value> {
    let doc = yaml(&deploy("prometheus/rules/alerts.yml"));
    doc["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").clone())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn promtool_accepts_the_local_configuration_and_its_rules() {
    run_ok(
        Command::new(promtool())
            .arg("check")
            .arg("config")
            .arg(deploy("prometheus/prometheus.yml")),
    );
    run_ok(
        Command::new(promtool())
            .args(["check", "rules"])
            .arg(deploy("prometheus/rules/recording.yml"))
            .arg(deploy("prometheus/rules/alerts.yml")),
    );
}

#[test]
fn promtool_rejects_a_broken_rule_so_the_check_above_means_something() {
    assert_rejects(
        Command::new(promtool()).args(["check", "rules"]),
        "bad.yml",
        "groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(x[5m])\n",
    );
}

#[test]
fn the_alert_unit_tests_pass() {
    run_ok(
        Command::new(promtool())
            .args(["test", "rules"])
            .args(TEST_FILES.map(|f| deploy("prometheus/tests").join(f))),
    );
}

#[test]
fn every_alert_has_a_unit_test_where_it_fires_and_one_where_it_stays_quiet() {
    let mut fires = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    let files: Vec<Value> = TEST_FILES
        .iter()
        .map(|f| yaml(&deploy("prometheus/tests").join(f)))
        .collect();
    for t in files
        .iter()
        .flat_map(|f| f["tests"].as_sequence().expect("tests"))
    {
        for case in t["alert_rule_test"].as_sequence().into_iter().flatten() {
            let name = text(&case["alertname"]).to_owned();
            let expected = case["exp_alerts"].as_sequence().map_or(0, Vec::len);
            if expected > 0 {
                fires.insert(name);
            } else {
                quiet.insert(name);
            }
        }
    }
    for rule in alert_rules() {
        let name = text(&rule["alert"]);
        assert!(fires.contains(name), "no unit test makes {name} fire");
        assert!(quiet.contains(name), "no unit test keeps {name} quiet");
    }
}

/// GitHub's anchor for a Markdown heading.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_with_its_value_and_a_runbook_section() {
    let runbook = std::fs::read_to_string(root().join("docs/runbook.md")).expect("docs/runbook.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(anchor)
        .collect();
    for rule in alert_rules() {
        let name = text(&rule["alert"]);
        let severity = text(&rule["labels"]["severity"]);
        assert!(
            severity == "page" || severity == "ticket",
            "{name}: severity {severity:?}, not page or ticket"
        );
        assert!(
            !text(&rule["labels"]["category"]).is_empty(),
            "{name}: no category (Alertmanager's inhibitions use it)"
        );
        let a = &rule["annotations"];
        assert!(!text(&a["summary"]).is_empty(), "{name}: no summary");
        assert!(
            text(&a["description"]).contains("$value"),
            "{name}: the description does not say the value"
        );
        let url = text(&a["runbook_url"]);
        let section = url.strip_prefix("docs/runbook.md#").unwrap_or_else(|| {
            panic!("{name}: runbook_url {url:?} is not a docs/runbook.md section")
        });
        assert!(
            anchors.contains(section),
            "{name}: docs/runbook.md has no section #{section}"
        );
    }
}

/// Debian's Prometheus is built without Kubernetes service discovery, so its promtool refuses
/// `kubernetes_sd_configs`. Each such block is swapped for an empty static list and the rest
/// (relabelling regexes, rule files, alerting) is checked by promtool; the discovery blocks
/// themselves are checked here for what they must select.
#[test]
fn the_kubernetes_scrape_configuration_passes_promtool_apart_from_its_discovery() {
    let mut doc = yaml(&deploy("prometheus/kubernetes.yml"));
    let local = yaml(&deploy("prometheus/prometheus.yml"));
    assert_eq!(
        doc["rule_files"], local["rule_files"],
        "both configurations load the same rules"
    );
    let job = &doc["scrape_configs"][0];
    let sd = &job["kubernetes_sd_configs"][0];
    assert_eq!(text(&sd["role"]), "pod", "one target per pod");
    let relabels = serde_yaml::to_string(&job["relabel_configs"]).unwrap();
    assert!(
        relabels.contains("target_label: service"),
        "the rules select by a `service` label:\n{relabels}"
    );
    strip_kubernetes_sd(&mut doc);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for f in ["recording.yml", "alerts.yml"] {
        std::fs::copy(deploy("prometheus/rules").join(f), rules.join(f)).unwrap();
    }
    let path = dir.path().join("kubernetes.yml");
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
    run_ok(
        Command::new(promtool())
            .args(["check", "config"])
            .arg(&path),
    );
}

fn strip_kubernetes_sd(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            if m.remove("kubernetes_sd_configs").is_some() {
                m.insert("static_configs".into(), Value::Sequence(Vec::new()));
            }
            for (_, child) in m.iter_mut() {
                strip_kubernetes_sd(child);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(strip_kubernetes_sd),
        _ => {}
    }
}
