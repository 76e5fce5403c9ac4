//! deploy/grafana: the dashboards are well-formed for Grafana's file provisioning and every
//! query uses a provisioned data source. The end-to-end test runs each query against the real
//! Prometheus (e2e.rs).
//!
//! Grafana's dashboard schema is published as TypeScript (npm `@grafana/schema`) and CUE, not
//! as a JSON Schema a validator here could load, so the structure Grafana relies on when it
//! provisions a dashboard is checked by hand below.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::tools::{deploy, json, yaml};

/// A query of a panel.
pub struct PanelQuery {
    pub dashboard: String,
    pub panel: String,
    pub expr: String,
    pub exemplar: bool,
}

pub fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy("grafana/dashboards"))
        .expect("deploy/grafana/dashboards")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "the four dashboards: {files:?}");
    files.into_iter().map(|p| (p.clone(), json(&p))).collect()
}

fn panels(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p.clone());
        // A collapsed row keeps its panels inside it.
        out.extend(p["panels"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// Every panel's PromQL, from every dashboard.
pub fn panel_queries() -> Vec<PanelQuery> {
    let mut out = Vec::new();
    for (_, d) in dashboards() {
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push(PanelQuery {
                    dashboard: d["title"].as_str().unwrap_or_default().to_owned(),
                    panel: p["title"].as_str().unwrap_or_default().to_owned(),
                    expr: t["expr"].as_str().unwrap_or_default().to_owned(),
                    exemplar: t["exemplar"].as_bool().unwrap_or(false),
                });
            }
        }
    }
    out
}

/// The provisioned data sources: uid -> type.
fn datasources() -> Vec<(String, String, Value)> {
    let doc = yaml(&deploy("grafana/provisioning/datasources/tracemart.yml"));
    doc["datasources"]
        .as_sequence()
        .expect("datasources")
        .iter()
        .map(|d| {
            (
                d["uid"].as_str().unwrap_or_default().to_owned(),
                d["type"].as_str().unwrap_or_default().to_owned(),
                serde_json::to_value(d).unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_data_sources_are_prometheus_and_the_consoles_jaeger_api_with_exemplars_linking_them() {
    let ds = datasources();
    let prom = ds
        .iter()
        .find(|d| d.1 == "prometheus")
        .expect("a Prometheus data source");
    let jaeger = ds
        .iter()
        .find(|d| d.1 == "jaeger")
        .expect("a Jaeger data source");
    assert!(
        jaeger.2["url"]
            .as_str()
            .unwrap_or_default()
            .ends_with(":16686"),
        "the Jaeger data source reads the console's API port"
    );
    let dest = &prom.2["jsonData"]["exemplarTraceIdDestinations"][0];
    assert_eq!(dest["name"], "trace_id", "the services' exemplar label");
    assert_eq!(dest["datasourceUid"], jaeger.0.as_str());
}

#[test]
fn the_dashboard_provider_loads_the_dashboards_folder() {
    let doc = yaml(&deploy("grafana/provisioning/dashboards/tracemart.yml"));
    let provider = &doc["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert!(provider["options"]["path"].as_str().is_some());
}

#[test]
fn every_dashboard_is_well_formed_and_every_query_uses_a_provisioned_data_source() {
    let uids: BTreeSet<String> = datasources().into_iter().map(|d| d.0).collect();
    let mut dashboard_uids = BTreeSet::new();
    for (path, d) in dashboards() {
        let name = path.display().to_string();
        let uid = d["uid"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no uid"));
        assert!(
            uid.len() <= 40,
            "{name}: Grafana uids are at most 40 characters"
        );
        assert!(
            dashboard_uids.insert(uid.to_owned()),
            "{name}: uid {uid} used twice"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(
            d["schemaVersion"].as_i64().is_some(),
            "{name}: schemaVersion"
        );
        assert!(
            d.get("id").is_none_or(Value::is_null),
            "{name}: a provisioned dashboard has no id"
        );
        let mut ids = BTreeSet::new();
        let ps = panels(&d);
        assert!(!ps.is_empty(), "{name}: no panels");
        for p in ps {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(!title.is_empty(), "{name}: a panel without a title");
            assert!(
                ids.insert(p["id"].as_i64().expect("panel id")),
                "{name}: panel id twice"
            );
            for k in ["x", "y", "w", "h"] {
                assert!(
                    p["gridPos"][k].as_i64().is_some(),
                    "{name}/{title}: gridPos.{k}"
                );
            }
            if p["type"] == "row" {
                continue;
            }
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}/{title}: no targets"));
            assert!(!targets.is_empty(), "{name}/{title}: no queries");
            for t in targets {
                let ds = t["datasource"]["uid"]
                    .as_str()
                    .or(p["datasource"]["uid"].as_str());
                assert!(
                    ds.is_some_and(|u| uids.contains(u)),
                    "{name}/{title}: data source {ds:?} is not provisioned"
                );
                assert!(
                    t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()),
                    "{name}/{title}: an empty query"
                );
            }
        }
    }
}

#[test]
fn the_dashboards_cover_the_shop_red_resilience_and_the_telemetry_pipeline() {
    let titles: Vec<String> = dashboards()
        .into_iter()
        .map(|(_, d)| d["title"].as_str().unwrap_or_default().to_lowercase())
        .collect();
    for wanted in ["overview", "red", "resilience", "telemetry"] {
        assert!(
            titles.iter().any(|t| t.contains(wanted)),
            "no {wanted} dashboard: {titles:?}"
        );
    }
    assert!(
        panel_queries().iter().any(|q| q.exemplar),
        "a latency panel shows exemplars"
    );
}
