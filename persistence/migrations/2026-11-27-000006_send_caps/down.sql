DROP TABLE sms_daily_sends;
ALTER TABLE organizations DROP COLUMN daily_send_cap;
