-- The team inbox: who works a thread, and whether its latest message is a reply that
-- waits for an answer. No foreign key on the assignee, as for the thread's candidate:
-- bulk sends upsert thousands of threads at once (the service checks membership).
ALTER TABLE sms_threads ADD COLUMN assignee_id TEXT;
ALTER TABLE sms_threads ADD COLUMN needs_reply BOOLEAN NOT NULL DEFAULT FALSE;
-- Message ids are time-ordered: the highest is the thread's latest message.
UPDATE sms_threads SET needs_reply = COALESCE((
    SELECT m.direction = 'inbound' FROM sms_messages m
    WHERE m.thread_id = sms_threads.id
    ORDER BY m.id DESC LIMIT 1), FALSE);
-- `assignee=me|<uuid>`: one member's threads, newest activity first.
CREATE INDEX sms_threads_assignee_idx
    ON sms_threads (organization_id, assignee_id, last_message_at DESC, id DESC);
-- `assignee=none`: a partial index, because a planner does not take `IS NULL` as an
-- equality that keeps the activity order of the index above.
CREATE INDEX sms_threads_unassigned_idx
    ON sms_threads (organization_id, last_message_at DESC, id DESC) WHERE assignee_id IS NULL;
-- `needs_reply=true`: only the threads waiting for an answer.
CREATE INDEX sms_threads_needs_reply_idx
    ON sms_threads (organization_id, last_message_at DESC, id DESC) WHERE needs_reply;
-- `unread_mine` sums the caller's threads that have unread replies, and no others.
CREATE INDEX sms_threads_unread_assignee_idx
    ON sms_threads (organization_id, assignee_id, unread_count) WHERE unread_count > 0;
