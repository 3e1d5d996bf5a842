DROP TABLE idempotency_keys;
DROP TABLE sms_message_events;
DROP TABLE sms_messages;
DROP TABLE sms_batches;
DROP TABLE sms_threads;
DROP TABLE sms_templates;
DROP TABLE candidates;
DROP TABLE jobs;
