//! Shared arrangements: answer sets, answers files, and `run_with` with a fixed environment.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use tracemart_assess::{Answers, AssessArgs, Environment, ReportFormat, Score, run_with};

/// Scores in checklist order: containers, cicd, observability, api_design, team_ownership,
/// devops_culture, on_call, training, domain_model, performance_dip, operating_cost.
pub(crate) fn answers(scores: [u8; 11]) -> Answers {
    Answers::new(scores.map(|s| Score::new(i64::from(s)).unwrap()))
}

/// The same scores as an answers file body in TOML.
pub(crate) fn toml_body(scores: [u8; 11]) -> String {
    tracemart_assess::item_ids()
        .zip(scores)
        .map(|(id, s)| format!("{id} = {s}\n"))
        .collect()
}

/// Writes `body` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

/// A fixed moment, so reports and history names are reproducible.
pub(crate) fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, 9, 30, 0).unwrap()
}

/// What a run printed and returned.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) code: u8,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Arguments for a non-interactive run of `file` in `format`, in English.
pub(crate) fn args(file: &Path, format: ReportFormat) -> AssessArgs {
    AssessArgs {
        answers: Some(file.to_owned()),
        format,
        lang: Some(tracemart_assess::Lang::En),
        ..AssessArgs::default()
    }
}

/// Runs the command as a script would: no terminal, no colour, at `now`.
pub(crate) fn run_at(args: AssessArgs, now: DateTime<Utc>) -> Outcome {
    let env = Environment {
        locale: Some("en_US.UTF-8".into()),
        no_color: true,
        stdin_is_terminal: false,
        stdout_is_terminal: false,
        now,
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let code = run_with(args, &env, &mut stdout, &mut stderr);
    Outcome {
        code,
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

/// [`run_at`] on the first day used by the tests.
pub(crate) fn run(args: AssessArgs) -> Outcome {
    run_at(args, at(1))
}
