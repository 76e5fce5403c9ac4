-- Trace ids are random, so every index keyed by them took a random page per trace on each
-- commit (spans, logs, pending edges and the traces table itself): most of the writer's page
-- writes. Each trace now gets a sequence number in order of first arrival, and spans, logs and
-- pending edges are indexed by it, so their inserts land on the newest pages; only the
-- trace-id index of `traces` stays random.
--
-- A trace's row is created by whichever of its spans or log records arrives first; a row
-- created by log records has no span (`span_count = 0`) until its spans arrive.

CREATE TABLE traces_by_seq (
    seq            INTEGER PRIMARY KEY,
    trace_id       TEXT    NOT NULL UNIQUE,
    start_us       INTEGER NOT NULL,
    end_us         INTEGER NOT NULL,
    span_count     INTEGER NOT NULL,
    error_count    INTEGER NOT NULL,
    has_root       INTEGER NOT NULL,
    root_service   TEXT    NOT NULL,
    root_operation TEXT    NOT NULL
);
INSERT INTO traces_by_seq (trace_id, start_us, end_us, span_count, error_count, has_root,
                           root_service, root_operation)
    SELECT trace_id, start_us, end_us, span_count, error_count, has_root, root_service,
           root_operation
    FROM traces ORDER BY start_us;
-- Log records of traces without spans get a row too, so that every trace id has a number.
INSERT INTO traces_by_seq (trace_id, start_us, end_us, span_count, error_count, has_root,
                           root_service, root_operation)
    SELECT trace_id, MIN(time_us), MAX(time_us), 0, 0, 0, '', ''
    FROM logs WHERE trace_id != '' AND trace_id NOT IN (SELECT trace_id FROM traces)
    GROUP BY trace_id;
DROP TABLE traces;
ALTER TABLE traces_by_seq RENAME TO traces;
CREATE INDEX traces_start ON traces (start_us);

ALTER TABLE spans ADD COLUMN trace_seq INTEGER NOT NULL DEFAULT 0;
UPDATE spans SET trace_seq = (SELECT seq FROM traces WHERE traces.trace_id = spans.trace_id);
DROP INDEX spans_trace;
CREATE INDEX spans_trace_seq ON spans (trace_seq, span_id);

-- 0: a log record outside any trace.
ALTER TABLE logs ADD COLUMN trace_seq INTEGER NOT NULL DEFAULT 0;
UPDATE logs SET trace_seq = (SELECT seq FROM traces WHERE traces.trace_id = logs.trace_id)
    WHERE trace_id != '';
DROP INDEX logs_trace;
CREATE INDEX logs_trace_seq ON logs (trace_seq, time_us);

CREATE TABLE pending_edges_by_seq (
    trace_seq      INTEGER NOT NULL,
    parent_span_id TEXT    NOT NULL,
    span_id        TEXT    NOT NULL,
    service        TEXT    NOT NULL,
    start_us       INTEGER NOT NULL,
    error          INTEGER NOT NULL,
    stored_us      INTEGER NOT NULL,
    PRIMARY KEY (trace_seq, parent_span_id, span_id)
) WITHOUT ROWID;
INSERT INTO pending_edges_by_seq
    SELECT t.seq, p.parent_span_id, p.span_id, p.service, p.start_us, p.error, p.stored_us
    FROM pending_edges p JOIN traces t ON t.trace_id = p.trace_id;
DROP TABLE pending_edges;
ALTER TABLE pending_edges_by_seq RENAME TO pending_edges;
