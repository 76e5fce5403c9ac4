-- Payments on PostgreSQL: one per order, made from order.created events; an authorisation is
-- voided when its order is cancelled. Times are RFC 3339 text, as the API shows them.
CREATE TABLE payments (
    order_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'declined', 'voided')),
    reason TEXT,
    created_at TEXT NOT NULL,
    voided_at TEXT
);
