-- The messaging tables on PostgreSQL: the same rows as on SQLite. Times the relay compares are
-- microseconds since the Unix epoch; times people read are RFC 3339 text.

-- Messages waiting to be delivered, one row per message and destination, written in the same
-- transaction as the change they announce.
CREATE TABLE event_outbox (
    -- Write order. Transactions take their numbers before they commit, so a key's order holds
    -- because the writers of one key serialise on its rows (an order's, a payment's).
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    due_at BIGINT NOT NULL,
    -- When a relay may take it: its next retry, or the end of the claim of the relay that
    -- holds it (a relay that died mid-delivery leaves it to another one then).
    next_attempt_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    -- Attempts that reached the consumer and failed: these count toward dead-lettering.
    failures BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    published_at BIGINT,
    UNIQUE (id, destination)
);
CREATE INDEX event_outbox_due ON event_outbox (next_attempt_at) WHERE published_at IS NULL;
CREATE INDEX event_outbox_key ON event_outbox (message_key, destination, seq) WHERE published_at IS NULL;

-- Messages to be published later, moved to the outbox when due; deleting one before then
-- cancels it.
CREATE TABLE event_schedule (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    message_key TEXT,
    payload TEXT NOT NULL,
    headers TEXT NOT NULL,
    created_at TEXT NOT NULL,
    due_at BIGINT NOT NULL
);
CREATE INDEX event_schedule_due ON event_schedule (due_at);

-- Messages this service has handled, recorded in the transaction of their effect; purged by
-- time once no redelivery can come (RelaySettings::inbox_retention).
CREATE TABLE event_inbox (
    message_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX event_inbox_received ON event_inbox (received_at);

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
    attempts BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    dead_at BIGINT NOT NULL,
    PRIMARY KEY (id, destination)
);
