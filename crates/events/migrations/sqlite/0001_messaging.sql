-- Messages waiting to be delivered, one row per message and destination, written in the same
-- transaction as the change they announce. Times are microseconds since the Unix epoch.
CREATE TABLE event_outbox (
    -- Write order (a new row always gets a higher seq than every row present).
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    destination TEXT NOT NULL,
    topic TEXT NOT NULL,
    -- Messages with the same key are delivered in the order they were written (NULL: no order).
    message_key TEXT,
    payload TEXT NOT NULL,
    -- traceparent, tracestate and baggage of the span that wrote it, as a JSON object.
    headers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- When it first became deliverable (later than created_at for a scheduled message).
    due_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Attempts that reached the consumer and failed: these count toward dead-lettering.
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    published_at INTEGER,
    UNIQUE (id, destination)
);
CREATE INDEX event_outbox_due ON event_outbox (next_attempt_at) WHERE published_at IS NULL;
CREATE INDEX event_outbox_key ON event_outbox (message_key, destination, seq) WHERE published_at IS NULL;

-- Messages to be published later (e.g. "this order's reservation has expired"), moved to the
-- outbox when due; deleting one before then cancels it.
CREATE TABLE event_schedule (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    message_key TEXT,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    due_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX event_schedule_due ON event_schedule (due_at);

-- Messages this service has handled, recorded in the transaction of their effect.
CREATE TABLE event_inbox (
    message_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Messages whose delivery failed too often, kept with their last error until replayed or
-- discarded.
CREATE TABLE event_dead_letters (
    id TEXT NOT NULL,
    destination TEXT NOT NULL,
    topic TEXT NOT NULL,
    message_key TEXT,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    dead_at INTEGER NOT NULL,
    PRIMARY KEY (id, destination)
);
