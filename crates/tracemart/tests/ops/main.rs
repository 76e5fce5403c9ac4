//! The operations pack under `deploy/`, each piece checked by its real tool: Prometheus rules
//! and their unit tests (promtool), the Alertmanager routing (amtool), the Grafana dashboards,
//! the Kubernetes manifests (kubectl kustomize, kubernetes-validate and our own rules), and an
//! end-to-end run of real Prometheus and Alertmanager against `tracemart up` with a fault.
//! A missing tool fails its test with what to install; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

mod alertmanager;
mod e2e;
mod grafana;
mod kubernetes;
mod overlay;
mod prometheus;
mod promql;
mod shop;
mod sink;
mod tools;
