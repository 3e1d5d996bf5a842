DROP TABLE consent_events;
DROP TABLE webhook_deliveries;
DROP INDEX sms_messages_provider_id_key;
CREATE UNIQUE INDEX sms_messages_provider_id_key ON sms_messages (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
DROP INDEX sms_threads_candidate_idx;
DROP INDEX sms_threads_unread_idx;
DROP INDEX sms_threads_activity_idx;
ALTER TABLE sms_threads DROP COLUMN candidate_ambiguous;
