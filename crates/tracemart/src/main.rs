//! `tracemart`: the shop, its console and its tools in one binary. Wiring only.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = tracemart::cli::Cli::parse();
    tracemart::dispatch(cli)
}
