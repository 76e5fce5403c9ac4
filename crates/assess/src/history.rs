//! `--history DIR`: every result kept as a dated JSON file (the `--format json` document), and
//! the change since the newest earlier one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::answers::{self, Entries};
use crate::checklist::{Category, Item};
use crate::error::AssessError;
use crate::score::{Assessment, Points, Score};

const PREFIX: &str = "assessment-";
const SUFFIX: &str = ".json";

/// An earlier result found in the history directory.
#[derive(Debug)]
pub struct Previous {
    /// Its file.
    pub path: PathBuf,
    /// When it was made.
    pub assessed_at: DateTime<Utc>,
    /// It, scored again from its answers (so the numbers are exact).
    pub assessment: Assessment,
}

/// What changed since the previous assessment.
#[derive(Debug)]
pub struct Change {
    /// The previous result's file.
    pub previous_file: PathBuf,
    /// When the previous assessment was made.
    pub since: DateTime<Utc>,
    /// The previous total.
    pub previous_total: Points,
    /// The change of the total.
    pub total: Points,
    /// The change of each category, in the seed's order.
    pub categories: Vec<(Category, Points)>,
    /// The items whose score changed: the item, the old score and the new one.
    pub items: Vec<(&'static Item, Score, Score)>,
}

impl Change {
    /// Compares `current` with `previous`.
    pub fn between(previous: &Previous, current: &Assessment) -> Self {
        let categories = Category::ALL
            .iter()
            .map(|&c| {
                let now = current.category(c).map(|r| r.points).unwrap_or_default();
                let then = previous
                    .assessment
                    .category(c)
                    .map(|r| r.points)
                    .unwrap_or_default();
                (c, now - then)
            })
            .collect();
        let items = current
            .items()
            .filter_map(|r| {
                let old = previous.assessment.answers.score(r.item);
                (old != r.score).then_some((r.item, old, r.score))
            })
            .collect();
        Self {
            previous_file: previous.path.clone(),
            since: previous.assessed_at,
            previous_total: previous.assessment.total,
            total: current.total - previous.assessment.total,
            categories,
            items,
        }
    }
}

/// The part of a saved result that is read back.
#[derive(Deserialize)]
struct Saved {
    assessed_at: DateTime<Utc>,
    answers: Entries,
}

/// The newest readable result in `dir`, if any. A missing directory has none; a file that cannot
/// be read as a result is skipped with a warning on `warn`.
pub(crate) fn latest(dir: &Path, warn: &mut dyn Write) -> Result<Option<Previous>, AssessError> {
    let history_error = |source| AssessError::History {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(history_error(e)),
    };
    let mut newest: Option<Previous> = None;
    for entry in entries {
        let path = entry.map_err(history_error)?.path();
        let is_result = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX));
        if !is_result {
            continue;
        }
        match read(&path) {
            Ok(previous) => {
                let key = |p: &Previous| (p.assessed_at, p.path.clone());
                if newest.as_ref().is_none_or(|n| key(&previous) > key(n)) {
                    newest = Some(previous);
                }
            }
            Err(message) => {
                // A broken file must not block today's assessment; say so and compare with the rest.
                let _ = writeln!(
                    warn,
                    "warning: {}: skipped, not a readable assessment: {message}",
                    path.display()
                );
            }
        }
    }
    Ok(newest)
}

fn read(path: &Path) -> Result<Previous, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let saved: Saved = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let answers = answers::check(saved.answers).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    Ok(Previous {
        path: path.to_owned(),
        assessed_at: saved.assessed_at,
        assessment: Assessment::score(answers),
    })
}

/// Writes `json` as a new dated file in `dir` (created if needed) and returns its path. An
/// existing file is never overwritten: a second result in the same second gets a `-2` suffix.
pub(crate) fn save(
    dir: &Path,
    assessed_at: DateTime<Utc>,
    json: &str,
) -> Result<PathBuf, AssessError> {
    let history_error = |source| AssessError::History {
        path: dir.to_owned(),
        source,
    };
    fs::create_dir_all(dir).map_err(history_error)?;
    let stamp = assessed_at.format("%Y-%m-%dT%H%M%SZ");
    for attempt in 1..=100 {
        let name = if attempt == 1 {
            format!("{PREFIX}{stamp}{SUFFIX}")
        } else {
            format!("{PREFIX}{stamp}-{attempt}{SUFFIX}")
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(json.as_bytes())
                    .and_then(|()| file.write_all(b"\n"))
                    .map_err(history_error)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(history_error(e)),
        }
    }
    Err(history_error(std::io::Error::other(
        "too many results with the same timestamp",
    )))
}
