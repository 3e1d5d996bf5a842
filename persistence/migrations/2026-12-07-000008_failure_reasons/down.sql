ALTER TABLE candidates DROP COLUMN not_mobile_phone;
ALTER TABLE sms_messages DROP COLUMN provider_error_code;
ALTER TABLE sms_messages DROP COLUMN failure_reason;
