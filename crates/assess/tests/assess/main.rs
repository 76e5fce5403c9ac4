//! The assess crate's specification: scoring, answers files, reports, history, exit codes and the
//! interactive questionnaire in a pseudo-terminal.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod exit_codes;
mod formats;
mod helpers;
mod history;
mod scoring;
mod terminal;
