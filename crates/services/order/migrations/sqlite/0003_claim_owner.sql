-- Which running order service claimed a pending idempotency key: a claim whose owner is not
-- the service now running was left by a process that is gone, and is taken over at once.
-- Claims written before this column existed have no owner, and are taken over too.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
