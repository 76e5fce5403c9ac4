-- Metrics scraped from the services' /metrics (store/metrics.rs). A family is a metric as its
-- `# TYPE` line names it; a series is one sample name (`_total`, `_bucket`, ...) and label set
-- of a family, labels as a JSON object with sorted keys. A scrape of a family is one row of
-- `metric_points`: its values as (series id, value) pairs encoded in one blob, a row per
-- family and scrape instead of a row and an index entry per value.
CREATE TABLE metric_families (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE,
    kind TEXT    NOT NULL,
    help TEXT    NOT NULL DEFAULT '',
    unit TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE metric_series (
    id        INTEGER PRIMARY KEY,
    family_id INTEGER NOT NULL,
    sample    TEXT    NOT NULL,
    labels    TEXT    NOT NULL,
    UNIQUE (family_id, sample, labels)
);

CREATE TABLE metric_points (
    family_id INTEGER NOT NULL,
    time_ms   INTEGER NOT NULL,
    data      BLOB    NOT NULL
);
CREATE INDEX metric_points_family_time ON metric_points (family_id, time_ms);
CREATE INDEX metric_points_time ON metric_points (time_ms);

-- An exemplar is kept once, from the first scrape that shows it.
CREATE TABLE metric_exemplars (
    series_id INTEGER NOT NULL,
    trace_id  TEXT    NOT NULL,
    time_ms   INTEGER NOT NULL,
    value     REAL    NOT NULL,
    PRIMARY KEY (series_id, trace_id)
) WITHOUT ROWID;
CREATE INDEX metric_exemplars_time ON metric_exemplars (time_ms);
