//! The report of an assessment in the three `--format`s: a terminal text report with a bar per
//! category, markdown for a repository or a pull request, and JSON for scripts and history.

mod json;
mod markdown;
mod text;

use chrono::{DateTime, Utc};
use clap::ValueEnum;

use crate::checklist::Item;
use crate::history::Change;
use crate::lang::Lang;
use crate::score::Assessment;

pub use json::JsonReport;

/// The output format of the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// For a terminal: aligned columns and a bar per category (coloured on a terminal).
    #[default]
    Text,
    /// Markdown tables, for a repository, a wiki or a pull request.
    Markdown,
    /// One JSON document: `total`, each category's points, `verdict`, items, changes.
    Json,
}

/// Everything a report shows.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    /// The scored answers.
    pub assessment: &'a Assessment,
    /// The language of the wording.
    pub lang: Lang,
    /// When the assessment was made.
    pub assessed_at: DateTime<Utc>,
    /// The change since the previous assessment, with `--history`.
    pub change: Option<&'a Change>,
    /// Whether `--history` was given (so "first assessment" can be said).
    pub with_history: bool,
    /// Whether the text report may use colour.
    pub color: bool,
}

impl Report<'_> {
    /// The report in `format`, ending with a newline.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => text::render(self),
            ReportFormat::Markdown => markdown::render(self),
            ReportFormat::Json => json::render(self),
        }
    }
}

/// "10 points" / "10점".
pub(crate) fn points_label(lang: Lang, value: impl std::fmt::Display) -> String {
    match lang {
        Lang::Ko => format!("{value}점"),
        Lang::En => format!("{value} points"),
    }
}

/// The seed's description of the 5-point level of `item`.
pub(crate) fn five_points(item: &Item, lang: Lang) -> &'static str {
    item.level(5, lang).unwrap_or_default()
}
