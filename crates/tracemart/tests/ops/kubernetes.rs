//! deploy/k8s: each overlay builds with `kubectl kustomize`, every object validates against
//! the Kubernetes schemas offline (kubernetes-validate), and our own rules hold: probes,
//! limits, the downward API, a drain-long grace, Service ports that exist, budgets,
//! autoscalers and who may call whom.

use std::collections::BTreeSet;
use std::process::Command;

use serde::Deserialize;
use serde_yaml::Value;

use crate::tools::{assert_rejects, deploy, kubectl, kubernetes_validate, run_ok};

/// The Kubernetes version whose schemas the objects must pass: the kubectl on the machine's.
const KUBERNETES_VERSION: &str = "1.32.0";
/// How long a service drains in-flight requests after SIGTERM.
const DRAIN_SECS: i64 = 10;
const SERVICES: [&str; 5] = ["order", "user", "product", "inventory", "payment"];

fn build(dir: &str) -> (String, Vec<Value>) {
    let out = run_ok(Command::new(kubectl()).arg("kustomize").arg(deploy(dir)));
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect();
    (text, docs)
}

fn validate(text: &str, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{}.yaml", what.replace('/', "-")));
    std::fs::write(&file, text).unwrap();
    run_ok(
        Command::new(kubernetes_validate())
            .args([
                "--kubernetes-version",
                KUBERNETES_VERSION,
                "--strict",
                "--quiet",
            ])
            .arg(&file),
    );
}

fn kind<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == k).collect()
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap_or_default()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_mapping()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn services(docs: &[Value]) -> Vec<&Value> {
    kind(docs, "Deployment")
        .into_iter()
        .filter(|d| SERVICES.contains(&name(d)))
        .collect()
}

fn env<'a>(container: &'a Value, var: &str) -> Option<&'a Value> {
    container["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"] == var)
}

fn check_common(docs: &[Value], overlay: &str) {
    for d in kind(docs, "Deployment") {
        let n = name(d);
        let spec = &d["spec"]["template"]["spec"];
        let grace = spec["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
        for c in spec["containers"].as_sequence().expect("containers") {
            let what = format!("{overlay}: {n}");
            for probe in ["readinessProbe", "livenessProbe"] {
                assert!(
                    c[probe]["httpGet"]["path"].is_string(),
                    "{what}: no {probe}"
                );
            }
            for k in ["cpu", "memory"] {
                assert!(
                    !c["resources"]["limits"][k].is_null(),
                    "{what}: no {k} limit"
                );
                assert!(
                    !c["resources"]["requests"][k].is_null(),
                    "{what}: no {k} request"
                );
            }
            let pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
                .as_i64()
                .unwrap_or(0);
            assert!(
                grace >= pause + DRAIN_SECS,
                "{what}: a grace of {grace}s cuts the {pause}s pause plus the {DRAIN_SECS}s drain"
            );
            if !SERVICES.contains(&n) {
                continue;
            }
            assert_eq!(
                c["readinessProbe"]["httpGet"]["path"], "/health/ready",
                "{what}"
            );
            assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health", "{what}");
            for (var, field) in [
                ("K8S_POD_NAME", "metadata.name"),
                ("K8S_NAMESPACE_NAME", "metadata.namespace"),
                ("K8S_NODE_NAME", "spec.nodeName"),
            ] {
                let e = env(c, var).unwrap_or_else(|| panic!("{what}: no {var}"));
                assert_eq!(
                    e["valueFrom"]["fieldRef"]["fieldPath"], field,
                    "{what}: {var}"
                );
            }
            let attrs = env(c, "OTEL_RESOURCE_ATTRIBUTES")
                .and_then(|e| e["value"].as_str())
                .unwrap_or_else(|| panic!("{what}: no OTEL_RESOURCE_ATTRIBUTES"));
            for a in [
                "k8s.pod.name=$(K8S_POD_NAME)",
                "k8s.namespace.name=$(K8S_NAMESPACE_NAME)",
                "k8s.node.name=$(K8S_NODE_NAME)",
            ] {
                assert!(
                    attrs.contains(a),
                    "{what}: OTEL_RESOURCE_ATTRIBUTES lacks {a}"
                );
            }
        }
    }
    // Each service's pod holds its own private key and only that, with every public key.
    for d in services(docs) {
        let n = name(d);
        let mut private = Vec::new();
        let mut public = BTreeSet::new();
        for v in d["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            let Some(secret) = v.get("secret") else {
                continue;
            };
            let items = secret["items"].as_sequence().unwrap_or_else(|| {
                panic!(
                    "{overlay}: {n} mounts the whole Secret {:?}",
                    secret["secretName"]
                )
            });
            for item in items {
                let path = item["path"].as_str().unwrap_or_default().to_owned();
                if path.ends_with(".key") {
                    private.push(path);
                } else if let Some(p) = path.strip_suffix(".pub") {
                    public.insert(p.to_owned());
                }
            }
        }
        assert_eq!(private, [format!("{n}-service.key")], "{overlay}: {n}");
        let every: BTreeSet<String> = SERVICES
            .iter()
            .map(|s| format!("{s}-service"))
            .chain(["admin".to_owned()])
            .collect();
        assert_eq!(public, every, "{overlay}: {n}'s public keys");
    }
    // Every port of a Service reaches a port a selected container declares.
    for s in kind(docs, "Service") {
        let selector = &s["spec"]["selector"];
        let pods: Vec<&Value> = kind(docs, "Deployment")
            .into_iter()
            .filter(|d| labels_match(selector, &d["spec"]["template"]["metadata"]["labels"]))
            .collect();
        assert!(
            !pods.is_empty(),
            "{overlay}: Service {} selects no Deployment",
            name(s)
        );
        for port in s["spec"]["ports"].as_sequence().expect("ports") {
            let target = if port["targetPort"].is_null() {
                &port["port"]
            } else {
                &port["targetPort"]
            };
            for d in &pods {
                let declared = d["spec"]["template"]["spec"]["containers"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .flat_map(|c| c["ports"].as_sequence().cloned().unwrap_or_default())
                    .any(|p| &p["name"] == target || &p["containerPort"] == target);
                assert!(
                    declared,
                    "{overlay}: Service {} port {target:?} is no container port of {}",
                    name(s),
                    name(d)
                );
            }
        }
    }
    // A disruption budget for every service.
    for d in services(docs) {
        let labels = &d["spec"]["template"]["metadata"]["labels"];
        assert!(
            kind(docs, "PodDisruptionBudget")
                .iter()
                .any(|p| labels_match(&p["spec"]["selector"]["matchLabels"], labels)),
            "{overlay}: no PodDisruptionBudget for {}",
            name(d)
        );
    }
    check_network_policy(docs, overlay);
}

/// user, product and inventory accept connections only from order (and Prometheus, which
/// scrapes the same port).
fn check_network_policy(docs: &[Value], overlay: &str) {
    for callee in ["user", "product", "inventory"] {
        let policies: Vec<&Value> = kind(docs, "NetworkPolicy")
            .into_iter()
            .filter(|p| {
                let sel = &p["spec"]["podSelector"];
                sel["matchLabels"]["app.kubernetes.io/name"] == callee
                    || sel["matchExpressions"].as_sequence().is_some_and(|es| {
                        es.iter().any(|e| {
                            e["operator"] == "In"
                                && e["values"]
                                    .as_sequence()
                                    .is_some_and(|v| v.iter().any(|x| x == callee))
                        })
                    })
            })
            .collect();
        assert!(
            !policies.is_empty(),
            "{overlay}: no NetworkPolicy protects {callee}"
        );
        let mut allowed = BTreeSet::new();
        for p in policies {
            for rule in p["spec"]["ingress"].as_sequence().into_iter().flatten() {
                for from in rule["from"]
                    .as_sequence()
                    .expect("an ingress rule names its peers")
                {
                    let who = from["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{overlay}: {callee} admits {from:?}"));
                    allowed.insert(who.to_owned());
                }
            }
        }
        let expected: BTreeSet<String> = ["order", "prometheus"].map(String::from).into();
        assert_eq!(allowed, expected, "{overlay}: who may connect to {callee}");
    }
}

fn hpa_targets(docs: &[Value]) -> BTreeSet<String> {
    kind(docs, "HorizontalPodAutoscaler")
        .iter()
        .map(|h| {
            h["spec"]["scaleTargetRef"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[test]
fn the_local_overlay_builds_validates_and_runs_one_replica_on_volumes_with_the_console() {
    let (text, docs) = build("k8s/overlays/local");
    validate(&text, "local");
    check_common(&docs, "local");
    for d in services(&docs) {
        assert_eq!(
            d["spec"]["replicas"],
            1,
            "SQLite has one writer: {}",
            name(d)
        );
        let volumes = d["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap();
        let data = volumes
            .iter()
            .find(|v| v["name"] == "data")
            .expect("data volume");
        assert!(
            data["persistentVolumeClaim"]["claimName"].is_string(),
            "{}",
            name(d)
        );
        assert!(data.get("emptyDir").is_none(), "{}", name(d));
    }
    assert!(hpa_targets(&docs).is_empty(), "no autoscaling on SQLite");
    assert!(
        kind(&docs, "Deployment")
            .iter()
            .any(|d| name(d) == "console")
    );
}

#[test]
fn the_scale_overlay_builds_validates_and_runs_several_replicas_exporting_to_a_collector() {
    let (text, docs) = build("k8s/overlays/scale");
    validate(&text, "scale");
    check_common(&docs, "scale");
    for d in services(&docs) {
        assert!(
            d["spec"]["replicas"].as_i64().unwrap_or(1) > 1,
            "{}",
            name(d)
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        // Every service runs on PostgreSQL, from its own variable.
        let var = format!("TRACEMART_{}_DATABASE_URL", name(d).to_uppercase());
        let db = env(c, &var).unwrap_or_else(|| panic!("{}: {var}", name(d)));
        assert!(
            db["valueFrom"]["secretKeyRef"]["name"].is_string(),
            "from a Secret"
        );
        // Order and payment exchange their events through RabbitMQ.
        let broker = env(c, "TRACEMART_BROKER_URL");
        match name(d) {
            "order" | "payment" => assert_eq!(
                broker.and_then(|b| b["valueFrom"]["secretKeyRef"]["name"].as_str()),
                Some("tracemart-rabbitmq"),
                "{}",
                name(d)
            ),
            _ => assert!(broker.is_none(), "{}", name(d)),
        }
    }
    let expected: BTreeSet<String> = ["inventory", "order", "payment"].map(String::from).into();
    assert_eq!(hpa_targets(&docs), expected);
    let config = kind(&docs, "ConfigMap")
        .into_iter()
        .find(|c| name(c) == "tracemart-env")
        .expect("tracemart-env");
    let otlp = config["data"]["TRACEMART_OTLP_ENDPOINT"]
        .as_str()
        .unwrap_or_default();
    assert!(
        otlp.contains("collector"),
        "OTLP goes to a Collector: {otlp}"
    );
    assert!(
        kind(&docs, "Deployment")
            .iter()
            .all(|d| name(d) != "console")
    );
}

#[test]
fn the_base_builds_and_validates_with_autoscalers_for_order_inventory_and_payment() {
    let (text, docs) = build("k8s/base");
    validate(&text, "base");
    check_common(&docs, "base");
    let expected: BTreeSet<String> = ["inventory", "order", "payment"].map(String::from).into();
    assert_eq!(hpa_targets(&docs), expected);
}

#[test]
fn kubernetes_validate_rejects_an_unknown_field_so_the_checks_above_mean_something() {
    assert_rejects(
        Command::new(kubernetes_validate()).args([
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--strict",
            "--quiet",
        ]),
        "bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec:\n  portz: []\n",
    );
}
