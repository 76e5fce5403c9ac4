//! Everything that can stop an assessment, each with the exit code it ends the process with.

use std::fmt;
use std::path::PathBuf;

use crate::checklist::item_ids;

/// The exit code for bad input (a bad answers file, flags or history directory).
pub const EXIT_BAD_INPUT: u8 = 2;
/// The exit code when the person quits the questionnaire.
pub const EXIT_ABORTED: u8 = 130;

/// Why an assessment could not be made.
#[derive(Debug, thiserror::Error)]
pub enum AssessError {
    /// The answers file could not be read.
    #[error("{}: cannot read the answers file: {source}", path.display())]
    ReadAnswers {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The answers file's extension names no supported format.
    #[error(
        "{}: unsupported answers file extension; use .toml, .yaml, .yml or .json",
        path.display()
    )]
    UnsupportedFormat { path: PathBuf },
    /// The answers file is not valid TOML, YAML or JSON, or not a flat map.
    #[error("{}: malformed {format} answers file: {message}", path.display())]
    Malformed {
        path: PathBuf,
        format: &'static str,
        message: String,
    },
    /// The answers file parsed but its answers are wrong.
    #[error("{}", InvalidDisplay { path, problems })]
    InvalidAnswers {
        path: PathBuf,
        problems: Vec<Problem>,
    },
    /// Questions need a terminal, and there is none.
    #[error(
        "standard input is not a terminal, so the questions cannot be asked; \
         pass the answers with --answers FILE (.toml, .yaml or .json)"
    )]
    NotATerminal,
    /// The terminal failed while asking.
    #[error("terminal error: {0}")]
    Terminal(#[source] std::io::Error),
    /// The person quit the questionnaire.
    #[error("assessment aborted; nothing was written")]
    Aborted,
    /// The report could not be written to standard output.
    #[error("cannot write the report: {0}")]
    Output(#[source] std::io::Error),
    /// The history directory could not be read or written.
    #[error("{}: history: {source}", path.display())]
    History {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl AssessError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Aborted => EXIT_ABORTED,
            _ => EXIT_BAD_INPUT,
        }
    }
}

/// One thing wrong with an answers file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Required items have no answer.
    Missing { items: Vec<&'static str> },
    /// A key that is no item id.
    Unknown { item: String },
    /// An answer that is not a whole number from 1 to 5.
    OutOfRange { item: String, value: String },
    /// The same item answered twice.
    Duplicate { item: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { items } => {
                let s = if items.len() == 1 { "" } else { "s" };
                write!(
                    f,
                    "missing item{s} {}: give each a score from 1 to 5",
                    items
                        .iter()
                        .map(|id| format!("`{id}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Self::Unknown { item } => write!(
                f,
                "unknown item `{item}`; the items are: {}",
                item_ids().collect::<Vec<_>>().join(", ")
            ),
            Self::OutOfRange { item, value } => write!(
                f,
                "item `{item}` has {value}; allowed scores are the whole numbers 1, 2, 3, 4 and 5"
            ),
            Self::Duplicate { item } => write!(f, "item `{item}` is answered more than once"),
        }
    }
}

struct InvalidDisplay<'a> {
    path: &'a PathBuf,
    problems: &'a [Problem],
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let mut first = true;
        for problem in self.problems {
            if !first {
                f.write_str("\nerror: ")?;
            }
            first = false;
            write!(f, "{path}: {problem}")?;
        }
        Ok(())
    }
}
