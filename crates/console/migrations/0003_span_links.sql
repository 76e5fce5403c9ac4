-- Span links indexed in both directions, so that the traces one trace links to, and the traces
-- that link to it, are found without reading every span's `links` JSON: one row per (linking
-- span, linked span). The linking side is keyed by its trace's number, like spans: the rows of
-- a new trace land on the newest pages and retention deletes them by number. The linked side
-- is a trace id, because the linked trace may arrive later, never, or be deleted already; its
-- index takes a random page per row, paid only by the few spans that carry links.

CREATE TABLE span_links (
    trace_seq       INTEGER NOT NULL,
    span_id         TEXT    NOT NULL,
    linked_trace_id TEXT    NOT NULL,
    linked_span_id  TEXT    NOT NULL,
    PRIMARY KEY (trace_seq, span_id, linked_trace_id, linked_span_id)
) WITHOUT ROWID;
CREATE INDEX span_links_linked ON span_links (linked_trace_id);

-- Links stored before this table, read back from their JSON: one pass over the spans, and JSON
-- parsed only where a span has links. Ids that are not whole and non-zero are left out, as at
-- ingest.
INSERT OR IGNORE INTO span_links (trace_seq, span_id, linked_trace_id, linked_span_id)
    SELECT s.trace_seq, s.span_id, json_extract(l.value, '$.trace_id'),
           json_extract(l.value, '$.span_id')
    FROM spans s, json_each(s.links) l
    WHERE s.links != '[]' AND json_valid(s.links) AND s.trace_seq != 0
      AND length(json_extract(l.value, '$.trace_id')) = 32
      AND json_extract(l.value, '$.trace_id') != '00000000000000000000000000000000'
      AND length(json_extract(l.value, '$.span_id')) = 16
      AND json_extract(l.value, '$.span_id') != '0000000000000000';
