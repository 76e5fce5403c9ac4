//! The console's specification: a real console on loopback port 0 with its SQLite file in a
//! tempdir, fed over OTLP/HTTP and OTLP/gRPC, read through the Jaeger and console APIs.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod connections;
mod diagnose;
mod figures;
mod helpers;
mod ingest;
mod jaeger_api;
mod large_traces;
mod message_edges;
mod metrics;
mod persistence;
mod related_traces;
mod retention;
mod ui;
