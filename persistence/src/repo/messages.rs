//! SMS messages and their status history: the outbox the dispatcher drains.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Array, BigInt, Integer, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use nextal_domain::{Direction, Encoding, Failure, FailureReason, MessageStatus, ProviderKind};

use super::ROWS_PER_STATEMENT;
use crate::db::{batch_insert, run};
use crate::schema::{sms_message_events, sms_messages};
use crate::{DbConn, PersistenceError};

/// Messages among `ids` still claimed for hand-over (`sending`) under one of `leases`,
/// the lease values their holder gave them.
macro_rules! held_under {
    ($ids:expr, $leases:expr) => {
        sms_messages::table
            .filter(sms_messages::id.eq_any($ids))
            .filter(sms_messages::status.eq(MessageStatus::Sending))
            .filter(sms_messages::lease_expires_at.eq_any($leases))
    };
}

/// The change that cancels a message for `reason` as of `now`.
macro_rules! cancelled {
    ($reason:expr, $now:expr) => {
        (
            sms_messages::status.eq(MessageStatus::Cancelled),
            sms_messages::status_reason.eq($reason),
            sms_messages::updated_at.eq($now),
        )
    };
}

/// A stored message.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = sms_messages, treat_none_as_default_value = false)]
pub struct Message {
    pub id: String,
    pub organization_id: String,
    pub thread_id: String,
    pub candidate_id: Option<String>,
    pub batch_id: Option<String>,
    pub direction: Direction,
    pub body: String,
    pub encoding: Encoding,
    pub segments: i32,
    pub status: MessageStatus,
    pub status_reason: Option<String>,
    pub provider: ProviderKind,
    pub from_number: String,
    pub to_number: String,
    pub provider_message_id: Option<String>,
    pub price: Option<String>,
    pub sent_by: Option<String>,
    pub template_id: Option<String>,
    /// When the message may first go out.
    pub send_at: NaiveDateTime,
    /// When the dispatcher may next try it (send time, or a retry's backoff).
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    /// While `sending`: when an unfinished hand-over counts as in doubt.
    pub lease_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Why it failed or went undelivered.
    pub failure_reason: Option<FailureReason>,
    /// The provider's own code for that failure.
    pub provider_error_code: Option<String>,
}

/// One step of a message's status history.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = sms_message_events, treat_none_as_default_value = false)]
pub struct MessageEvent {
    pub id: String,
    pub message_id: String,
    pub status: MessageStatus,
    pub detail: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A message the dispatcher has claimed for hand-over.
#[derive(Debug, Clone, QueryableByName)]
pub struct Claimed {
    #[diesel(sql_type = Text)]
    pub id: String,
    #[diesel(sql_type = Text)]
    pub organization_id: String,
    #[diesel(sql_type = Text)]
    pub thread_id: String,
    #[diesel(sql_type = Text)]
    pub provider: ProviderKind,
    #[diesel(sql_type = Text)]
    pub from_number: String,
    #[diesel(sql_type = Text)]
    pub to_number: String,
    #[diesel(sql_type = Text)]
    pub body: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    /// When it was first due: transient failures are retried until long after it.
    #[diesel(sql_type = Timestamp)]
    pub send_at: NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    pub created_at: NaiveDateTime,
}

/// Ids per `IN (…)` list: keeps both backends far under their bind limits.
const INSERT_CHUNK: usize = 500;
/// Columns of `sms_messages` and `sms_message_events`, for sizing batch inserts.
const MESSAGE_COLUMNS: usize = 26;
const EVENT_COLUMNS: usize = 5;

/// PostgreSQL takes a set of rows as one array per column, unnested into rows: no
/// bind-parameter limit, and much less work per row than a multi-row VALUES list or a
/// JSON document (`jsonb_to_recordset` took three times as long for 10,000 messages).
const INSERT_MESSAGES_POSTGRES: &str = "
INSERT INTO sms_messages (id, organization_id, thread_id, candidate_id, batch_id, direction, body, encoding, segments, status, status_reason, provider, from_number, to_number, provider_message_id, price, sent_by, template_id, send_at, next_attempt_at, attempts, lease_expires_at, created_at, updated_at, failure_reason, provider_error_code)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::integer[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::timestamp[], $20::timestamp[], $21::integer[], $22::timestamp[], $23::timestamp[], $24::timestamp[], $25::text[], $26::text[])";

const INSERT_EVENTS_POSTGRES: &str = "
INSERT INTO sms_message_events (id, message_id, status, detail, created_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamp[])";

/// Stores new messages.
pub async fn insert_many(conn: &mut DbConn, messages: &[Message]) -> Result<(), PersistenceError> {
    match conn {
        DbConn::Postgres(object) => {
            for chunk in messages.chunks(ROWS_PER_STATEMENT) {
                bind_messages(INSERT_MESSAGES_POSTGRES.to_owned(), chunk)
                    .execute(&mut **object)
                    .await?;
            }
        }
        DbConn::Sqlite(_) => batch_insert!(conn, sms_messages::table, messages, MESSAGE_COLUMNS),
    }
    Ok(())
}

/// `sql`, an insert of [`INSERT_MESSAGES_POSTGRES`]'s shape, with `chunk` bound as one
/// array per column.
fn bind_messages(sql: String, chunk: &[Message]) -> BoxedSqlQuery<'_, Pg, SqlQuery> {
    let text = |field: fn(&Message) -> &str| chunk.iter().map(field).collect::<Vec<_>>();
    let optional =
        |field: fn(&Message) -> Option<&str>| chunk.iter().map(field).collect::<Vec<_>>();
    let time = |field: fn(&Message) -> NaiveDateTime| chunk.iter().map(field).collect::<Vec<_>>();
    let number = |field: fn(&Message) -> i32| chunk.iter().map(field).collect::<Vec<_>>();
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<Array<Text>, _>(text(|m| &m.id))
        .bind::<Array<Text>, _>(text(|m| &m.organization_id))
        .bind::<Array<Text>, _>(text(|m| &m.thread_id))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.candidate_id.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.batch_id.as_deref()))
        .bind::<Array<Text>, _>(text(|m| m.direction.as_str()))
        .bind::<Array<Text>, _>(text(|m| &m.body))
        .bind::<Array<Text>, _>(text(|m| m.encoding.as_str()))
        .bind::<Array<Integer>, _>(number(|m| m.segments))
        .bind::<Array<Text>, _>(text(|m| m.status.as_str()))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.status_reason.as_deref()))
        .bind::<Array<Text>, _>(text(|m| m.provider.as_str()))
        .bind::<Array<Text>, _>(text(|m| &m.from_number))
        .bind::<Array<Text>, _>(text(|m| &m.to_number))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.provider_message_id.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.price.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.sent_by.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.template_id.as_deref()))
        .bind::<Array<Timestamp>, _>(time(|m| m.send_at))
        .bind::<Array<Timestamp>, _>(time(|m| m.next_attempt_at))
        .bind::<Array<Integer>, _>(number(|m| m.attempts))
        .bind::<Array<Nullable<Timestamp>>, _>(
            chunk.iter().map(|m| m.lease_expires_at).collect::<Vec<_>>(),
        )
        .bind::<Array<Timestamp>, _>(time(|m| m.created_at))
        .bind::<Array<Timestamp>, _>(time(|m| m.updated_at))
        .bind::<Array<Nullable<Text>>, _>(
            chunk
                .iter()
                .map(|m| m.failure_reason.map(FailureReason::as_str))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(optional(|m| m.provider_error_code.as_deref()))
}

/// Appends status history.
pub async fn insert_events(
    conn: &mut DbConn,
    events: &[MessageEvent],
) -> Result<(), PersistenceError> {
    match conn {
        DbConn::Postgres(object) => {
            for chunk in events.chunks(ROWS_PER_STATEMENT) {
                diesel::sql_query(INSERT_EVENTS_POSTGRES)
                    .bind::<Array<Text>, _>(chunk.iter().map(|e| e.id.as_str()).collect::<Vec<_>>())
                    .bind::<Array<Text>, _>(
                        chunk
                            .iter()
                            .map(|e| e.message_id.as_str())
                            .collect::<Vec<_>>(),
                    )
                    .bind::<Array<Text>, _>(
                        chunk.iter().map(|e| e.status.as_str()).collect::<Vec<_>>(),
                    )
                    .bind::<Array<Nullable<Text>>, _>(
                        chunk
                            .iter()
                            .map(|e| e.detail.as_deref())
                            .collect::<Vec<_>>(),
                    )
                    .bind::<Array<Timestamp>, _>(
                        chunk.iter().map(|e| e.created_at).collect::<Vec<_>>(),
                    )
                    .execute(&mut **object)
                    .await?;
            }
        }
        DbConn::Sqlite(_) => batch_insert!(conn, sms_message_events::table, events, EVENT_COLUMNS),
    }
    Ok(())
}

/// Message `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Message>, PersistenceError> {
    Ok(run!(conn, |c| sms_messages::table
        .filter(sms_messages::organization_id.eq(organization_id))
        .filter(sms_messages::id.eq(id))
        .select(Message::as_select())
        .first(c)
        .await
        .optional())?)
}

/// When the latest reply in thread `thread_id` of the organization arrived; `None` when
/// the thread has none.
pub async fn latest_reply_at(
    conn: &mut DbConn,
    organization_id: &str,
    thread_id: &str,
) -> Result<Option<NaiveDateTime>, PersistenceError> {
    // Ids are time-ordered (UUIDv7): the thread index finds the newest one.
    Ok(run!(conn, |c| sms_messages::table
        .filter(sms_messages::thread_id.eq(thread_id))
        .filter(sms_messages::organization_id.eq(organization_id))
        .filter(sms_messages::direction.eq(Direction::Inbound))
        .order(sms_messages::id.desc())
        .select(sms_messages::created_at)
        .first(c)
        .await
        .optional())?)
}

/// The messages with `ids`, in id order.
pub async fn find_many(
    conn: &mut DbConn,
    ids: &[String],
) -> Result<Vec<Message>, PersistenceError> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_CHUNK) {
        let rows: Vec<Message> = run!(conn, |c| sms_messages::table
            .filter(sms_messages::id.eq_any(chunk))
            .order(sms_messages::id.asc())
            .select(Message::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}

/// The status history of message `id`, oldest first.
pub async fn events(conn: &mut DbConn, id: &str) -> Result<Vec<MessageEvent>, PersistenceError> {
    Ok(run!(conn, |c| sms_message_events::table
        .filter(sms_message_events::message_id.eq(id))
        .order(sms_message_events::id.asc())
        .select(MessageEvent::as_select())
        .load(c)
        .await)?)
}

/// Placeholders: $1 now, $2 lease, $3 limit, $4 `sending`, $5 `queued`, $6 `scheduled`;
/// `{lock}` is PostgreSQL's row locking (see [`for_backend`]).
const CLAIM: &str = "
UPDATE sms_messages SET status = $4, attempts = attempts + 1,
       lease_expires_at = $2, updated_at = $1
WHERE id IN (
    SELECT m.id FROM sms_messages m
    WHERE m.status IN ($5, $6) AND m.next_attempt_at <= $1
      AND EXISTS (SELECT 1 FROM integrations i
                  WHERE i.organization_id = m.organization_id
                    AND i.provider = m.provider AND i.active)
      AND NOT EXISTS (SELECT 1 FROM sms_messages p
                      WHERE p.thread_id = m.thread_id AND p.id < m.id
                        AND p.status IN ($5, $4))
    ORDER BY m.next_attempt_at, m.id
    LIMIT $3
    {lock})
RETURNING id, organization_id, thread_id, provider, from_number, to_number, body, attempts, send_at, created_at";

/// Row locking for a claim's inner `SELECT` on PostgreSQL, so that replicas claiming
/// side by side skip each other's rows; SQLite has one writer at a time and no such
/// clause.
const LOCK_POSTGRES: &str = "FOR UPDATE OF m SKIP LOCKED";

/// The statement `template` for the connection's backend: the text both backends share
/// is written once, with PostgreSQL's `$n` placeholders (SQLite's `?n` has the same
/// meaning) and a `{lock}` slot for PostgreSQL's row locking.
fn for_backend(conn: &DbConn, template: &str) -> String {
    match conn {
        DbConn::Postgres(_) => template.replace("{lock}", LOCK_POSTGRES),
        DbConn::Sqlite(_) => sqlite_text(template),
    }
}

/// `template` for SQLite: no row locking, `?n` for `$n`. A `$` not followed by a digit
/// (a JSON path such as `'$.id'`) stays as it is.
fn sqlite_text(template: &str) -> String {
    let template = template.replace("{lock}", "");
    let mut sql = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
        sql.push(if placeholder { '?' } else { c });
    }
    sql
}

/// Claims up to `limit` due messages in one statement: marks them `sending` with a lease
/// until `lease_until` and returns them in id order. Only messages whose provider is
/// the organization's active one qualify, so nothing is claimed after a deactivation
/// commits; a thread's messages go one at a time, in order. On PostgreSQL `SKIP LOCKED`
/// lets several replicas claim side by side without taking the same message.
pub async fn claim_due(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Claimed>, PersistenceError> {
    let sql = for_backend(conn, CLAIM);
    let mut claimed: Vec<Claimed> = run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(lease_until)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(MessageStatus::Sending)
        .bind::<Text, _>(MessageStatus::Queued)
        .bind::<Text, _>(MessageStatus::Scheduled)
        .load(c)
        .await)?;
    claimed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(claimed)
}

/// Placeholders: $1 now, $2 lease, $3 limit, $4 `sending`; `{lock}` as in [`CLAIM`].
const CLAIM_IN_DOUBT: &str = "
UPDATE sms_messages SET lease_expires_at = $2
WHERE id IN (
    SELECT m.id FROM sms_messages m
    WHERE m.status = $4 AND m.lease_expires_at <= $1
    ORDER BY m.id LIMIT $3
    {lock})
RETURNING id";

#[derive(QueryableByName)]
struct ClaimedId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Takes up to `limit` messages whose hand-over lease ran out without an outcome (a
/// crash, a timeout) for settlement, extending their lease to `lease_until` in the same
/// statement so that no other replica settles them too.
pub async fn claim_in_doubt(
    conn: &mut DbConn,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> Result<Vec<Message>, PersistenceError> {
    let sql = for_backend(conn, CLAIM_IN_DOUBT);
    let claimed: Vec<ClaimedId> = run!(conn, |c| diesel::sql_query(&sql)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(lease_until)
        .bind::<BigInt, _>(limit)
        .bind::<Text, _>(MessageStatus::Sending)
        .load(c)
        .await)?;
    let ids: Vec<String> = claimed.into_iter().map(|claimed| claimed.id).collect();
    find_many(conn, &ids).await
}

/// A message the provider accepted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SentUpdate {
    pub id: String,
    /// The provider's id for it.
    pub pid: String,
    /// Segments billed, when the provider said.
    pub parts: Option<i32>,
    pub price: Option<String>,
}

/// PostgreSQL takes the rows as one array per column, SQLite as one JSON parameter, so
/// these statements come in pairs. Placeholders (PostgreSQL): $1 ids, $2 provider ids,
/// $3 prices, $4 parts, $5 now, $6 `sent`, $7 `sending`.
const MARK_SENT_POSTGRES: &str = "
UPDATE sms_messages AS m SET status = $6, provider_message_id = v.pid, price = v.price,
       segments = COALESCE(NULLIF(v.parts, 0), m.segments), lease_expires_at = NULL,
       updated_at = $5
FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS v(id, pid, price, parts)
WHERE m.id = v.id AND m.status = $7
RETURNING m.id";

/// A receipt can overtake our own record of the send: such a message is already
/// `delivered` (or `undelivered`, `failed`); it still gets the provider's id and price.
/// Placeholders: $1 to $4 the rows as in [`MARK_SENT_POSTGRES`], $5 `delivered`,
/// $6 `undelivered`, $7 `failed`.
const RECORD_OVERTAKEN_POSTGRES: &str = "
UPDATE sms_messages AS m SET provider_message_id = v.pid, price = v.price,
       segments = COALESCE(NULLIF(v.parts, 0), m.segments), lease_expires_at = NULL
FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[]) AS v(id, pid, price, parts)
WHERE m.id = v.id AND m.status IN ($5, $6, $7)";

/// Placeholders (SQLite): ?1 the rows, ?2 now, ?3 `sent`, ?4 `sending`.
const MARK_SENT_SQLITE: &str = "
UPDATE sms_messages SET status = ?3, provider_message_id = v.pid, price = v.price,
       segments = COALESCE(NULLIF(v.parts, 0), sms_messages.segments),
       lease_expires_at = NULL, updated_at = ?2
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.pid') AS pid,
             json_extract(value, '$.price') AS price, json_extract(value, '$.parts') AS parts
      FROM json_each(?1)) AS v
WHERE sms_messages.id = v.id AND sms_messages.status = ?4
RETURNING sms_messages.id";

/// Placeholders (SQLite): ?1 the rows, ?2 `delivered`, ?3 `undelivered`, ?4 `failed`.
const RECORD_OVERTAKEN_SQLITE: &str = "
UPDATE sms_messages SET provider_message_id = v.pid, price = v.price,
       segments = COALESCE(NULLIF(v.parts, 0), sms_messages.segments),
       lease_expires_at = NULL
FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.pid') AS pid,
             json_extract(value, '$.price') AS price, json_extract(value, '$.parts') AS parts
      FROM json_each(?1)) AS v
WHERE sms_messages.id = v.id
  AND sms_messages.status IN (?2, ?3, ?4)";

/// Records what the provider accepted, in one statement for the whole request (a
/// thousand messages cost one round trip), and returns the ids that moved to `sent`. A
/// message a receipt already moved further keeps its status and gets the provider's id
/// and price.
pub async fn mark_sent(
    conn: &mut DbConn,
    sent: &[SentUpdate],
    now: NaiveDateTime,
) -> Result<Vec<String>, PersistenceError> {
    if sent.is_empty() {
        return Ok(Vec::new());
    }
    let moved: Vec<InsertedId> = match conn {
        DbConn::Postgres(object) => {
            bind_sent(MARK_SENT_POSTGRES, sent)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(MessageStatus::Sent)
                .bind::<Text, _>(MessageStatus::Sending)
                .load(&mut **object)
                .await?
        }
        DbConn::Sqlite(object) => {
            diesel::sql_query(MARK_SENT_SQLITE)
                .bind::<Text, _>(to_json(sent)?)
                .bind::<Timestamp, _>(now)
                .bind::<Text, _>(MessageStatus::Sent)
                .bind::<Text, _>(MessageStatus::Sending)
                .load(&mut **object)
                .await?
        }
    };
    if moved.len() < sent.len() {
        match conn {
            DbConn::Postgres(object) => {
                bind_sent(RECORD_OVERTAKEN_POSTGRES, sent)
                    .bind::<Text, _>(MessageStatus::Delivered)
                    .bind::<Text, _>(MessageStatus::Undelivered)
                    .bind::<Text, _>(MessageStatus::Failed)
                    .execute(&mut **object)
                    .await?
            }
            DbConn::Sqlite(object) => {
                diesel::sql_query(RECORD_OVERTAKEN_SQLITE)
                    .bind::<Text, _>(to_json(sent)?)
                    .bind::<Text, _>(MessageStatus::Delivered)
                    .bind::<Text, _>(MessageStatus::Undelivered)
                    .bind::<Text, _>(MessageStatus::Failed)
                    .execute(&mut **object)
                    .await?
            }
        };
    }
    Ok(moved.into_iter().map(|row| row.id).collect())
}

/// `sql`, of [`MARK_SENT_POSTGRES`]'s shape, with `sent` bound as one array per column.
fn bind_sent<'a>(sql: &'a str, sent: &'a [SentUpdate]) -> BoxedSqlQuery<'a, Pg, SqlQuery> {
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<Array<Text>, _>(sent.iter().map(|row| row.id.as_str()).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(sent.iter().map(|row| row.pid.as_str()).collect::<Vec<_>>())
        .bind::<Array<Nullable<Text>>, _>(
            sent.iter()
                .map(|row| row.price.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Integer>>, _>(sent.iter().map(|row| row.parts).collect::<Vec<_>>())
}

/// How a `sending` message leaves its hand-over: a new status (none: it stays
/// `sending`, in doubt), why, when it may be tried next, and its new lease (none ends it).
#[derive(AsChangeset)]
#[diesel(table_name = sms_messages)]
struct SendingChange<'a> {
    status: Option<MessageStatus>,
    status_reason: &'a str,
    /// Set only when it fails; otherwise left as it is (empty).
    failure_reason: Option<FailureReason>,
    provider_error_code: Option<&'a str>,
    next_attempt_at: Option<NaiveDateTime>,
    #[diesel(treat_none_as_null = true)]
    lease_expires_at: Option<NaiveDateTime>,
    updated_at: NaiveDateTime,
}

/// Applies `change` to message `id` if it is still `sending`; true when it was.
async fn change_sending(
    conn: &mut DbConn,
    id: &str,
    change: &SendingChange<'_>,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        sms_messages::table
            .filter(sms_messages::id.eq(id))
            .filter(sms_messages::status.eq(MessageStatus::Sending))
    )
    .set(change)
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

/// Message `id` failed for good: `failure`, explained by `reason`.
pub async fn mark_failed(
    conn: &mut DbConn,
    id: &str,
    failure: &Failure,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let change = SendingChange {
        status: Some(MessageStatus::Failed),
        status_reason: reason,
        failure_reason: Some(failure.reason),
        provider_error_code: failure.provider_code.as_deref(),
        next_attempt_at: None,
        lease_expires_at: None,
        updated_at: now,
    };
    change_sending(conn, id, &change).await
}

/// Puts message `id` back in the queue until `next_attempt_at`.
pub async fn requeue(
    conn: &mut DbConn,
    id: &str,
    next_attempt_at: NaiveDateTime,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let change = SendingChange {
        status: Some(MessageStatus::Queued),
        status_reason: reason,
        failure_reason: None,
        provider_error_code: None,
        next_attempt_at: Some(next_attempt_at),
        lease_expires_at: None,
        updated_at: now,
    };
    change_sending(conn, id, &change).await
}

/// Leaves message `id` in doubt (still `sending`) until `settle_at`, when its outcome is
/// looked up.
pub async fn mark_in_doubt(
    conn: &mut DbConn,
    id: &str,
    settle_at: NaiveDateTime,
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    let change = SendingChange {
        status: None,
        status_reason: reason,
        failure_reason: None,
        provider_error_code: None,
        next_attempt_at: None,
        lease_expires_at: Some(settle_at),
        updated_at: now,
    };
    change_sending(conn, id, &change).await.map(|_| ())
}

/// Moves the lease of messages the caller holds to `until` (a renewal, or the lease of
/// the provider request about to carry them) and returns the ids it still holds. A lease
/// value is its holder's token: only messages still `sending` under one of `held_as`,
/// the values the caller gave them, and whose lease has not run out by `now`, change. A
/// message whose lease ran out may be in another replica's hands already, and one that
/// another replica took carries that replica's lease, not ours.
pub async fn refresh_lease(
    conn: &mut DbConn,
    ids: &[String],
    held_as: &[NaiveDateTime],
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<String>, PersistenceError> {
    let mut held = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(INSERT_CHUNK) {
        let ours: Vec<String> = run!(conn, |c| diesel::update(
            held_under!(chunk, held_as).filter(sms_messages::lease_expires_at.gt(now))
        )
        .set(sms_messages::lease_expires_at.eq(until))
        .returning(sms_messages::id)
        .get_results(c)
        .await)?;
        held.extend(ours);
    }
    Ok(held)
}

/// Puts claimed messages that no provider request carried back in the queue, due at
/// `next_attempt_at`, and gives back the attempt their claim counted: the dispatcher
/// holds them back while their provider is failing. Like [`end_claim`], only messages
/// still `sending` under one of `held_as` change. Returns how many did.
pub async fn hand_back(
    conn: &mut DbConn,
    ids: &[String],
    held_as: &[NaiveDateTime],
    next_attempt_at: NaiveDateTime,
    reason: &str,
    now: NaiveDateTime,
) -> Result<usize, PersistenceError> {
    let mut handed_back = 0;
    for chunk in ids.chunks(INSERT_CHUNK) {
        handed_back += run!(conn, |c| diesel::update(held_under!(chunk, held_as))
            .set((
                sms_messages::status.eq(MessageStatus::Queued),
                sms_messages::status_reason.eq(reason),
                sms_messages::next_attempt_at.eq(next_attempt_at),
                sms_messages::attempts.eq(sms_messages::attempts - 1),
                sms_messages::lease_expires_at.eq(None::<NaiveDateTime>),
                sms_messages::updated_at.eq(now),
            ))
            .execute(c)
            .await)?;
    }
    Ok(handed_back)
}

/// Ends, as of `now`, the claim of messages whose hand-over failed before any provider
/// request carried them, so that the next settlement takes them instead of waiting for
/// their lease to run out, and gives back the attempt the claim counted. Only messages
/// still `sending` under exactly one of `leases`, those the failed hand-over set,
/// change: any other lease means someone else (a settlement, another dispatcher) holds
/// them now. Returns how many changed.
pub async fn end_claim(
    conn: &mut DbConn,
    ids: &[String],
    leases: &[NaiveDateTime],
    now: NaiveDateTime,
) -> Result<usize, PersistenceError> {
    let mut ended = 0;
    for chunk in ids.chunks(INSERT_CHUNK) {
        ended += run!(conn, |c| diesel::update(held_under!(chunk, leases))
            .set((
                sms_messages::lease_expires_at.eq(now),
                sms_messages::attempts.eq(sms_messages::attempts - 1),
            ))
            .execute(c)
            .await)?;
    }
    Ok(ended)
}

/// Cancels claimed (`sending`) messages that must not go out after all.
pub async fn cancel_claimed(
    conn: &mut DbConn,
    ids: &[String],
    reason: &str,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    for chunk in ids.chunks(INSERT_CHUNK) {
        run!(conn, |c| diesel::update(
            sms_messages::table
                .filter(sms_messages::id.eq_any(chunk))
                .filter(sms_messages::status.eq(MessageStatus::Sending))
        )
        .set((
            cancelled!(reason, now),
            sms_messages::lease_expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(c)
        .await)?;
    }
    Ok(())
}

/// Cancels the organization's queued and scheduled messages for `provider`; returns
/// their ids. Runs in the deactivation's transaction.
pub async fn cancel_pending_for_provider(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    reason: &str,
    now: NaiveDateTime,
) -> Result<Vec<String>, PersistenceError> {
    let pending = || {
        sms_messages::table
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::provider.eq(provider))
            .filter(sms_messages::status.eq_any([MessageStatus::Queued, MessageStatus::Scheduled]))
    };
    let ids: Vec<String> = run!(conn, |c| pending().select(sms_messages::id).load(c).await)?;
    if !ids.is_empty() {
        run!(conn, |c| diesel::update(pending())
            .set(cancelled!(reason, now))
            .execute(c)
            .await)?;
    }
    Ok(ids)
}

/// Cancels message `id` if it has not been claimed for hand-over yet.
pub async fn cancel(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    reason: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        sms_messages::table
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::id.eq(id))
            .filter(sms_messages::status.eq_any([MessageStatus::Queued, MessageStatus::Scheduled]))
    )
    .set(cancelled!(reason, now))
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

fn to_json<T: serde::Serialize + ?Sized>(rows: &T) -> Result<String, PersistenceError> {
    serde_json::to_string(rows).map_err(|error| PersistenceError::Encoding(error.to_string()))
}

#[derive(QueryableByName)]
struct InsertedId {
    #[diesel(sql_type = Text)]
    id: String,
}

/// Stores inbound replies, skipping any whose provider message id the organization
/// already has (a repeated delivery). Returns the ids of the rows actually stored.
pub async fn insert_replies(
    conn: &mut DbConn,
    replies: &[Message],
) -> Result<Vec<String>, PersistenceError> {
    if replies.is_empty() {
        return Ok(Vec::new());
    }
    match conn {
        DbConn::Postgres(object) => {
            let inserted: Vec<InsertedId> = bind_messages(
                format!("{INSERT_MESSAGES_POSTGRES} ON CONFLICT DO NOTHING RETURNING id"),
                replies,
            )
            .load(&mut **object)
            .await?;
            Ok(inserted.into_iter().map(|row| row.id).collect())
        }
        DbConn::Sqlite(object) => {
            // SQLite runs in-process, so a statement per reply costs no round trip.
            let mut inserted = Vec::with_capacity(replies.len());
            for reply in replies {
                let stored = diesel::insert_into(sms_messages::table)
                    .values(reply)
                    .on_conflict_do_nothing()
                    .execute(&mut **object)
                    .await?;
                if stored > 0 {
                    inserted.push(reply.id.clone());
                }
            }
            Ok(inserted)
        }
    }
}

/// The organization's outbound messages that receipts name: by the provider's message
/// id, or by our own id (which a provider may echo back as the reference we sent).
pub async fn find_reported(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    provider_message_ids: &[String],
    own_ids: &[String],
) -> Result<Vec<Message>, PersistenceError> {
    let mut found: Vec<Message> = Vec::new();
    for chunk in provider_message_ids.chunks(INSERT_CHUNK) {
        let rows: Vec<Message> = run!(conn, |c| sms_messages::table
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::provider.eq(provider))
            .filter(sms_messages::provider_message_id.eq_any(chunk))
            .select(Message::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    for chunk in own_ids.chunks(INSERT_CHUNK) {
        let rows: Vec<Message> = run!(conn, |c| sms_messages::table
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::provider.eq(provider))
            .filter(sms_messages::direction.eq(Direction::Outbound))
            .filter(sms_messages::id.eq_any(chunk))
            .select(Message::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    Ok(found)
}

/// A receipt's effect on one message.
#[derive(Debug, Clone)]
pub struct ReportedChange<'a> {
    pub id: &'a str,
    /// The status the decision was made on; the update applies only if it still holds.
    pub from_status: MessageStatus,
    pub to_status: MessageStatus,
    pub reason: Option<&'a str>,
    /// Why it failed, for a move to `failed` or `undelivered`.
    pub failure: Option<&'a Failure>,
    /// Recorded when the message does not have it yet (a receipt that overtook the
    /// provider's answer to our send).
    pub provider_message_id: &'a str,
}

/// Moves a message to the reported status if nobody changed it meanwhile; true when it
/// moved.
pub async fn apply_reported(
    conn: &mut DbConn,
    change: &ReportedChange<'_>,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        sms_messages::table
            .filter(sms_messages::id.eq(change.id))
            .filter(sms_messages::status.eq(change.from_status))
    )
    .set((
        sms_messages::status.eq(change.to_status),
        sms_messages::status_reason.eq(change.reason),
        sms_messages::failure_reason.eq(change.failure.map(|failure| failure.reason)),
        sms_messages::provider_error_code.eq(change
            .failure
            .and_then(|failure| failure.provider_code.as_deref())),
        sms_messages::provider_message_id.eq(
            diesel::dsl::sql::<diesel::sql_types::Nullable<Text>>("COALESCE(provider_message_id, ")
                .bind::<Text, _>(change.provider_message_id)
                .sql(")")
        ),
        sms_messages::lease_expires_at.eq(None::<NaiveDateTime>),
        sms_messages::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_numbers_placeholders_and_drops_the_lock() {
        let template = "SELECT json_extract(v, '$.id') FROM t WHERE a = $1 AND b <= $12 {lock}";
        assert_eq!(
            sqlite_text(template),
            "SELECT json_extract(v, '$.id') FROM t WHERE a = ?1 AND b <= ?12 "
        );
    }
}
