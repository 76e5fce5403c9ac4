//! `tracemart assess`: the seed's 100-point microservices readiness checklist, asked one
//! question at a time on a terminal or read from an answers file, scored exactly, and reported
//! as text, markdown or JSON, with an optional history of dated results.
//!
//! The binary calls [`run`]; everything else is here so that it can be tested without one.

mod answers;
mod checklist;
mod error;
mod history;
mod interactive;
mod lang;
mod report;
mod score;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use answers::load as load_answers;
pub use checklist::{Category, ITEMS, Item, item, item_ids};
pub use error::{AssessError, EXIT_ABORTED, EXIT_BAD_INPUT, Problem};
pub use history::{Change, Previous};
pub use lang::Lang;
pub use report::{JsonReport, Report, ReportFormat};
pub use score::{
    Answers, Assessment, CategoryResult, ItemResult, MAX_TOTAL, Plan, Points, Score, TOP_LOSSES,
    Verdict,
};

/// The exit code when the assessment is made and passes `--fail-under`.
pub const EXIT_OK: u8 = 0;
/// The exit code when the total is below `--fail-under`.
pub const EXIT_BELOW_THRESHOLD: u8 = 1;

/// Scores an organisation's readiness for microservices with the seed's 100-point checklist.
///
/// Without --answers, asks the eleven questions one at a time (digits 1-5 answer, Up/Down move,
/// Enter confirms, Left/Backspace/b goes back, q/Esc quits). Exit codes: 0 done, 1 total below
/// --fail-under, 2 bad input, 130 quit.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AssessArgs {
    /// Read the answers from FILE instead of asking (.toml, .yaml/.yml or .json): a flat map from
    /// item id to a score 1-5. Ids: containers, cicd, observability, api_design, team_ownership,
    /// devops_culture, on_call, training, domain_model, performance_dip, operating_cost.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,

    /// The report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,

    /// The language of the questions and the report [default: from LC_ALL, LC_MESSAGES or LANG].
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,

    /// Exit with code 1 when the total is below N (0-100, e.g. 60 or 72.5); for CI.
    #[arg(long, value_name = "N", value_parser = parse_threshold)]
    pub fail_under: Option<Points>,

    /// Keep this result as a dated JSON file in DIR (created if missing) and show the change
    /// since the newest earlier one.
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
}

fn parse_threshold(text: &str) -> Result<Points, String> {
    Points::parse(text)
        .filter(|p| *p <= MAX_TOTAL)
        .ok_or_else(|| format!("`{text}` is not a score from 0 to 100 with at most one decimal"))
}

/// What the assessment reads from the process: read once, passed explicitly.
#[derive(Debug, Clone)]
pub struct Environment {
    /// The locale (`LC_ALL`, else `LC_MESSAGES`, else `LANG`), for the default language.
    pub locale: Option<String>,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// Standard input is a terminal, so questions can be asked.
    pub stdin_is_terminal: bool,
    /// Standard output is a terminal, so the report may use colour.
    pub stdout_is_terminal: bool,
    /// The time the assessment is made.
    pub now: DateTime<Utc>,
}

impl Environment {
    /// Reads the process's environment: the one place this crate does so.
    pub fn from_process() -> Self {
        let var = |name: &str| {
            std::env::var_os(name)
                .and_then(|v| v.into_string().ok())
                .filter(|v| !v.is_empty())
        };
        Self {
            locale: var("LC_ALL")
                .or_else(|| var("LC_MESSAGES"))
                .or_else(|| var("LANG")),
            no_color: var("NO_COLOR").is_some(),
            stdin_is_terminal: std::io::stdin().is_terminal(),
            stdout_is_terminal: std::io::stdout().is_terminal(),
            now: Utc::now(),
        }
    }
}

/// Runs `tracemart assess` and returns the process exit code: 0 done, 1 below `--fail-under`,
/// 2 bad input, 130 quit. Errors are printed to standard error.
pub fn run(args: AssessArgs) -> u8 {
    let env = Environment::from_process();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    run_with(args, &env, &mut stdout, &mut stderr)
}

/// [`run`] with an explicit environment and output streams.
pub fn run_with(
    args: AssessArgs,
    env: &Environment,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> u8 {
    match assess(&args, env, stdout, stderr) {
        Ok(total) => match args.fail_under {
            Some(threshold) if total < threshold => {
                let _ = writeln!(
                    stderr,
                    "error: the total {total} is below --fail-under {threshold}"
                );
                EXIT_BELOW_THRESHOLD
            }
            _ => EXIT_OK,
        },
        Err(error) => {
            let _ = writeln!(stderr, "error: {error}");
            error.exit_code()
        }
    }
}

fn assess(
    args: &AssessArgs,
    env: &Environment,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<Points, AssessError> {
    let lang = args
        .lang
        .unwrap_or_else(|| Lang::from_locale(env.locale.as_deref()));
    let answers = match &args.answers {
        Some(path) => answers::load(path)?,
        None if !env.stdin_is_terminal => return Err(AssessError::NotATerminal),
        None => interactive::ask(lang, !env.no_color)?,
    };
    let assessment = Assessment::score(answers);
    let previous = match &args.history {
        Some(dir) => history::latest(dir, stderr)?,
        None => None,
    };
    let change = previous.as_ref().map(|p| Change::between(p, &assessment));
    let report = Report {
        assessment: &assessment,
        lang,
        assessed_at: env.now,
        change: change.as_ref(),
        with_history: args.history.is_some(),
        color: env.stdout_is_terminal && !env.no_color,
    };
    // Save first: a history that cannot be written is an error the report must not hide.
    if let Some(dir) = &args.history {
        let saved = history::save(dir, env.now, &report.render(ReportFormat::Json))?;
        let m = lang::messages(lang);
        let _ = writeln!(stderr, "{}: {}", m.saved_to, saved.display());
    }
    stdout
        .write_all(report.render(args.format).as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(AssessError::Output)?;
    Ok(assessment.total)
}
