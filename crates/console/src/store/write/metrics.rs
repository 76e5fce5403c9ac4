//! Scrapes into `metric_families`, `metric_series`, `metric_points` and `metric_exemplars`
//! (migration 0010 says how they are laid out).

use std::collections::HashMap;

use rusqlite::{Connection, params};

use crate::metrics::parse::Family;
use crate::store::metrics::encode_points;
use crate::store::model::MetricBatch;

const UPSERT_FAMILY: &str = "INSERT INTO metric_families (name, kind, help, unit) \
    VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, \
    help = excluded.help, unit = excluded.unit RETURNING id";
const UPSERT_SERIES: &str = "INSERT INTO metric_series (family_id, sample, labels) \
    VALUES (?1, ?2, ?3) ON CONFLICT (family_id, sample, labels) \
    DO UPDATE SET labels = excluded.labels RETURNING id";
const INSERT_POINTS: &str =
    "INSERT INTO metric_points (family_id, time_ms, data) VALUES (?1, ?2, ?3)";
const INSERT_EXEMPLAR: &str = "INSERT OR IGNORE INTO metric_exemplars \
    (series_id, trace_id, time_ms, value) VALUES (?1, ?2, ?3, ?4)";

/// The ids of the families and series the writer has stored, so that a scrape costs one
/// insert per family plus its exemplars once every series is known.
#[derive(Default)]
pub(super) struct MetricIds {
    /// Family name, with the kind, help and unit it was stored with.
    families: HashMap<String, (i64, String, String, String)>,
    /// Family id, sample suffix and labels (JSON).
    series: HashMap<(i64, String, String), i64>,
}

impl MetricIds {
    pub(super) fn insert(
        &mut self,
        conn: &Connection,
        scrape: &MetricBatch,
    ) -> rusqlite::Result<()> {
        for family in &scrape.families {
            if family.samples.is_empty() {
                continue;
            }
            let family_id = self.family_id(conn, family)?;
            let mut points = Vec::with_capacity(family.samples.len());
            for sample in &family.samples {
                let mut labels = sample.labels.clone();
                labels.insert("job".to_owned(), scrape.job.clone());
                // A BTreeMap: the keys come out sorted, so equal label sets are equal text.
                let labels = serde_json::to_string(&labels).unwrap_or_default();
                let key = (family_id, sample.suffix.clone(), labels);
                let series_id = match self.series.get(&key) {
                    Some(id) => *id,
                    None => {
                        let id: i64 = conn
                            .prepare_cached(UPSERT_SERIES)?
                            .query_row(params![key.0, key.1, key.2], |row| row.get(0))?;
                        self.series.insert(key, id);
                        id
                    }
                };
                points.push((series_id, sample.value));
                if let Some(e) = &sample.exemplar {
                    conn.prepare_cached(INSERT_EXEMPLAR)?.execute(params![
                        series_id,
                        e.trace_id.to_ascii_lowercase(),
                        scrape.time_ms,
                        e.value
                    ])?;
                }
            }
            conn.prepare_cached(INSERT_POINTS)?.execute(params![
                family_id,
                scrape.time_ms,
                encode_points(&points)
            ])?;
        }
        Ok(())
    }

    fn family_id(&mut self, conn: &Connection, family: &Family) -> rusqlite::Result<i64> {
        if let Some((id, kind, help, unit)) = self.families.get(&family.name)
            && (kind, help, unit) == (&family.kind, &family.help, &family.unit)
        {
            return Ok(*id);
        }
        let id: i64 = conn.prepare_cached(UPSERT_FAMILY)?.query_row(
            params![family.name, family.kind, family.help, family.unit],
            |row| row.get(0),
        )?;
        self.families.insert(
            family.name.clone(),
            (
                id,
                family.kind.clone(),
                family.help.clone(),
                family.unit.clone(),
            ),
        );
        Ok(id)
    }
}
