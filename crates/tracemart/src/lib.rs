//! The `tracemart` command: parses the CLI and hands each subcommand to the crate that does it.

mod chaos_cmd;
mod chaos_scenario;
pub mod cli;
mod console_client;
mod console_cmd;
mod diagnose_cmd;
mod events_cmd;
pub mod experiment;
mod fault_admin;
mod logs_cmd;
mod orders_cmd;
mod procs;
mod serve;
mod settings;
mod shutdown;
mod token_cmd;
mod top_cmd;
mod traces_cmd;
mod up;
mod up_postgres;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Exit code for an unusable configuration value (64, EX_USAGE).
pub const EXIT_CONFIG: u8 = 64;

/// Runs one subcommand to completion and returns the process exit code.
pub fn dispatch(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Assess(args) => ExitCode::from(tracemart_assess::run(args)),
        Command::Load(args) => with_runtime(|| async move {
            match tracemart_loadgen::run(args).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    2
                }
            }
        }),
        Command::Serve(args) => with_runtime(|| serve::run(args)),
        Command::Console(args) => with_runtime(|| console_cmd::run(args)),
        Command::Up(args) => with_runtime(|| up::run(args)),
        Command::Events(args) => with_runtime(|| events_cmd::run(args)),
        Command::Orders(args) => with_runtime(|| orders_cmd::run(args)),
        Command::Token(args) => ExitCode::from(token_cmd::run(&args)),
        Command::Chaos(args) => with_runtime(|| chaos_cmd::run(args)),
        Command::Traces(args) => with_runtime(|| traces_cmd::search(args)),
        Command::Trace(args) => with_runtime(|| traces_cmd::show(args)),
        Command::Logs(args) => with_runtime(|| logs_cmd::run(args)),
        Command::Top(args) => with_runtime(|| top_cmd::run(args)),
        Command::Diagnose(args) => with_runtime(|| diagnose_cmd::run(args)),
        Command::Experiment(args) => with_runtime(|| experiment::run(args)),
        Command::Ps(args) => with_runtime(|| procs::cmd::ps(args)),
        Command::Stop(args) => with_runtime(|| procs::cmd::act(args, "stop")),
        Command::Start(args) => with_runtime(|| procs::cmd::act(args, "start")),
        Command::Restart(args) => with_runtime(|| procs::cmd::act(args, "restart")),
    }
}

fn with_runtime<F, Fut>(f: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => ExitCode::from(rt.block_on(f())),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
