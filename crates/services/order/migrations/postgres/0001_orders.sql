-- Orders on PostgreSQL, in their final shape (SQLite reaches it through its own history).
-- Each order's event stream is the source of every change; `orders` is folded from it.
-- Times are RFC 3339 text, as the API shows them; items, address and payloads are JSON text.
CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    -- Insertion order, the tie-break of a user's orders created in the same microsecond
    -- (SQLite's rowid).
    insert_seq BIGINT GENERATED ALWAYS AS IDENTITY,
    user_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    total_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    items TEXT NOT NULL,
    shipping_address TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status_changed_at TEXT,
    cancellation_reason TEXT,
    payment_id TEXT,
    reservation_expires_at TEXT
);
CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, insert_seq DESC);
CREATE INDEX orders_by_reservation ON orders (reservation_id);

CREATE TABLE order_events (
    event_id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cause TEXT,
    trace_id TEXT,
    UNIQUE (order_id, seq)
);

-- A pending key is a lease held by `owner` from `created_at`: instances share this table, so
-- another instance's claim is taken over only once it is stale.
CREATE TABLE idempotency_keys (
    key TEXT PRIMARY KEY,
    request TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
    response_status BIGINT,
    response_body TEXT,
    created_at TEXT NOT NULL,
    owner TEXT
);
