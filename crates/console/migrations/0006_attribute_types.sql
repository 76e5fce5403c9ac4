-- The value types each span attribute key has been stored with, a bit per type (1 string,
-- 2 integer, 4 double, 8 boolean), so that a tag search looks for a value only in the forms
-- that key's values take in the attributes JSON (store/tag_search.rs). Spans stored before
-- this table have their `tags` column filled and are searched in it, as they were.
CREATE TABLE attribute_types (
    key   TEXT    PRIMARY KEY,
    types INTEGER NOT NULL
) WITHOUT ROWID;
