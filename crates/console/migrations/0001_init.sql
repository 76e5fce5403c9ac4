-- Spans, logs and the summaries the queries read. Ids are lowercase hex, times microseconds.

CREATE TABLE resources (
    id         INTEGER PRIMARY KEY,
    service    TEXT NOT NULL,
    attributes TEXT NOT NULL UNIQUE
);

-- id is assigned by the single writer in ingest order; retention deletes by it.
CREATE TABLE spans (
    id             INTEGER PRIMARY KEY,
    trace_id       TEXT    NOT NULL,
    span_id        TEXT    NOT NULL,
    parent_span_id TEXT    NOT NULL,
    service        TEXT    NOT NULL,
    operation      TEXT    NOT NULL,
    kind           INTEGER NOT NULL,
    start_us       INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,
    status_code    INTEGER NOT NULL,
    status_message TEXT    NOT NULL,
    attributes     TEXT    NOT NULL,
    events         TEXT    NOT NULL,
    links          TEXT    NOT NULL,
    scope_name     TEXT    NOT NULL,
    scope_version  TEXT    NOT NULL,
    resource_id    INTEGER NOT NULL,
    -- Searchable tags as US-separated `key=value` items ("\x1fk=v\x1fk2=v2\x1f"): a search
    -- walks a (service, start) index and checks each candidate span with instr(), which costs
    -- no index maintenance at ingest.
    tags           TEXT    NOT NULL
);
CREATE INDEX spans_trace ON spans (trace_id, span_id);
CREATE INDEX spans_service_start ON spans (service, start_us);
CREATE INDEX spans_service_operation_start ON spans (service, operation, start_us);

-- One row per trace, upserted by every batch that carries its spans.
CREATE TABLE traces (
    trace_id       TEXT PRIMARY KEY,
    start_us       INTEGER NOT NULL,
    end_us         INTEGER NOT NULL,
    span_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    has_root       INTEGER NOT NULL,
    root_service   TEXT    NOT NULL,
    root_operation TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX traces_start ON traces (start_us);

CREATE TABLE operations (
    service   TEXT    NOT NULL,
    operation TEXT    NOT NULL,
    kind      INTEGER NOT NULL,
    PRIMARY KEY (service, operation, kind)
) WITHOUT ROWID;

-- Cross-service calls (parent span's service -> child span's service) per minute of the
-- child's start, counted by the writer as the second span of each pair arrives, so the
-- dependency graph is a GROUP BY over a small table.
CREATE TABLE dependency_edges (
    bucket_us INTEGER NOT NULL,
    parent    TEXT    NOT NULL,
    child     TEXT    NOT NULL,
    calls     INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    PRIMARY KEY (bucket_us, parent, child)
) WITHOUT ROWID;

-- Child spans stored before their parent: the parent's arrival turns them into edges.
-- Rows whose parent never comes are pruned by retention after a while (stored_us).
CREATE TABLE pending_edges (
    trace_id       TEXT    NOT NULL,
    parent_span_id TEXT    NOT NULL,
    span_id        TEXT    NOT NULL,
    service        TEXT    NOT NULL,
    start_us       INTEGER NOT NULL,
    error          INTEGER NOT NULL,
    stored_us      INTEGER NOT NULL,
    PRIMARY KEY (trace_id, parent_span_id, span_id)
) WITHOUT ROWID;

CREATE TABLE logs (
    id              INTEGER PRIMARY KEY,
    time_us         INTEGER NOT NULL,
    trace_id        TEXT    NOT NULL,
    span_id         TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text   TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    attributes      TEXT    NOT NULL,
    resource_id     INTEGER NOT NULL
);
CREATE INDEX logs_trace ON logs (trace_id, time_us);
CREATE INDEX logs_time ON logs (time_us);
