CREATE TABLE integrations (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    provider TEXT NOT NULL CHECK (provider IN ('clicksend', 'twilio')),
    active BOOLEAN NOT NULL,
    phone_number TEXT,
    username TEXT,
    secret BYTEA,
    secret_set_at TIMESTAMP,
    webhook_token BYTEA NOT NULL,
    webhook_token_hash BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX integrations_provider_key ON integrations (organization_id, provider);
-- At most one active provider per organization, whatever the application does.
CREATE UNIQUE INDEX integrations_one_active_key ON integrations (organization_id) WHERE active;
CREATE UNIQUE INDEX integrations_webhook_token_key ON integrations (webhook_token_hash);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    actor_user_id TEXT REFERENCES users (id),
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    details TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_organization_idx ON audit_log (organization_id, id);
