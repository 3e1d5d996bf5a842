//! SMS threads: one per candidate phone number within an organization.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use super::ROWS_PER_STATEMENT;
use crate::db::run;
use crate::schema::{sms_threads, sms_unread_totals};
use crate::{DbConn, PersistenceError};

/// A stored thread.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_threads, treat_none_as_default_value = false)]
pub struct Thread {
    pub id: String,
    pub organization_id: String,
    pub phone: String,
    pub candidate_id: Option<String>,
    pub unread_count: i32,
    pub last_message_at: Option<NaiveDateTime>,
    pub last_message_preview: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Several of the organization's candidates have this number; `candidate_id` is
    /// the one most recently messaged.
    pub candidate_ambiguous: bool,
    /// The member who works the thread; `None` while it is the team's.
    pub assignee_id: Option<String>,
    /// The latest message is a reply: the candidate waits for an answer.
    pub needs_reply: bool,
}

/// Thread `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Thread>, PersistenceError> {
    Ok(run!(conn, |c| sms_threads::table
        .filter(sms_threads::organization_id.eq(organization_id))
        .filter(sms_threads::id.eq(id))
        .select(Thread::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The organization's threads whose `column` is any of `values`, 500 values a statement.
macro_rules! threads_where_any {
    ($conn:expr, $organization_id:expr, $column:expr, $values:expr) => {{
        let mut found = Vec::with_capacity($values.len());
        for chunk in $values.chunks(500) {
            let rows: Vec<Thread> = run!($conn, |c| sms_threads::table
                .filter(sms_threads::organization_id.eq($organization_id))
                .filter($column.eq_any(chunk))
                .select(Thread::as_select())
                .load(c)
                .await)?;
            found.extend(rows);
        }
        Ok(found)
    }};
}

/// The organization's threads linked to any of `candidate_ids`.
pub async fn find_by_candidates(
    conn: &mut DbConn,
    organization_id: &str,
    candidate_ids: &[String],
) -> Result<Vec<Thread>, PersistenceError> {
    threads_where_any!(
        conn,
        organization_id,
        sms_threads::candidate_id,
        candidate_ids
    )
}

/// A thread wanted for an outgoing message: its number, and the candidate messaged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WantedThread {
    /// The id to give the thread if it has to be created.
    pub id: String,
    pub phone: String,
    pub candidate_id: Option<String>,
    /// The text of the message about to be stored: the thread's newest.
    pub preview: String,
}

const UPSERT_POSTGRES: &str = "
INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                         last_message_at, last_message_preview, created_at, updated_at,
                         assignee_id, needs_reply)
SELECT v.id, $5, v.phone, v.candidate_id, 0, $6, v.preview, $6, $6, $7, FALSE
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS v(id, phone, candidate_id, preview)
ON CONFLICT (organization_id, phone) DO UPDATE
SET candidate_id = COALESCE(EXCLUDED.candidate_id, sms_threads.candidate_id),
    last_message_at = EXCLUDED.last_message_at,
    last_message_preview = EXCLUDED.last_message_preview,
    updated_at = EXCLUDED.updated_at,
    assignee_id = COALESCE(sms_threads.assignee_id, EXCLUDED.assignee_id),
    needs_reply = FALSE
RETURNING id, phone";

const UPSERT_SQLITE: &str = "
INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                         last_message_at, last_message_preview, created_at, updated_at,
                         assignee_id, needs_reply)
SELECT json_extract(value, '$.id'), ?2, json_extract(value, '$.phone'),
       json_extract(value, '$.candidate_id'), 0, ?3, json_extract(value, '$.preview'), ?3, ?3,
       ?4, FALSE
FROM json_each(?1) WHERE true
ON CONFLICT (organization_id, phone) DO UPDATE
SET candidate_id = COALESCE(excluded.candidate_id, sms_threads.candidate_id),
    last_message_at = excluded.last_message_at,
    last_message_preview = excluded.last_message_preview,
    updated_at = excluded.updated_at,
    assignee_id = COALESCE(sms_threads.assignee_id, excluded.assignee_id),
    needs_reply = FALSE
RETURNING id, phone";

#[derive(QueryableByName)]
struct ThreadKey {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    phone: String,
}

/// The thread of each wanted phone (distinct phones), created when missing, linked to
/// the candidate messaged now (the most recently messaged candidate wins) and showing
/// the new message as its newest (so no longer waiting for an answer): one statement
/// per [`ROWS_PER_STATEMENT`] threads. A thread without an assignee is assigned to `sender_id`; an
/// assigned one keeps its assignee. Returns phone → thread id.
pub async fn upsert_for_sending(
    conn: &mut DbConn,
    organization_id: &str,
    wanted: &[WantedThread],
    sender_id: &str,
    now: NaiveDateTime,
) -> Result<HashMap<String, String>, PersistenceError> {
    if wanted.is_empty() {
        return Ok(Default::default());
    }
    let mut keys: Vec<ThreadKey> = Vec::with_capacity(wanted.len());
    for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
        let found: Vec<ThreadKey> = match conn {
            DbConn::Postgres(object) => {
                let text =
                    |field: fn(&WantedThread) -> &str| chunk.iter().map(field).collect::<Vec<_>>();
                diesel::sql_query(UPSERT_POSTGRES)
                    .bind::<Array<Text>, _>(text(|thread| &thread.id))
                    .bind::<Array<Text>, _>(text(|thread| &thread.phone))
                    .bind::<Array<Nullable<Text>>, _>(
                        chunk
                            .iter()
                            .map(|thread| thread.candidate_id.as_deref())
                            .collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(text(|thread| &thread.preview))
                    .bind::<Text, _>(organization_id)
                    .bind::<Timestamp, _>(now)
                    .bind::<Text, _>(sender_id)
                    .load(&mut **object)
                    .await?
            }
            DbConn::Sqlite(object) => {
                let rows = serde_json::to_string(chunk)
                    .map_err(|error| PersistenceError::Encoding(error.to_string()))?;
                diesel::sql_query(UPSERT_SQLITE)
                    .bind::<Text, _>(rows)
                    .bind::<Text, _>(organization_id)
                    .bind::<Timestamp, _>(now)
                    .bind::<Text, _>(sender_id)
                    .load(&mut **object)
                    .await?
            }
        };
        keys.extend(found);
    }
    Ok(keys.into_iter().map(|key| (key.phone, key.id)).collect())
}

/// Links the organization's thread with `phone` to `candidate_id` when no candidate
/// owns it yet (replies from a number before anyone added the candidate); a thread
/// already linked to a candidate stays theirs. True when a thread was linked.
pub async fn link_unowned(
    conn: &mut DbConn,
    organization_id: &str,
    phone: &str,
    candidate_id: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let linked = run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::phone.eq(phone))
            .filter(sms_threads::candidate_id.is_null())
    )
    .set((
        sms_threads::candidate_id.eq(candidate_id),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(linked > 0)
}

/// The organization's threads with any of `phones`.
pub async fn find_by_phones(
    conn: &mut DbConn,
    organization_id: &str,
    phones: &[String],
) -> Result<Vec<Thread>, PersistenceError> {
    threads_where_any!(conn, organization_id, sms_threads::phone, phones)
}

/// The thread a reply lands in: its number, and the candidate to link when the thread
/// has none yet.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplyThread {
    /// The id to give the thread if it has to be created.
    pub id: String,
    pub phone: String,
    pub candidate_id: Option<String>,
    /// Several candidates have this number.
    pub candidate_ambiguous: bool,
}

const ENSURE_POSTGRES: &str = "
INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                         last_message_at, last_message_preview, created_at, updated_at,
                         candidate_ambiguous)
SELECT v.id, $2, v.phone, v.candidate_id, 0, NULL, NULL, $3, $3, v.candidate_ambiguous
FROM jsonb_to_recordset($1::jsonb)
     AS v(id text, phone text, candidate_id text, candidate_ambiguous boolean)
ON CONFLICT (organization_id, phone) DO UPDATE
SET candidate_id = COALESCE(sms_threads.candidate_id, EXCLUDED.candidate_id),
    candidate_ambiguous = EXCLUDED.candidate_ambiguous
RETURNING id, phone, candidate_id";

const ENSURE_SQLITE: &str = "
INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count,
                         last_message_at, last_message_preview, created_at, updated_at,
                         candidate_ambiguous)
SELECT json_extract(value, '$.id'), ?2, json_extract(value, '$.phone'),
       json_extract(value, '$.candidate_id'), 0, NULL, NULL, ?3, ?3,
       json_extract(value, '$.candidate_ambiguous')
FROM json_each(?1) WHERE true
ON CONFLICT (organization_id, phone) DO UPDATE
SET candidate_id = COALESCE(sms_threads.candidate_id, excluded.candidate_id),
    candidate_ambiguous = excluded.candidate_ambiguous
RETURNING id, phone, candidate_id";

/// A thread's id and the candidate it is linked to.
#[derive(Debug, Clone, QueryableByName)]
pub struct ThreadLink {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub id: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub phone: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub candidate_id: Option<String>,
}

/// The thread of each reply's number (distinct phones), created when missing; a thread
/// without a candidate is linked to the one given, a linked thread keeps its candidate.
/// One statement for the whole set.
pub async fn ensure_for_replies(
    conn: &mut DbConn,
    organization_id: &str,
    wanted: &[ReplyThread],
    now: NaiveDateTime,
) -> Result<Vec<ThreadLink>, PersistenceError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let rows = serde_json::to_string(wanted)
        .map_err(|error| PersistenceError::Encoding(error.to_string()))?;
    Ok(match conn {
        DbConn::Postgres(object) => {
            diesel::sql_query(ENSURE_POSTGRES)
                .bind::<diesel::sql_types::Text, _>(rows)
                .bind::<diesel::sql_types::Text, _>(organization_id)
                .bind::<diesel::sql_types::Timestamp, _>(now)
                .load(&mut **object)
                .await?
        }
        DbConn::Sqlite(object) => {
            diesel::sql_query(ENSURE_SQLITE)
                .bind::<diesel::sql_types::Text, _>(rows)
                .bind::<diesel::sql_types::Text, _>(organization_id)
                .bind::<diesel::sql_types::Timestamp, _>(now)
                .load(&mut **object)
                .await?
        }
    })
}

/// New replies in one thread: how many, and the newest one's text.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplyActivity {
    pub thread_id: String,
    pub replies: i32,
    pub preview: String,
}

const RECORD_REPLIES_POSTGRES: &str = "
UPDATE sms_threads t
SET unread_count = t.unread_count + v.replies, last_message_at = $2,
    last_message_preview = v.preview, updated_at = $2, needs_reply = TRUE
FROM jsonb_to_recordset($1::jsonb) AS v(thread_id text, replies integer, preview text)
WHERE t.id = v.thread_id
  -- PostgreSQL cannot see how many rows the JSON holds and would scan every thread;
  -- the id list lets it look each one up by key.
  AND t.id = ANY($3::text[])";

const RECORD_REPLIES_SQLITE: &str = "
UPDATE sms_threads
SET unread_count = unread_count + v.replies, last_message_at = ?2,
    last_message_preview = v.preview, updated_at = ?2, needs_reply = TRUE
FROM (SELECT json_extract(value, '$.thread_id') AS thread_id,
             json_extract(value, '$.replies') AS replies,
             json_extract(value, '$.preview') AS preview
      FROM json_each(?1)) AS v
WHERE sms_threads.id = v.thread_id";

/// Counts new replies as unread in their threads and shows the newest as each thread's
/// last message, one that waits for an answer; the organization's total is the caller's to add ([`add_unread`]).
pub async fn record_replies(
    conn: &mut DbConn,
    activity: &[ReplyActivity],
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    if activity.is_empty() {
        return Ok(());
    }
    let rows = serde_json::to_string(activity)
        .map_err(|error| PersistenceError::Encoding(error.to_string()))?;
    match conn {
        DbConn::Postgres(object) => {
            let ids: Vec<&str> = activity
                .iter()
                .map(|thread| thread.thread_id.as_str())
                .collect();
            diesel::sql_query(RECORD_REPLIES_POSTGRES)
                .bind::<diesel::sql_types::Text, _>(rows)
                .bind::<diesel::sql_types::Timestamp, _>(now)
                .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
                .execute(&mut **object)
                .await?
        }
        DbConn::Sqlite(object) => {
            diesel::sql_query(RECORD_REPLIES_SQLITE)
                .bind::<diesel::sql_types::Text, _>(rows)
                .bind::<diesel::sql_types::Timestamp, _>(now)
                .execute(&mut **object)
                .await?
        }
    };
    Ok(())
}

/// Adds `replies` (negative to remove) to the organization's unread total. The row is
/// one per organization: concurrent writers wait for each other on it, so add late in
/// a transaction.
pub async fn add_unread(
    conn: &mut DbConn,
    organization_id: &str,
    replies: i64,
) -> Result<(), PersistenceError> {
    use diesel::upsert::excluded;
    run!(conn, |c| diesel::insert_into(sms_unread_totals::table)
        .values((
            sms_unread_totals::organization_id.eq(organization_id),
            sms_unread_totals::unread.eq(replies),
        ))
        .on_conflict(sms_unread_totals::organization_id)
        .do_update()
        .set(
            sms_unread_totals::unread
                .eq(sms_unread_totals::unread + excluded(sms_unread_totals::unread))
        )
        .execute(c)
        .await)?;
    Ok(())
}

/// Assigns thread `id` of the organization to user `assignee_id` (`None`: to nobody).
/// False when the organization has no such thread.
pub async fn set_assignee(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    assignee_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::id.eq(id))
    )
    .set((
        sms_threads::assignee_id.eq(assignee_id),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

/// Gives every thread of the organization assigned to `user_id` back to the team (no
/// assignee); how many there were.
pub async fn unassign_user(
    conn: &mut DbConn,
    organization_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<usize, PersistenceError> {
    Ok(run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::assignee_id.eq(user_id))
    )
    .set((
        sms_threads::assignee_id.eq(None::<String>),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?)
}

/// The assignee of each of the organization's threads `ids` (absent: no such thread;
/// `None`: unassigned).
pub async fn assignees(
    conn: &mut DbConn,
    organization_id: &str,
    ids: &[&str],
) -> Result<HashMap<String, Option<String>>, PersistenceError> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, Option<String>)> = run!(conn, |c| sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::id.eq_any(chunk))
            .select((sms_threads::id, sms_threads::assignee_id))
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}
