-- Why a message failed or went undelivered, from a closed set (the domain's
-- FailureReason), and the provider's own code beside it; the provider's text stays in
-- status_reason.
ALTER TABLE sms_messages ADD COLUMN failure_reason TEXT;
ALTER TABLE sms_messages ADD COLUMN provider_error_code TEXT;
-- Messages that failed before reasons were kept: their reason is not known.
UPDATE sms_messages SET failure_reason = 'unknown' WHERE status IN ('failed', 'undelivered');

-- The number a provider found cannot take SMS (a landline). The candidate is flagged
-- while it is still their number; a new number clears the flag by itself.
ALTER TABLE candidates ADD COLUMN not_mobile_phone TEXT;
