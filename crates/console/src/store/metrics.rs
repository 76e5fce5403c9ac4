//! Stored metrics: the blob of a scrape's values, the reads the metrics API makes, and their
//! deletion by retention.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::Store;

/// A metric family as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredFamily {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) help: String,
    pub(crate) unit: String,
}

/// A series: its family's sample suffix (`_total`, `_bucket`, ...) and its labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSeries {
    pub(crate) id: i64,
    pub(crate) family_id: i64,
    pub(crate) suffix: String,
    pub(crate) labels: BTreeMap<String, String>,
}

/// The values of one family from one scrape: (series id, value) pairs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scrape {
    pub(crate) time_ms: i64,
    pub(crate) values: Vec<(i64, f64)>,
}

/// An exemplar of a series.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub(crate) struct StoredExemplar {
    pub(crate) series_id: i64,
    pub(crate) trace_id: String,
    pub(crate) time_ms: i64,
    pub(crate) value: f64,
}

/// Exemplars one query returns at most (the newest).
const MAX_EXEMPLARS: i64 = 1_000;

pub(crate) fn encode_points(points: &[(i64, f64)]) -> Vec<u8> {
    postcard::to_allocvec(points).unwrap_or_default()
}

fn decode_points(data: &[u8]) -> Vec<(i64, f64)> {
    postcard::from_bytes(data).unwrap_or_default()
}

impl Store {
    /// Every family, by name, with the time of its newest scrape (none once retention took
    /// all its points).
    pub(crate) async fn metric_families(
        &self,
    ) -> Result<Vec<(StoredFamily, Option<i64>)>, sqlx::Error> {
        let families: Vec<StoredFamily> =
            sqlx::query_as("SELECT id, name, kind, help, unit FROM metric_families ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        let mut out = Vec::with_capacity(families.len());
        for f in families {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT max(time_ms) FROM metric_points WHERE family_id = ?1")
                    .bind(f.id)
                    .fetch_one(&self.pool)
                    .await?;
            out.push((f, last));
        }
        Ok(out)
    }

    /// The family named `name`.
    pub(crate) async fn metric_family(
        &self,
        name: &str,
    ) -> Result<Option<StoredFamily>, sqlx::Error> {
        sqlx::query_as("SELECT id, name, kind, help, unit FROM metric_families WHERE name = ?1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
    }

    /// Every series, or those of one family.
    pub(crate) async fn metric_series(
        &self,
        family_id: Option<i64>,
    ) -> Result<Vec<StoredSeries>, sqlx::Error> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, family_id, sample, labels FROM metric_series \
             WHERE ?1 IS NULL OR family_id = ?1",
        )
        .bind(family_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, family_id, suffix, labels)| StoredSeries {
                id,
                family_id,
                suffix,
                labels: serde_json::from_str(&labels).unwrap_or_default(),
            })
            .collect())
    }

    /// The scrapes of a family taken from `from_ms` on, oldest first.
    pub(crate) async fn metric_scrapes(
        &self,
        family_id: i64,
        from_ms: i64,
    ) -> Result<Vec<Scrape>, sqlx::Error> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT time_ms, data FROM metric_points WHERE family_id = ?1 AND time_ms >= ?2 \
             ORDER BY time_ms",
        )
        .bind(family_id)
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(time_ms, data)| Scrape {
                time_ms,
                values: decode_points(&data),
            })
            .collect())
    }

    /// The newest exemplars of a family seen from `from_ms` on.
    pub(crate) async fn metric_exemplars(
        &self,
        family_id: i64,
        from_ms: i64,
    ) -> Result<Vec<StoredExemplar>, sqlx::Error> {
        sqlx::query_as(
            "SELECT e.series_id, e.trace_id, e.time_ms, e.value FROM metric_exemplars e \
             JOIN metric_series s ON s.id = e.series_id \
             WHERE s.family_id = ?1 AND e.time_ms >= ?2 ORDER BY e.time_ms DESC LIMIT ?3",
        )
        .bind(family_id)
        .bind(from_ms)
        .bind(MAX_EXEMPLARS)
        .fetch_all(&self.pool)
        .await
    }
}

/// Deletes the scrapes and exemplars older than `cutoff_us` (retention's clock is in
/// microseconds, the metrics' in milliseconds).
pub(crate) fn delete_before(conn: &Connection, cutoff_us: i64) -> rusqlite::Result<usize> {
    let cutoff_ms = cutoff_us / 1000;
    let points = conn.execute("DELETE FROM metric_points WHERE time_ms < ?1", [cutoff_ms])?;
    conn.execute(
        "DELETE FROM metric_exemplars WHERE time_ms < ?1",
        [cutoff_ms],
    )?;
    Ok(points)
}
