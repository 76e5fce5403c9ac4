-- Payments are made from order.created events; an authorisation is voided when its order is
-- cancelled (a new status, so the table is rebuilt with the wider CHECK).
CREATE TABLE payments_v2 (
    order_id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('authorized', 'declined', 'voided')),
    reason TEXT,
    created_at TEXT NOT NULL,
    voided_at TEXT
);
INSERT INTO payments_v2 (order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at)
    SELECT order_id, payment_id, user_id, amount_minor, currency, status, reason, created_at FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v2 RENAME TO payments;
