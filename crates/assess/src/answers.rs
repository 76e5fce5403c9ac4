//! Answers files: a flat map from item id to score, in TOML, YAML or JSON (by extension), parsed
//! into complete [`Answers`] or a list of every problem found.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::checklist::{ITEMS, item};
use crate::error::{AssessError, Problem};
use crate::score::{Answers, Score};

/// The formats an answers file may be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Self::Toml),
            "yaml" | "yml" => Some(Self::Yaml),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Toml => "TOML",
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        }
    }
}

/// Reads and checks the answers file at `path`.
pub fn load(path: &Path) -> Result<Answers, AssessError> {
    let format = Format::from_path(path).ok_or_else(|| AssessError::UnsupportedFormat {
        path: path.to_owned(),
    })?;
    let text = std::fs::read_to_string(path).map_err(|source| AssessError::ReadAnswers {
        path: path.to_owned(),
        source,
    })?;
    let entries = parse(&text, format).map_err(|message| AssessError::Malformed {
        path: path.to_owned(),
        format: format.name(),
        message,
    })?;
    check(entries).map_err(|problems| AssessError::InvalidAnswers {
        path: path.to_owned(),
        problems,
    })
}

fn parse(text: &str, format: Format) -> Result<Entries, String> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned()),
        Format::Yaml if text.trim().is_empty() => Ok(Entries::default()),
        Format::Yaml => serde_yaml::from_str(text).map_err(|e| e.to_string()),
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
    }
}

/// Turns the file's entries into answers, or lists everything wrong with them.
pub(crate) fn check(entries: Entries) -> Result<Answers, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut scores: [Option<Score>; 11] = [None; 11];
    for (key, value) in entries.0 {
        let Some(item) = item(&key) else {
            problems.push(Problem::Unknown { item: key });
            continue;
        };
        let slot = &mut scores[item.index()];
        if slot.is_some() {
            problems.push(Problem::Duplicate { item: key });
            continue;
        }
        match value.score() {
            Some(score) => *slot = Some(score),
            None => problems.push(Problem::OutOfRange {
                item: key,
                value: value.to_string(),
            }),
        }
    }
    let missing: Vec<&'static str> = ITEMS
        .iter()
        .zip(scores)
        .filter(|(item, score)| {
            let answered_badly = problems.iter().any(|p| match p {
                Problem::OutOfRange { item: id, .. } => id == item.id,
                _ => false,
            });
            score.is_none() && !answered_badly
        })
        .map(|(item, _)| item.id)
        .collect();
    if !missing.is_empty() {
        problems.push(Problem::Missing { items: missing });
    }
    let complete: Option<Vec<Score>> = scores.into_iter().collect();
    match complete.map(<[Score; 11]>::try_from) {
        Some(Ok(scores)) if problems.is_empty() => Ok(Answers::new(scores)),
        _ => Err(problems),
    }
}

/// The file's top-level entries in file order, duplicates kept so they can be reported.
#[derive(Debug, Default)]
pub(crate) struct Entries(Vec<(String, Value)>);

/// An entry's value, kept loosely so that a wrong one can be named in the message.
#[derive(Debug)]
enum Value {
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Other(&'static str),
}

impl Value {
    fn score(&self) -> Option<Score> {
        match self {
            Self::Int(n) => Score::new(*n),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) => write!(f, "the string {s:?}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Other(kind) => write!(f, "{kind}"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a flat map from item id to a score from 1 to 5")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a score from 1 to 5")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
                Ok(i64::try_from(v).map_or(Value::Other("a huge number"), Value::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Text(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
                Ok(Value::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Other("no value"))
            }
            fn visit_none<E: de::Error>(self) -> Result<Value, E> {
                Ok(Value::Other("no value"))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Value::Other("a list"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Value::Other("a table"))
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}
