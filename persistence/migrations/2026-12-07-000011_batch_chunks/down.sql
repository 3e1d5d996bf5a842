DROP TABLE sms_batch_chunks;
