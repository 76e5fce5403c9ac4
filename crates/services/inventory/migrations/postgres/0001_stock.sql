CREATE TABLE stock (
    product_id BIGINT PRIMARY KEY,
    available BIGINT NOT NULL CHECK (available >= 0),
    reserved BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0)
);
CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX reservations_expiry ON reservations (status, expires_at);
CREATE TABLE reservation_items (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);
