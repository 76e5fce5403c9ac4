-- The saga: orders move from created to confirmed or cancelled through events; the read model
-- says when its status changed and why an order was cancelled. Each event records its cause
-- (a request or a message) and the trace that made it.
ALTER TABLE orders ADD COLUMN status_changed_at TEXT;
ALTER TABLE orders ADD COLUMN cancellation_reason TEXT;
ALTER TABLE orders ADD COLUMN payment_id TEXT;
ALTER TABLE orders ADD COLUMN reservation_expires_at TEXT;
UPDATE orders SET status_changed_at = created_at;
ALTER TABLE order_events ADD COLUMN cause TEXT;
ALTER TABLE order_events ADD COLUMN trace_id TEXT;

-- The first outbox was written but never relayed: its messages move to the shared messaging
-- tables (created by their own migrations before these), to be delivered to payment now.
INSERT INTO event_outbox (id, destination, topic, message_key, payload, headers, created_at, due_at, next_attempt_at)
    SELECT id, 'payment-service', topic, json_extract(payload, '$.order_id'), payload, headers, created_at,
           CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000
    FROM outbox WHERE published_at IS NULL ORDER BY created_at;
DROP TABLE outbox;
