//! The JSON report: the machine-readable result, also what `--history` keeps. Its shape is
//! described by `schema/assessment.schema.json`; points are numbers with at most one decimal.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;

use super::{Report, five_points};
use crate::score::{Answers, CategoryResult, ItemResult, MAX_TOTAL};

/// The document's schema id; bumped when a field changes meaning.
pub(crate) const SCHEMA: &str = "tracemart-assess/v1";

/// The JSON document.
#[derive(Debug, Serialize)]
pub struct JsonReport {
    schema: &'static str,
    assessed_at: DateTime<Utc>,
    lang: &'static str,
    total: f64,
    max: i32,
    verdict: JsonVerdict,
    plan: Option<JsonPlan>,
    categories: JsonCategories,
    answers: JsonAnswers,
    top_losses: Vec<JsonLoss>,
    change: Option<JsonChange>,
}

#[derive(Debug, Serialize)]
struct JsonVerdict {
    id: &'static str,
    band: &'static str,
    text: &'static str,
}

#[derive(Debug, Serialize)]
struct JsonPlan {
    id: &'static str,
    text: &'static str,
}

#[derive(Debug, Serialize)]
struct JsonCategories {
    technical: JsonCategory,
    organisational: JsonCategory,
    business: JsonCategory,
}

#[derive(Debug, Serialize)]
struct JsonCategory {
    title: &'static str,
    points: f64,
    max: i32,
    items: Vec<JsonItem>,
}

#[derive(Debug, Serialize)]
struct JsonItem {
    id: &'static str,
    title: &'static str,
    score: u8,
    weight: u8,
    points: f64,
    max: i32,
}

#[derive(Debug, Serialize)]
struct JsonLoss {
    id: &'static str,
    title: &'static str,
    score: u8,
    lost: f64,
    five_points: &'static str,
}

#[derive(Debug, Serialize)]
struct JsonChange {
    since: DateTime<Utc>,
    previous_file: String,
    previous_total: f64,
    total: f64,
    categories: JsonCategoryChanges,
    items: Vec<JsonItemChange>,
}

#[derive(Debug, Serialize)]
struct JsonCategoryChanges {
    technical: f64,
    organisational: f64,
    business: f64,
}

#[derive(Debug, Serialize)]
struct JsonItemChange {
    id: &'static str,
    from: u8,
    to: u8,
}

/// The answers as a flat map from item id to score, in checklist order: the same shape as an
/// answers file.
#[derive(Debug)]
struct JsonAnswers(Answers);

impl Serialize for JsonAnswers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(11))?;
        for (id, score) in self.0.iter() {
            map.serialize_entry(id, &score.get())?;
        }
        map.end()
    }
}

impl JsonReport {
    /// The document for `report`.
    pub fn new(report: &Report<'_>) -> Self {
        let lang = report.lang;
        let a = report.assessment;
        let item = |r: &ItemResult| JsonItem {
            id: r.item.id,
            title: r.item.title(lang),
            score: r.score.get(),
            weight: r.item.weight,
            points: r.points.as_f64(),
            max: r.max.tenths() / 10,
        };
        let category = |c: &CategoryResult| JsonCategory {
            title: c.category.title(lang),
            points: c.points.as_f64(),
            max: c.max.tenths() / 10,
            items: c.items.iter().map(item).collect(),
        };
        let [technical, organisational, business] = [0, 1, 2].map(|i| category(&a.categories[i]));
        let change = report.change.map(|change| {
            let delta = |i: usize| change.categories.get(i).map_or(0.0, |(_, d)| d.as_f64());
            JsonChange {
                since: change.since,
                previous_file: change.previous_file.display().to_string(),
                previous_total: change.previous_total.as_f64(),
                total: change.total.as_f64(),
                categories: JsonCategoryChanges {
                    technical: delta(0),
                    organisational: delta(1),
                    business: delta(2),
                },
                items: change
                    .items
                    .iter()
                    .map(|(item, from, to)| JsonItemChange {
                        id: item.id,
                        from: from.get(),
                        to: to.get(),
                    })
                    .collect(),
            }
        });
        Self {
            schema: SCHEMA,
            assessed_at: report.assessed_at,
            lang: lang.code(),
            total: a.total.as_f64(),
            max: MAX_TOTAL.tenths() / 10,
            verdict: JsonVerdict {
                id: a.verdict.id(),
                band: a.verdict.band(),
                text: a.verdict.text(lang),
            },
            plan: a.plan.map(|p| JsonPlan {
                id: p.id(),
                text: p.text(lang),
            }),
            categories: JsonCategories {
                technical,
                organisational,
                business,
            },
            answers: JsonAnswers(a.answers.clone()),
            top_losses: a
                .top_losses()
                .iter()
                .map(|r| JsonLoss {
                    id: r.item.id,
                    title: r.item.title(lang),
                    score: r.score.get(),
                    lost: r.lost().as_f64(),
                    five_points: five_points(r.item, lang),
                })
                .collect(),
            change,
        }
    }
}

pub(super) fn render(report: &Report<'_>) -> String {
    // Serialising these plain structs cannot fail; an empty object would still be valid JSON.
    let mut text = serde_json::to_string_pretty(&JsonReport::new(report))
        .unwrap_or_else(|_| String::from("{}"));
    text.push('\n');
    text
}
