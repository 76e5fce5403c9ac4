CREATE TABLE stock (
    product_id INTEGER PRIMARY KEY,
    available INTEGER NOT NULL CHECK (available >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX reservations_expiry ON reservations (status, expires_at);
CREATE TABLE reservation_items (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    product_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);
