-- Spans of a trace beyond the console's per-trace limit are not stored: each trace counts the
-- spans it dropped, so that answers can say they are truncated and by how much. `span_count`
-- keeps counting the spans stored.
ALTER TABLE traces ADD COLUMN dropped_spans INTEGER NOT NULL DEFAULT 0;
