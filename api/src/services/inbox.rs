//! The inbox: the organization's SMS threads, newest activity first, a thread's messages,
//! marking a thread read or unread, and who works it (the team inbox).

use nextal_domain::AuditAction;
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::inbox::{
    self, AssigneeFilter, InboxThread, MarkedUnread, ThreadFilter, ThreadPosition,
};
use nextal_persistence::repo::messages::{Message, MessageEvent};
use nextal_persistence::repo::{organizations, threads, users};
use nextal_persistence::{Db, Tx};
use serde_json::json;

use crate::events::{EventBus, EventKind, InboxEvent};
use crate::problem_kind::ProblemKind;
use crate::services::auth::CurrentUser;
use crate::services::candidates::referenced_candidate;
use crate::services::{ServiceError, audit, now};

/// Whose threads to list, as the caller asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeQuery {
    /// The caller's.
    Me,
    /// Nobody's: the team's.
    Nobody,
    /// This member's (any member of the organization, active or not).
    User(String),
}

/// One page of threads and the unread totals.
pub struct ThreadList {
    /// The page, in inbox order: up to `limit` threads.
    pub threads: Vec<InboxThread>,
    /// Unread replies over all the organization's threads, whatever the filter.
    pub unread_total: i64,
    /// Unread replies over the threads assigned to the caller, whatever the filter.
    pub unread_mine: i64,
}

/// Up to `limit` of the caller's organization's threads matching `filter` and
/// `assignee`, after position `after` in inbox order, and the unread totals. A
/// `candidate_id` filter must name one of the organization's candidates, an assignee
/// one of its members.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    filter: ThreadFilter,
    assignee: Option<AssigneeQuery>,
    after: Option<&ThreadPosition>,
    limit: i64,
) -> Result<ThreadList, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    if let Some(candidate_id) = &filter.candidate_id {
        referenced_candidate(&mut conn, organization_id, candidate_id).await?;
    }
    let assignee = match assignee {
        None => None,
        Some(AssigneeQuery::Me) => Some(AssigneeFilter::User(current.user.id.clone())),
        Some(AssigneeQuery::Nobody) => Some(AssigneeFilter::Unassigned),
        Some(AssigneeQuery::User(user_id)) => {
            users::find(&mut conn, organization_id, &user_id)
                .await?
                .ok_or_else(|| ServiceError::UnknownReference {
                    field: "assignee",
                    message: "is not a member of this organization".to_owned(),
                })?;
            Some(AssigneeFilter::User(user_id))
        }
    };
    let filter = ThreadFilter { assignee, ..filter };
    let threads = inbox::list(&mut conn, organization_id, &filter, after, limit).await?;
    let unread_total = inbox::unread_total(&mut conn, organization_id).await?;
    let unread_mine =
        inbox::unread_of_assignee(&mut conn, organization_id, &current.user.id).await?;
    Ok(ThreadList {
        threads,
        unread_total,
        unread_mine,
    })
}

/// Thread `id` of the caller's organization.
pub async fn get(db: &Db, current: &CurrentUser, id: &str) -> Result<InboxThread, ServiceError> {
    let mut conn = db.conn().await?;
    inbox::find(&mut conn, current.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// One page of thread `id`'s messages, newest first, each with its status history
/// (loaded for the whole page at once).
pub async fn messages(
    db: &Db,
    current: &CurrentUser,
    id: &str,
    page: &PageRequest,
) -> Result<Vec<(Message, Vec<MessageEvent>)>, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    // The thread must be the organization's: another tenant's id is not found, not an empty list.
    threads::find(&mut conn, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let messages = inbox::messages(
        &mut conn,
        organization_id,
        id,
        page.after.as_deref(),
        page.limit,
    )
    .await?;
    let ids: Vec<String> = messages.iter().map(|message| message.id.clone()).collect();
    let mut histories = inbox::histories(&mut conn, &ids).await?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let history = histories.remove(&message.id).unwrap_or_default();
            (message, history)
        })
        .collect())
}

/// Marks thread `id` read (no unread replies) or unread again (its latest reply counts
/// as unread; a thread that already has unread replies keeps them), and tells `events`'
/// listeners. Both are idempotent. Marking unread a thread without any reply is a
/// `no-reply` conflict.
pub async fn set_read(
    db: &Db,
    events: &EventBus,
    current: &CurrentUser,
    id: &str,
    read: bool,
) -> Result<InboxThread, ServiceError> {
    let organization_id = current.organization_id();
    let mut tx = db.begin().await?;
    let (changed, kind, change) = if read {
        let changed = inbox::mark_read(&mut tx, organization_id, id, now()).await?;
        (changed, EventKind::ThreadRead, "thread marked read")
    } else {
        let changed = match inbox::mark_unread(&mut tx, organization_id, id, now()).await? {
            MarkedUnread::NoThread => return Err(ServiceError::NotFound),
            MarkedUnread::NoReply => {
                return Err(ServiceError::Conflict {
                    kind: ProblemKind::NoReply,
                    detail: "The thread holds no reply from the candidate to mark unread."
                        .to_owned(),
                });
            }
            MarkedUnread::AlreadyUnread => false,
            MarkedUnread::Marked => true,
        };
        (changed, EventKind::ThreadUnread, "thread marked unread")
    };
    let event = changed.then(|| InboxEvent::thread(organization_id, kind, id));
    commit_and_tell(db, events, current, id, tx, event, change).await
}

/// Commits a change to thread `id`: `event`, when the change happened, is staged in `tx`
/// and its listeners are told once it is committed. Answers the thread as it now is.
async fn commit_and_tell(
    db: &Db,
    events: &EventBus,
    current: &CurrentUser,
    id: &str,
    mut tx: Tx,
    event: Option<InboxEvent>,
    change: &'static str,
) -> Result<InboxThread, ServiceError> {
    let mut staged: Vec<InboxEvent> = event.into_iter().collect();
    if !staged.is_empty() {
        events.stage(&mut tx, &mut staged).await?;
    }
    tx.commit().await?;
    if !staged.is_empty() {
        tracing::info!(thread_id = %id, by = %current.user.id, "{change}");
        events.committed(staged);
    }
    get(db, current, id).await
}

/// Assigns thread `id` to member `user_id`, or gives it back to the team (`None`); an
/// audited change that `events`' listeners hear of. The member must be an active user
/// of the caller's organization. Assigning the assignee it already has changes nothing.
pub async fn assign(
    db: &Db,
    events: &EventBus,
    current: &CurrentUser,
    id: &str,
    user_id: Option<&str>,
) -> Result<InboxThread, ServiceError> {
    let organization_id = current.organization_id();
    let mut tx = db.begin().await?;
    // Deactivating a user takes the same lock before it unassigns their threads: a
    // member deactivated meanwhile is refused here, never left holding a thread.
    organizations::lock(&mut tx, organization_id).await?;
    let thread = threads::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if let Some(user_id) = user_id {
        users::find(&mut tx, organization_id, user_id)
            .await?
            .filter(|user| user.active)
            .ok_or_else(|| {
                ServiceError::invalid_field(
                    "user_id",
                    "is not an active member of this organization",
                )
            })?;
    }
    let mut assigned = None;
    if thread.assignee_id.as_deref() != user_id {
        threads::set_assignee(&mut tx, organization_id, id, user_id, now()).await?;
        audit::record(
            &mut tx,
            current,
            AuditAction::ThreadAssigned,
            id,
            json!({ "assignee_id": user_id, "previous_assignee_id": thread.assignee_id }),
        )
        .await?;
        assigned = Some(InboxEvent {
            previous_assignee_id: thread.assignee_id.clone(),
            ..InboxEvent::thread(organization_id, EventKind::ThreadAssigned, id)
        });
    }
    commit_and_tell(db, events, current, id, tx, assigned, "thread assigned").await
}
