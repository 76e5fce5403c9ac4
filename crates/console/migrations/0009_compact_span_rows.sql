-- Span rows keep only what the indexes and the statistics read, as integers: span ids as their
-- 64 bits (0: no parent), service and operation names as ids in `names`. The text columns made
-- each row and index entry three to four times the size. The rows of the table before are
-- copied by the console when it opens the database, after moving any detail they still hold
-- into blocks (store/blocks/migrate.rs), keeping their ids (blocks are found by row id); then
-- it drops `spans_before_0009`.
DROP INDEX spans_trace_seq;
DROP INDEX spans_service_start;
DROP INDEX spans_service_operation_start;
ALTER TABLE spans RENAME TO spans_before_0009;

CREATE TABLE names (
    id   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);

CREATE TABLE spans (
    id             INTEGER PRIMARY KEY,
    trace_seq      INTEGER NOT NULL,
    span_id        INTEGER NOT NULL,
    parent_span_id INTEGER NOT NULL,
    service        INTEGER NOT NULL,
    operation      INTEGER NOT NULL,
    kind           INTEGER NOT NULL,
    start_us       INTEGER NOT NULL,
    duration_us    INTEGER NOT NULL,
    status_code    INTEGER NOT NULL
);
CREATE INDEX spans_trace_seq ON spans (trace_seq, span_id);
CREATE INDEX spans_service_start ON spans (service, start_us);
CREATE INDEX spans_service_operation_start ON spans (service, operation, start_us);
