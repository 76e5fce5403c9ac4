-- Message edges on the service map. A message's consumer starts a trace of its own, linked to
-- its producer's span rather than its child, so parent/child pairs never connect the two
-- services: a consumer span's link to a span of another service is an edge of its own kind,
-- producer's service -> consumer's service, in the consumer span's minute.
--
-- A `kind` column ('call' or 'message') rather than a table of message edges: one upsert
-- statement, one retention rule and one GROUP BY serve both, and the table stays small (a row
-- per minute per pair of services and kind). `kind` joins the primary key, which SQLite cannot
-- alter, so the table is rebuilt; its rows so far are calls. On a message edge, `calls`
-- counts the messages handled and `errors` those whose consumer span failed.

CREATE TABLE dependency_edges_by_kind (
    bucket_us INTEGER NOT NULL,
    parent    TEXT    NOT NULL,
    child     TEXT    NOT NULL,
    kind      TEXT    NOT NULL DEFAULT 'call' CHECK (kind IN ('call', 'message')),
    calls     INTEGER NOT NULL,
    errors    INTEGER NOT NULL,
    PRIMARY KEY (bucket_us, parent, child, kind)
) WITHOUT ROWID;
INSERT INTO dependency_edges_by_kind (bucket_us, parent, child, calls, errors)
    SELECT bucket_us, parent, child, calls, errors FROM dependency_edges;
DROP TABLE dependency_edges;
ALTER TABLE dependency_edges_by_kind RENAME TO dependency_edges;

-- Consumer spans stored before the span they link to (the producer's process exports on its
-- own schedule): the linked span's arrival turns them into edges. Keyed by the linked ids, as
-- the arriving span knows them; the linked trace may have no number yet, or never get one
-- (a producer that was not sampled), so it is a trace id. Rows are few (only linking spans
-- whose producer is late) and pruned by retention, like `pending_edges`; `trace_seq` is the
-- consumer's trace, whose deletion takes its rows along.
CREATE TABLE pending_links (
    linked_trace_id TEXT    NOT NULL,
    linked_span_id  TEXT    NOT NULL,
    trace_seq       INTEGER NOT NULL,
    span_id         TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    start_us        INTEGER NOT NULL,
    error           INTEGER NOT NULL,
    stored_us       INTEGER NOT NULL,
    PRIMARY KEY (linked_trace_id, linked_span_id, trace_seq, span_id)
) WITHOUT ROWID;
CREATE INDEX pending_links_trace_seq ON pending_links (trace_seq);

-- Message edges of the links stored so far, where both spans are: consumer spans (kind 5)
-- whose linked span is in another service. The linking spans come from the link index, so
-- spans without links are not read.
INSERT INTO dependency_edges (bucket_us, parent, child, kind, calls, errors)
    SELECT c.start_us - (c.start_us % 60000000), p.service, c.service, 'message', COUNT(*),
           SUM(c.status_code = 2)
    FROM span_links l
    JOIN spans c ON c.trace_seq = l.trace_seq AND c.span_id = l.span_id
    JOIN traces t ON t.trace_id = l.linked_trace_id
    JOIN spans p ON p.trace_seq = t.seq AND p.span_id = l.linked_span_id
    WHERE c.kind = 5 AND p.service != c.service
    GROUP BY 1, 2, 3;
