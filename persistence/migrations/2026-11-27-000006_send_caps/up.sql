-- An organization's own daily send cap; NULL follows the service's NEXTAL_DAILY_SEND_CAP.
ALTER TABLE organizations ADD COLUMN daily_send_cap INTEGER;

-- Messages accepted for sending per organization and calendar day (in the
-- organization's time zone), counted in the transaction that stores them, so the cap
-- holds across concurrent requests and replicas.
CREATE TABLE sms_daily_sends (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    day DATE NOT NULL,
    sent INTEGER NOT NULL,
    PRIMARY KEY (organization_id, day)
);
