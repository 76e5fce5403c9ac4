//! The built `tracemart` binary end to end: `tracemart up` on free ports, orders placed over
//! HTTP, and what the embedded console then shows (Jaeger API, logs, service map, web UI in
//! headless Chromium); plus how `up` starts and stops its children.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod browser;
mod browser_figures;
mod dependencies;
mod diagnose;
mod helpers;
mod jaeger;
mod large_traces;
mod lifecycle;
mod logs;
mod metrics;
mod processes;
mod retention;
mod terminal;
mod traces;
