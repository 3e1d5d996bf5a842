//! The inbox read side: the organization's threads with their candidate, newest activity
//! first, and a thread's messages with their status history.
//!
//! The thread list is keyset-paginated over `(last_message_at DESC, id DESC)`, which the
//! index `sms_threads_activity_idx (organization_id, last_message_at DESC, id DESC)`
//! serves: a page is one index range scan, however deep, with the candidate looked up by
//! primary key per row returned. Threads that have no message yet (`last_message_at`
//! null) come after all others, newest id first; the two backends sort nulls at opposite
//! ends, so they are read by a second query instead of relying on either.
//!
//! The team-inbox filters have their own indexes of the same order:
//! `sms_threads_assignee_idx (organization_id, assignee_id, …)` for one member's threads,
//! and the partial `sms_threads_unassigned_idx` and `sms_threads_needs_reply_idx` for the
//! team's threads and those waiting for an answer.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use nextal_domain::Direction;

use crate::db::run;
use crate::repo::messages::{Message, MessageEvent};
use crate::repo::threads::Thread;
use crate::schema::{candidates, sms_message_events, sms_messages, sms_threads, sms_unread_totals};
use crate::{DbConn, PersistenceError};

diesel::define_sql_function! {
    /// SQL `LOWER` of a text.
    #[sql_name = "LOWER"]
    fn lower(text: Text) -> Text;
}

diesel::define_sql_function! {
    /// SQL `LOWER` of a nullable text.
    #[sql_name = "LOWER"]
    fn lower_nullable(text: Nullable<Text>) -> Nullable<Text>;
}

/// The escape character of the search's `LIKE` patterns.
const LIKE_ESCAPE: char = '\\';

/// The candidate a thread is linked to, as the inbox shows them.
#[derive(Debug, Clone, Queryable)]
pub struct ThreadCandidate {
    pub first_name: String,
    pub last_name: String,
    pub sms_opted_out: bool,
}

/// A thread with its candidate (absent when the thread has none, or the candidate row is
/// gone).
#[derive(Debug, Clone)]
pub struct InboxThread {
    pub thread: Thread,
    pub candidate: Option<ThreadCandidate>,
}

impl From<(Thread, Option<ThreadCandidate>)> for InboxThread {
    fn from((thread, candidate): (Thread, Option<ThreadCandidate>)) -> Self {
        Self { thread, candidate }
    }
}

/// Which threads to list.
#[derive(Debug, Clone, Default)]
pub struct ThreadFilter {
    /// Only threads with unread replies.
    pub unread_only: bool,
    /// Only the threads linked to this candidate.
    pub candidate_id: Option<String>,
    /// Text to find, ignoring case, in the thread's number, the candidate's name
    /// ("First Last") or the newest message's text. Taken literally: `%` and `_` match
    /// themselves.
    pub text: Option<String>,
    /// Only the threads of this assignee.
    pub assignee: Option<AssigneeFilter>,
    /// Only the threads whose latest message is a reply.
    pub needs_reply_only: bool,
}

/// Whose threads to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// The threads nobody is assigned to: the team's.
    Unassigned,
    /// The threads assigned to this user.
    User(String),
}

/// What marking a thread unread did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkedUnread {
    /// The organization has no such thread.
    NoThread,
    /// The thread holds no reply to mark unread.
    NoReply,
    /// It already had unread replies; nothing changed.
    AlreadyUnread,
    /// Its latest reply counts as unread again.
    Marked,
}

/// Where a page of threads starts: after this thread in inbox order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadPosition {
    /// The thread's `last_message_at` (null for a thread without messages).
    pub last_message_at: Option<NaiveDateTime>,
    pub id: String,
}

impl ThreadPosition {
    /// The position of `thread`.
    pub fn of(thread: &Thread) -> Self {
        Self {
            last_message_at: thread.last_message_at,
            id: thread.id.clone(),
        }
    }
}

/// `text` as a `LIKE` pattern that finds it anywhere: its `\`, `%` and `_` escaped with
/// [`LIKE_ESCAPE`].
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// The organization's threads left-joined to their candidate, filtered, as a boxed query
/// for the backend of the connection it is run on. `$pattern` is the search's `LIKE`
/// pattern, if any.
macro_rules! inbox_threads {
    ($organization_id:expr, $filter:expr, $pattern:expr) => {{
        let mut query = sms_threads::table
            .left_join(
                candidates::table.on(candidates::id
                    .nullable()
                    .eq(sms_threads::candidate_id)
                    .and(candidates::organization_id.eq(sms_threads::organization_id))),
            )
            .filter(sms_threads::organization_id.eq($organization_id))
            .select((
                Thread::as_select(),
                (
                    candidates::first_name,
                    candidates::last_name,
                    candidates::sms_opted_out,
                )
                    .nullable(),
            ))
            .into_boxed();
        if $filter.unread_only {
            // A literal, not a bound 0, so that it matches the partial index's predicate.
            query = query.filter(sql::<Bool>("sms_threads.unread_count > 0"));
        }
        if let Some(candidate_id) = &$filter.candidate_id {
            query = query.filter(sms_threads::candidate_id.eq(candidate_id));
        }
        match &$filter.assignee {
            None => {}
            Some(AssigneeFilter::Unassigned) => {
                query = query.filter(sms_threads::assignee_id.is_null());
            }
            Some(AssigneeFilter::User(user_id)) => {
                query = query.filter(sms_threads::assignee_id.eq(user_id));
            }
        }
        if $filter.needs_reply_only {
            // A literal, not a bound `true`, so that it matches the partial index's predicate.
            query = query.filter(sql::<Bool>("sms_threads.needs_reply"));
        }
        if let Some(pattern) = $pattern {
            let name = candidates::first_name
                .nullable()
                .concat(" ")
                .concat(candidates::last_name.nullable());
            query = query.filter(
                lower(sms_threads::phone)
                    .nullable()
                    .like(lower(pattern).nullable())
                    .escape(LIKE_ESCAPE)
                    .or(lower_nullable(name)
                        .like(lower(pattern).nullable())
                        .escape(LIKE_ESCAPE))
                    .or(lower_nullable(sms_threads::last_message_preview)
                        .like(lower(pattern).nullable())
                        .escape(LIKE_ESCAPE)),
            );
        }
        query
    }};
}

/// One page of the organization's threads in inbox order (newest activity first, then
/// newest id), after `after`, at most `limit` of them.
pub async fn list(
    conn: &mut DbConn,
    organization_id: &str,
    filter: &ThreadFilter,
    after: Option<&ThreadPosition>,
    limit: i64,
) -> Result<Vec<InboxThread>, PersistenceError> {
    let pattern = filter.text.as_deref().map(contains_pattern);
    let pattern = pattern.as_deref();
    let mut rows: Vec<(Thread, Option<ThreadCandidate>)> = Vec::new();

    // Threads with activity, unless the previous page already reached those without.
    let after_time = match after {
        None => Some(None),
        Some(ThreadPosition {
            last_message_at: Some(time),
            id,
        }) => Some(Some((*time, id.as_str()))),
        Some(ThreadPosition {
            last_message_at: None,
            ..
        }) => None,
    };
    if let Some(after_time) = after_time {
        rows = run!(conn, |c| {
            let mut query = inbox_threads!(organization_id, filter, pattern)
                .filter(sms_threads::last_message_at.is_not_null());
            if let Some((time, id)) = after_time {
                // The row comparison is the keyset condition; the plain bound on the
                // first column lets any planner start the index scan at the cursor.
                query = query.filter(sms_threads::last_message_at.le(time)).filter(
                    sql::<Bool>("(sms_threads.last_message_at, sms_threads.id) < (")
                        .bind::<Timestamp, _>(time)
                        .sql(", ")
                        .bind::<Text, _>(id.to_owned())
                        .sql(")"),
                );
            }
            query
                .order((sms_threads::last_message_at.desc(), sms_threads::id.desc()))
                .limit(limit)
                .load(c)
                .await
        })?;
    }

    // Then threads without messages yet, once those with activity are exhausted.
    let wanted = limit - i64::try_from(rows.len()).unwrap_or(limit);
    if wanted > 0 {
        let after_id = after
            .filter(|position| position.last_message_at.is_none())
            .map(|position| position.id.as_str());
        let idle: Vec<(Thread, Option<ThreadCandidate>)> = run!(conn, |c| {
            let mut query = inbox_threads!(organization_id, filter, pattern)
                .filter(sms_threads::last_message_at.is_null());
            if let Some(id) = after_id {
                query = query.filter(sms_threads::id.lt(id));
            }
            query
                .order(sms_threads::id.desc())
                .limit(wanted)
                .load(c)
                .await
        })?;
        rows.extend(idle);
    }
    Ok(rows.into_iter().map(InboxThread::from).collect())
}

/// Thread `id` of the organization, with its candidate.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<InboxThread>, PersistenceError> {
    let filter = ThreadFilter::default();
    let row: Option<(Thread, Option<ThreadCandidate>)> = run!(conn, |c| {
        inbox_threads!(organization_id, filter, None::<&str>)
            .filter(sms_threads::id.eq(id))
            .first(c)
            .await
            .optional()
    })?;
    Ok(row.map(InboxThread::from))
}

/// The organization's unread replies over all its threads: one row, kept by
/// [`threads::record_replies`](crate::repo::threads::record_replies) and [`mark_read`].
pub async fn unread_total(
    conn: &mut DbConn,
    organization_id: &str,
) -> Result<i64, PersistenceError> {
    let total: Option<i64> = run!(conn, |c| sms_unread_totals::table
        .filter(sms_unread_totals::organization_id.eq(organization_id))
        .select(sms_unread_totals::unread)
        .first(c)
        .await
        .optional())?;
    Ok(total.unwrap_or(0))
}

/// Unread replies in the organization's threads assigned to `user_id`: a sum over that
/// member's unread threads alone (`sms_threads_unread_assignee_idx`).
pub async fn unread_of_assignee(
    conn: &mut DbConn,
    organization_id: &str,
    user_id: &str,
) -> Result<i64, PersistenceError> {
    let total: Option<i64> = run!(conn, |c| sms_threads::table
        .filter(sms_threads::organization_id.eq(organization_id))
        .filter(sms_threads::assignee_id.eq(user_id))
        // A literal, as in the list, to match the partial index's predicate.
        .filter(sql::<Bool>("sms_threads.unread_count > 0"))
        .select(diesel::dsl::sum(sms_threads::unread_count))
        .first(c)
        .await)?;
    Ok(total.unwrap_or(0))
}

/// The unread count of the organization's thread `id`, its row locked until the
/// transaction ends (`FOR UPDATE` on PostgreSQL; SQLite's write transaction already
/// holds the database's lock). `None` when the organization has no such thread.
async fn locked_unread_count(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<i32>, PersistenceError> {
    macro_rules! unread {
        () => {
            sms_threads::table
                .filter(sms_threads::organization_id.eq(organization_id))
                .filter(sms_threads::id.eq(id))
                .select(sms_threads::unread_count)
        };
    }
    Ok(match conn {
        DbConn::Postgres(object) => unread!()
            .for_update()
            .first(&mut **object)
            .await
            .optional()?,
        DbConn::Sqlite(object) => unread!().first(&mut **object).await.optional()?,
    })
}

/// Marks thread `id` of the organization read (no unread replies) and takes its count
/// off the organization's total; run it in a transaction. A thread already read is left
/// untouched. False when the organization has no such thread or it was already read.
pub async fn mark_read(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    // Locked, so that a reply counted meanwhile is not taken off with it.
    let unread = locked_unread_count(conn, organization_id, id).await?;
    let Some(unread) = unread.filter(|unread| *unread != 0) else {
        return Ok(false);
    };
    run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::id.eq(id))
    )
    .set((
        sms_threads::unread_count.eq(0),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    crate::repo::threads::add_unread(conn, organization_id, -i64::from(unread)).await?;
    Ok(true)
}

/// Marks thread `id` of the organization unread again: a thread without unread replies
/// gets one (its latest reply), added to the organization's total; run it in a
/// transaction. A thread that already has unread replies is left untouched.
pub async fn mark_unread(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> Result<MarkedUnread, PersistenceError> {
    // Locked, so that two calls at once add one unread reply, not two.
    let unread = locked_unread_count(conn, organization_id, id).await?;
    let Some(unread) = unread else {
        return Ok(MarkedUnread::NoThread);
    };
    if unread > 0 {
        return Ok(MarkedUnread::AlreadyUnread);
    }
    let has_reply: bool = run!(conn, |c| diesel::select(diesel::dsl::exists(
        sms_messages::table
            .filter(sms_messages::thread_id.eq(id))
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::direction.eq(Direction::Inbound))
    ))
    .get_result(c)
    .await)?;
    if !has_reply {
        return Ok(MarkedUnread::NoReply);
    }
    run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::id.eq(id))
    )
    .set((
        sms_threads::unread_count.eq(1),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    crate::repo::threads::add_unread(conn, organization_id, 1).await?;
    Ok(MarkedUnread::Marked)
}

/// One page of thread `thread_id`'s messages, newest first (ids are time-ordered), after
/// message `after`, at most `limit` of them.
pub async fn messages(
    conn: &mut DbConn,
    organization_id: &str,
    thread_id: &str,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Message>, PersistenceError> {
    Ok(run!(conn, |c| {
        let mut query = sms_messages::table
            .filter(sms_messages::thread_id.eq(thread_id))
            .filter(sms_messages::organization_id.eq(organization_id))
            .select(Message::as_select())
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(sms_messages::id.lt(after));
        }
        query
            .order(sms_messages::id.desc())
            .limit(limit)
            .load(c)
            .await
    })?)
}

/// The status history of each of `message_ids` (at most a page's worth), oldest first:
/// one query for all of them. Messages without events are absent from the map.
pub async fn histories(
    conn: &mut DbConn,
    message_ids: &[String],
) -> Result<HashMap<String, Vec<MessageEvent>>, PersistenceError> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let events: Vec<MessageEvent> = run!(conn, |c| sms_message_events::table
        .filter(sms_message_events::message_id.eq_any(message_ids))
        .order((sms_message_events::message_id, sms_message_events::id))
        .select(MessageEvent::as_select())
        .load(c)
        .await)?;
    let mut by_message: HashMap<String, Vec<MessageEvent>> = HashMap::new();
    for event in events {
        by_message
            .entry(event.message_id.clone())
            .or_default()
            .push(event);
    }
    Ok(by_message)
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn search_text_is_matched_literally() {
        assert_eq!(contains_pattern("ann"), "%ann%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
