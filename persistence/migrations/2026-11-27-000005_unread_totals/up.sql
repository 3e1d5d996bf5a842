-- The organization's unread replies in one row, kept with the threads' counts in the
-- same transactions: the inbox shows the total without summing every unread thread.
CREATE TABLE sms_unread_totals (
    organization_id TEXT PRIMARY KEY NOT NULL,
    unread BIGINT NOT NULL
);
INSERT INTO sms_unread_totals (organization_id, unread)
SELECT organization_id, SUM(unread_count) FROM sms_threads
WHERE unread_count > 0 GROUP BY organization_id;
