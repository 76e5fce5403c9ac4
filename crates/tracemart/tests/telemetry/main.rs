//! End-to-end telemetry: the built `tracemart` binary run as `up` runs it (one process per
//! service), its OTLP decoded by an in-test receiver, its JSON logs and `/metrics` parsed;
//! DESIGN.md's telemetry contract and each of the seed's telemetry defects, checked.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub, dead_code)]

mod broker;
mod chaos_run;
mod collector_down;
mod connections;
mod cross_language;
mod disk_full;
mod failures;
mod faults;
mod faults_db;
mod faults_saga;
mod helpers;
mod instances;
mod logs;
mod metrics;
mod otlp;
mod postgres;
mod prom;
mod propagation;
mod resilience;
mod saga;
mod saga_crash;
mod schemathesis;
mod sdk_disabled;
mod seed_defects;
mod traces;
mod untraced;
