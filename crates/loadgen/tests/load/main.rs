//! `tracemart load` against real HTTP servers on loopback: one file per behaviour.

// Tests may unwrap: a panic is how they fail.
#![allow(clippy::unwrap_used)]

mod helpers;

mod closed_loop;
mod exit_codes;
mod headers;
mod interrupt;
mod json_report;
mod open_loop;
mod order_scenario;
mod trace_join;
