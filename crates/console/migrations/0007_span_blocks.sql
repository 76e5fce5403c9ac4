-- Spans stored whole in compressed blocks (store/blocks.rs): a block holds the spans of the
-- row ids first_span_id .. first_span_id + span_count - 1, and a Bloom filter of their tags
-- for tag searches. Span rows keep what the indexes and statistics read; their detail columns
-- (status_message .. scope_version, tags) are left empty. Rows stored before are moved into
-- blocks by the console when it opens the database (store/blocks/migrate.rs).
CREATE TABLE span_blocks (
    first_span_id INTEGER PRIMARY KEY,
    span_count    INTEGER NOT NULL,
    min_start_us  INTEGER NOT NULL,
    max_start_us  INTEGER NOT NULL,
    filter        BLOB    NOT NULL,
    data          BLOB    NOT NULL
);
