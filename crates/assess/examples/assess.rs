//! `tracemart assess` without the rest of tracemart: the binary the crate's own terminal tests
//! drive through a pseudo-terminal (`cargo run -p tracemart-assess --example assess -- --help`).

use std::process::ExitCode;

use clap::Parser;

/// The readiness checklist on its own.
#[derive(Parser, Debug)]
#[command(name = "assess")]
struct Cli {
    #[command(flatten)]
    args: tracemart_assess::AssessArgs,
}

fn main() -> ExitCode {
    ExitCode::from(tracemart_assess::run(Cli::parse().args))
}
