CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    title TEXT NOT NULL,
    -- JSON array of stage names, in board order.
    stages TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_organization_idx ON jobs (organization_id, id);

CREATE TABLE candidates (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    job_id TEXT REFERENCES jobs (id),
    stage TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    phone TEXT,
    email TEXT,
    sms_opted_out BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX candidates_organization_idx ON candidates (organization_id, id);
CREATE INDEX candidates_job_idx ON candidates (organization_id, job_id);
CREATE INDEX candidates_phone_idx ON candidates (organization_id, phone);

CREATE TABLE sms_templates (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sms_templates_organization_idx ON sms_templates (organization_id, id);

CREATE TABLE sms_threads (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    phone TEXT NOT NULL,
    -- No foreign key: bulk sends upsert thousands of threads at once (see sms_messages).
    candidate_id TEXT,
    unread_count INTEGER NOT NULL,
    last_message_at TIMESTAMP,
    last_message_preview TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX sms_threads_phone_key ON sms_threads (organization_id, phone);

CREATE TABLE sms_batches (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    created_by TEXT NOT NULL REFERENCES users (id),
    requested INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    -- JSON array of {candidate_id, reason}.
    skipped TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE sms_messages (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    thread_id TEXT NOT NULL REFERENCES sms_threads (id),
    -- No foreign keys beyond organization and thread: a bulk send writes thousands of
    -- rows at once and each key costs a lookup per row; the service sets these ids.
    candidate_id TEXT,
    batch_id TEXT,
    direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    body TEXT NOT NULL,
    encoding TEXT NOT NULL,
    segments INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_reason TEXT,
    provider TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    provider_message_id TEXT,
    price TEXT,
    sent_by TEXT,
    template_id TEXT,
    send_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    lease_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The dispatcher's claim: due messages in order.
CREATE INDEX sms_messages_due_idx ON sms_messages (status, next_attempt_at);
CREATE INDEX sms_messages_thread_idx ON sms_messages (thread_id, id);
CREATE INDEX sms_messages_batch_idx ON sms_messages (batch_id);
-- Partial: rows not yet handed over (no provider id) cost this index nothing.
CREATE UNIQUE INDEX sms_messages_provider_id_key ON sms_messages (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE sms_message_events (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sms_message_events_message_idx ON sms_message_events (message_id, id);

CREATE TABLE idempotency_keys (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key TEXT NOT NULL,
    request_hash BYTEA NOT NULL,
    response_status INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, key)
);
