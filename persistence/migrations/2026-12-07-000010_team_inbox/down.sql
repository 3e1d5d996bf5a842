DROP INDEX sms_threads_unread_assignee_idx;
DROP INDEX sms_threads_needs_reply_idx;
DROP INDEX sms_threads_unassigned_idx;
DROP INDEX sms_threads_assignee_idx;
ALTER TABLE sms_threads DROP COLUMN needs_reply;
ALTER TABLE sms_threads DROP COLUMN assignee_id;
