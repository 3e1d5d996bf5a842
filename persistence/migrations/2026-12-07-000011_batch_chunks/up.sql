-- A bulk send's accepted messages, a thousand to a row, until the outbox writes them as
-- messages: the request stores these few rows and answers at once, and writing ten
-- thousand threads, messages and events happens after the answer (docs/scaling.md
-- "Bulk sends"). A chunk is deleted in the transaction that writes its messages.
CREATE TABLE sms_batch_chunks (
    batch_id TEXT NOT NULL REFERENCES sms_batches (id),
    seq INTEGER NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    provider TEXT NOT NULL,
    from_number TEXT NOT NULL,
    template_id TEXT,
    sent_by TEXT NOT NULL,
    -- JSON array of {candidate_id, phone, body, send_at, held}.
    messages TEXT NOT NULL,
    -- How many of `messages` go out at once and how many are scheduled, for the
    -- batch's progress before they are written.
    queued INTEGER NOT NULL,
    scheduled INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (batch_id, seq)
);
-- Oldest first, for the outbox; by provider, for a deactivation.
CREATE INDEX sms_batch_chunks_age_idx ON sms_batch_chunks (created_at, batch_id, seq);
CREATE INDEX sms_batch_chunks_provider_idx ON sms_batch_chunks (organization_id, provider);
