//! The SMS inbox: `GET /sms/threads`, `GET /sms/threads/{id}`,
//! `GET /sms/threads/{id}/messages`, `POST /sms/threads/{id}/read`,
//! `POST /sms/threads/{id}/unread`, `PUT /sms/threads/{id}/assignee` (any signed-in user).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{get, post, put};
use chrono::{DateTime, Utc};
use nextal_openapi::Problem;
use nextal_persistence::repo::inbox::{InboxThread, ThreadFilter, ThreadPosition};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::pagination::{PageQuery, TimeAndId, finish_page, finish_time_keyset_page};
use crate::routes::messaging::SmsMessage;
use crate::routes::refusals::{BodyRefusals, NoSession};
use crate::routes::schemas::utc;
use crate::services::inbox::{self, AssigneeQuery};
use crate::state::AppState;

/// Characters of the newest message shown as a thread's preview.
const PREVIEW_CHARACTERS: usize = 160;
/// Longest search text, in characters.
const MAX_SEARCH_CHARACTERS: usize = 100;

/// A conversation: one phone number of the organization, usually one candidate's.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsThread {
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    id: String,
    /// The candidate the number belongs to; null when no candidate has it (a reply from
    /// an unknown number). With `candidate_ambiguous`, the one most recently messaged.
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e11")]
    candidate_id: Option<String>,
    /// The candidate's first and last name; null when there is no candidate.
    #[schema(example = "Ann Lee")]
    candidate_name: Option<String>,
    /// The candidate opted out of SMS (replied STOP, or was marked so): replies in this
    /// thread are refused. Null when there is no candidate.
    #[schema(example = false)]
    candidate_opted_out: Option<bool>,
    /// Several of the organization's candidates have this number; `candidate_id` is the
    /// one most recently messaged. Worth a hint in the UI.
    #[schema(example = false)]
    candidate_ambiguous: bool,
    /// The conversation's number (the candidate's), E.164.
    #[schema(example = "+14155552671")]
    phone: String,
    /// Replies not yet read; `POST /sms/threads/{id}/read` clears it.
    #[schema(minimum = 0, example = 2)]
    unread_count: u32,
    /// When the newest message (either direction) was sent or received; null before the
    /// first one.
    #[schema(example = "2026-11-27T10:15:00Z")]
    last_message_at: Option<DateTime<Utc>>,
    /// The start (up to 160 characters) of the newest message, in either direction.
    #[schema(example = "Yes, Tuesday at 10 works for me")]
    last_message_preview: Option<String>,
    /// The member who works the thread; null while it is the team's (nobody's).
    /// `PUT /sms/threads/{id}/assignee` changes it; a send assigns an unassigned thread
    /// to its sender.
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e12")]
    assignee_id: Option<String>,
    /// The latest message is a reply from the candidate: they wait for an answer. A
    /// send in the thread (even one scheduled for later) answers it.
    #[schema(example = true)]
    needs_reply: bool,
    #[schema(example = "2026-11-20T08:00:00Z")]
    created_at: DateTime<Utc>,
}

impl From<InboxThread> for SmsThread {
    fn from(row: InboxThread) -> Self {
        let thread = row.thread;
        Self {
            id: thread.id,
            candidate_id: thread.candidate_id,
            candidate_name: row
                .candidate
                .as_ref()
                .map(|candidate| format!("{} {}", candidate.first_name, candidate.last_name)),
            candidate_opted_out: row.candidate.map(|candidate| candidate.sms_opted_out),
            candidate_ambiguous: thread.candidate_ambiguous,
            phone: thread.phone,
            unread_count: u32::try_from(thread.unread_count).unwrap_or(0),
            last_message_at: thread.last_message_at.map(utc),
            last_message_preview: thread
                .last_message_preview
                .map(|text| text.chars().take(PREVIEW_CHARACTERS).collect()),
            assignee_id: thread.assignee_id,
            needs_reply: thread.needs_reply,
            created_at: utc(thread.created_at),
        }
    }
}

/// A page of threads.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsThreadPage {
    items: Vec<SmsThread>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
    /// Unread replies over all the organization's threads (for the inbox badge): not
    /// limited to this page, and not affected by the filters.
    #[schema(minimum = 0, example = 7)]
    unread_total: u64,
    /// Unread replies in the threads assigned to the caller (for the "mine" badge): not
    /// limited to this page, and not affected by the filters.
    #[schema(minimum = 0, example = 3)]
    unread_mine: u64,
}

/// A page of a thread's messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct SmsMessagePage {
    /// Newest first.
    items: Vec<SmsMessage>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// Which threads to list. Filters combine: a thread must match all that are given.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadListQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; omit for the first page. A cursor stays
    /// valid with the same filters.
    #[param(
        pattern = r"^(?:-|[0-9]{1,10}\.[0-9]{9})_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
    /// `true`: only threads with unread replies. `false` or omitted: all threads.
    unread: Option<bool>,
    /// Only the threads of this candidate (one of the organization's candidates).
    #[param(format = Uuid)]
    candidate_id: Option<String>,
    /// Text to find, ignoring case, in the thread's phone number, the candidate's name
    /// ("First Last") or the newest message's text. 1 to 100 characters once trimmed;
    /// `%` and `_` match themselves.
    #[param(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000](?:[^\u0000]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
        example = "ann"
    )]
    q: Option<String>,
    /// Only the threads assigned to `me` (the caller), to nobody (`none`: the team's),
    /// or to the member with this id (one of the organization's users).
    #[param(
        pattern = "^(me|none|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$",
        example = "me"
    )]
    assignee: Option<String>,
    /// `true`: only threads whose latest message is a reply (waiting for an answer).
    /// `false` or omitted: all threads.
    needs_reply: Option<bool>,
}

impl ThreadListQuery {
    fn filter(&self) -> Result<ThreadFilter, ApiError> {
        let text = match &self.q {
            None => None,
            Some(q) => {
                let q = q.trim();
                if !(1..=MAX_SEARCH_CHARACTERS).contains(&q.chars().count()) {
                    return Err(ApiError::invalid_field(
                        "q",
                        format!("must be 1 to {MAX_SEARCH_CHARACTERS} characters"),
                    ));
                }
                Some(q.to_owned())
            }
        };
        Ok(ThreadFilter {
            unread_only: self.unread.unwrap_or(false),
            candidate_id: self.candidate_id.clone(),
            text,
            assignee: None,
            needs_reply_only: self.needs_reply.unwrap_or(false),
        })
    }

    fn assignee(&self) -> Result<Option<AssigneeQuery>, ApiError> {
        Ok(match self.assignee.as_deref() {
            None => None,
            Some("me") => Some(AssigneeQuery::Me),
            Some("none") => Some(AssigneeQuery::Nobody),
            Some(other) => {
                let id = uuid::Uuid::parse_str(other).map_err(|_| {
                    ApiError::invalid_field("assignee", "must be `me`, `none` or a user's id")
                })?;
                Some(AssigneeQuery::User(id.to_string()))
            }
        })
    }
}

/// List the organization's SMS threads (the inbox), newest activity first.
///
/// Threads are ordered by `last_message_at` (newest first; threads without any message
/// come last), ties broken by id. Page with `next_cursor` until it is null; pages neither
/// skip nor repeat threads, though a thread that gets a new message while you page moves
/// to the top (reload the first page on a `GET /sms/events` event). `unread_total` is the
/// organization-wide unread count for the inbox badge, `unread_mine` the count in the
/// caller's threads, whatever the filters.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(ThreadListQuery),
    responses(
        (status = 200, description = "A page of threads", body = SmsThreadPage),
        NoSession,
        (status = 409, description = "`candidate_id` names no candidate, or `assignee` no member, of this organization (`unknown-reference`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit, cursor, unread, q, assignee (not `me`, `none` or a uuid) or needs_reply", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms/threads")]
pub async fn list_threads(
    state: Data<AppState>,
    current: CurrentUser,
    query: Query<ThreadListQuery>,
) -> Result<Json<SmsThreadPage>, ApiError> {
    let query = query.into_inner();
    let filter = query.filter()?;
    let assignee = query.assignee()?;
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .into_time_keyset()?;
    let after = page.after.as_ref().map(|key| ThreadPosition {
        last_message_at: key.time,
        id: key.id.clone(),
    });
    let list = inbox::list(
        &state.db,
        &current,
        filter,
        assignee,
        after.as_ref(),
        page.limit,
    )
    .await?;
    let (threads, next_cursor) = finish_time_keyset_page(list.threads, &page, |row| TimeAndId {
        time: row.thread.last_message_at,
        id: row.thread.id.clone(),
    });
    Ok(Json(SmsThreadPage {
        items: threads.into_iter().map(SmsThread::from).collect(),
        next_cursor,
        unread_total: u64::try_from(list.unread_total).unwrap_or(0),
        unread_mine: u64::try_from(list.unread_mine).unwrap_or(0),
    }))
}

/// One thread of the organization.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses(
        (status = 200, description = "The thread", body = SmsThread),
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms/threads/{id}")]
pub async fn get_thread(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<SmsThread>, ApiError> {
    let thread = inbox::get(&state.db, &current, &id.to_string()).await?;
    Ok(Json(thread.into()))
}

/// A thread's messages, newest first, each with its status history.
///
/// Both directions, including scheduled and failed messages. The first page holds the
/// newest messages; `next_cursor` leads to older ones. Show them oldest-at-the-top by
/// reversing each page. Reading messages does not mark the thread read: call
/// `POST /sms/threads/{id}/read` for that.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id"), PageQuery),
    responses(
        (status = 200, description = "A page of messages", body = SmsMessagePage),
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms/threads/{id}/messages")]
pub async fn list_thread_messages(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    query: Query<PageQuery>,
) -> Result<Json<SmsMessagePage>, ApiError> {
    let page = query.into_inner().into_request()?;
    let rows = inbox::messages(&state.db, &current, &id.to_string(), &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |(message, _)| message.id.as_str());
    Ok(Json(SmsMessagePage {
        items: rows
            .into_iter()
            .map(|(message, history)| SmsMessage::new(message, history))
            .collect(),
        next_cursor,
    }))
}

/// Mark a thread read.
///
/// Its `unread_count` becomes 0, and the organization's `unread_total` drops by as much.
/// Idempotent: a thread already read stays as it is. Call it when the user opens the
/// thread; reading its messages alone does not mark it read.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses(
        (status = 200, description = "The thread, read", body = SmsThread),
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sms/threads/{id}/read")]
pub async fn mark_thread_read(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<SmsThread>, ApiError> {
    let thread = inbox::set_read(&state.db, &state.events, &current, &id.to_string(), true).await?;
    Ok(Json(thread.into()))
}

/// Mark a thread unread again.
///
/// Its latest reply counts as unread once more: `unread_count` becomes 1 (a thread that
/// already has unread replies keeps its count), and `unread_total` (and `unread_mine`,
/// for the assignee) rises by as much. Idempotent. Open streams get `thread.unread`.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    responses(
        (status = 200, description = "The thread, unread", body = SmsThread),
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`no-reply`: the thread holds no reply from the candidate, so nothing can be unread", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sms/threads/{id}/unread")]
pub async fn mark_thread_unread(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<SmsThread>, ApiError> {
    let thread =
        inbox::set_read(&state.db, &state.events, &current, &id.to_string(), false).await?;
    Ok(Json(thread.into()))
}

/// Who works a thread.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Assignment)]
#[serde(deny_unknown_fields)]
pub struct AssigneeRequest {
    /// The member to assign the thread to: an active user of the organization. Null
    /// gives the thread back to the team (unassigned). Required, even when null.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e12")]
    user_id: Option<uuid::Uuid>,
}

/// Assign a thread to a member, or give it back to the team.
///
/// Any signed-in member may (re)assign any thread of the organization, to any active
/// user of it (themselves included), or unassign it with `{"user_id": null}`. Each
/// change is written to the audit log (`thread.assigned`, with the previous assignee)
/// and streamed as `thread.assigned`; assigning the current assignee again changes
/// nothing. A send assigns an unassigned thread to its sender; a deactivated user's
/// threads go back to the team.
#[utoipa::path(
    tag = "inbox",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The thread's id")),
    request_body = AssigneeRequest,
    responses(
        (status = 200, description = "The thread with its new assignee", body = SmsThread),
        BodyRefusals,
        NoSession,
        (status = 404, description = "No such thread in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`user_id` missing, not a uuid, or not an active member of this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/sms/threads/{id}/assignee")]
pub async fn assign_thread(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<AssigneeRequest>,
) -> Result<Json<SmsThread>, ApiError> {
    let user_id = body.into_inner()?.user_id.map(|id| id.to_string());
    let thread = inbox::assign(
        &state.db,
        &state.events,
        &current,
        &id.to_string(),
        user_id.as_deref(),
    )
    .await?;
    Ok(Json(thread.into()))
}
