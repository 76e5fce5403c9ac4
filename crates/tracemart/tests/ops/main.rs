//! The operations pack under `deploy/`, each piece checked by its real tool: Prometheus rules
//! and their unit tests (promtool) and the Alertmanager routing (amtool). A missing tool fails
//! its test with what to install; nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

mod alertmanager;
mod prometheus;
mod tools;
