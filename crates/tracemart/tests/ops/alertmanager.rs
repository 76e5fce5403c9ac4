//! deploy/alertmanager: amtool accepts the configuration, pages reach PagerDuty (and Slack),
//! tickets reach Slack only, and no secret is written in the file.

use std::process::Command;

use crate::tools::{amtool, assert_rejects, deploy, run_ok, yaml};

fn config() -> std::path::PathBuf {
    deploy("alertmanager/alertmanager.yml")
}

#[test]
fn amtool_accepts_the_configuration() {
    run_ok(Command::new(amtool()).arg("check-config").arg(config()));
}

#[test]
fn amtool_rejects_a_route_to_a_missing_receiver_so_the_check_above_means_something() {
    assert_rejects(
        Command::new(amtool()).arg("check-config"),
        "bad.yml",
        "route:\n  receiver: nobody\nreceivers:\n  - name: slack\n",
    );
}

/// `amtool config routes test` exits non-zero when the receivers differ from the expected.
fn assert_routes(labels: &[&str], receivers: &str) {
    run_ok(
        Command::new(amtool())
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", config().display()))
            .arg(format!("--verify.receivers={receivers}"))
            .args(labels),
    );
}

#[test]
fn pages_go_to_pagerduty_and_slack_and_everything_else_to_slack() {
    assert_routes(
        &[
            "alertname=TracemartServiceDown",
            "severity=page",
            "service=inventory",
        ],
        "pagerduty,slack",
    );
    assert_routes(
        &[
            "alertname=TracemartOrderAvailabilityFastBurn",
            "severity=page",
        ],
        "pagerduty,slack",
    );
    assert_routes(
        &["alertname=TracemartCircuitBreakerOpen", "severity=ticket"],
        "slack",
    );
    assert_routes(&["alertname=SomethingUnlabelled"], "slack");
}

#[test]
fn every_alert_severity_in_the_rules_has_a_route() {
    for rule in crate::prometheus::alert_rules() {
        let severity = rule["labels"]["severity"].as_str().unwrap_or_default();
        let expected = if severity == "page" {
            "pagerduty,slack"
        } else {
            "slack"
        };
        let alert = format!("alertname={}", rule["alert"].as_str().unwrap_or_default());
        assert_routes(&[&alert, &format!("severity={severity}")], expected);
    }
}

#[test]
fn the_pagerduty_key_and_the_slack_webhook_are_read_from_files_never_written_here() {
    let text = std::fs::read_to_string(config()).unwrap();
    let doc = yaml(&config());
    for receiver in doc["receivers"].as_sequence().expect("receivers") {
        for pd in receiver["pagerduty_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(pd.get("routing_key").is_none() && pd.get("service_key").is_none());
            assert!(
                pd["routing_key_file"].as_str().is_some(),
                "routing_key_file"
            );
        }
        for slack in receiver["slack_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(slack.get("api_url").is_none());
            assert!(slack["api_url_file"].as_str().is_some(), "api_url_file");
        }
    }
    assert!(doc["global"].get("slack_api_url").is_none());
    assert!(
        !text.contains("hooks.slack.com"),
        "a Slack webhook URL is a secret and must not be committed"
    );
}

#[test]
fn a_service_down_inhibits_its_latency_alerts() {
    let doc = yaml(&config());
    let inhibits = serde_yaml::to_string(&doc["inhibit_rules"]).unwrap();
    let rule = doc["inhibit_rules"]
        .as_sequence()
        .expect("inhibit_rules")
        .iter()
        .find(|r| {
            serde_yaml::to_string(&r["source_matchers"])
                .unwrap()
                .contains("TracemartServiceDown")
                && serde_yaml::to_string(&r["target_matchers"])
                    .unwrap()
                    .contains("category=\"latency\"")
                && r["equal"]
                    .as_sequence()
                    .is_some_and(|e| e.iter().any(|l| l == "service"))
        });
    assert!(rule.is_some(), "no such inhibition:\n{inhibits}");
}
