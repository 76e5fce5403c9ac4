-- Inbox rows are purged once they are older than any redelivery of their message can be (see
-- RelaySettings::inbox_retention): the purge finds them by time.
CREATE INDEX event_inbox_received ON event_inbox (received_at);
