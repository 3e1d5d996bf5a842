-- Several candidates may share a number: the thread links the one most recently
-- messaged and says so, for the SPA to show.
ALTER TABLE sms_threads ADD COLUMN candidate_ambiguous BOOLEAN NOT NULL DEFAULT FALSE;
-- The inbox: newest activity first, keyset-paginated.
CREATE INDEX sms_threads_activity_idx ON sms_threads (organization_id, last_message_at DESC, id DESC);
-- The total of unread replies sums only the threads that have some.
CREATE INDEX sms_threads_unread_idx ON sms_threads (organization_id) WHERE unread_count > 0;
CREATE INDEX sms_threads_candidate_idx ON sms_threads (organization_id, candidate_id);

-- Provider message ids are unique per organization: a tenant holding its own webhook
-- token can never make another tenant's message look like a repeat.
DROP INDEX sms_messages_provider_id_key;
CREATE UNIQUE INDEX sms_messages_provider_id_key
    ON sms_messages (organization_id, provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Every webhook delivery as it arrived, with what became of it. No foreign key: it is
-- written on the webhook hot path.
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('inbound', 'receipt')),
    provider_message_id TEXT,
    content_type TEXT,
    payload TEXT NOT NULL,
    outcome TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (organization_id, received_at);
CREATE INDEX webhook_deliveries_message_idx ON webhook_deliveries (provider, provider_message_id);

-- Opt-out and opt-in history: who changed a candidate's consent, when, and how.
CREATE TABLE consent_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    candidate_id TEXT NOT NULL,
    opted_out BOOLEAN NOT NULL,
    source TEXT NOT NULL,
    message_id TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX consent_events_candidate_idx ON consent_events (organization_id, candidate_id, id);
