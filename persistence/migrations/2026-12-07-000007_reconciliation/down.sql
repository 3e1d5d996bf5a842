DROP INDEX sms_messages_awaiting_receipt_idx;
ALTER TABLE sms_messages DROP COLUMN status_checked_at;
DROP TABLE provider_sync;
