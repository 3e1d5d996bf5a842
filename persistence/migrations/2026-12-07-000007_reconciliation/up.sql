-- Reconciliation with each integration's provider: how far its records have been read,
-- and which replica is reading them now (a lease, so that replicas take turns).
CREATE TABLE provider_sync (
    integration_id TEXT PRIMARY KEY NOT NULL REFERENCES integrations (id),
    synced_until TIMESTAMP NOT NULL,
    lease_expires_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

-- When reconciliation last asked the provider where a `sent` message stands, so that a
-- message without a receipt is asked about again only after a while.
ALTER TABLE sms_messages ADD COLUMN status_checked_at TIMESTAMP;
-- Messages waiting for a receipt, oldest first; every other row costs this index nothing.
CREATE INDEX sms_messages_awaiting_receipt_idx ON sms_messages (organization_id, provider, updated_at)
    WHERE status = 'sent';
