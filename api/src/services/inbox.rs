//! The inbox: the organization's SMS threads, newest activity first, a thread's messages,
//! and marking a thread read.

use nextal_persistence::Db;
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::candidates;
use nextal_persistence::repo::inbox::{self, InboxThread, ThreadFilter, ThreadPosition};
use nextal_persistence::repo::messages::{Message, MessageEvent};
use nextal_persistence::repo::threads;

use crate::events::{EventBus, EventKind, InboxEvent};
use crate::services::auth::CurrentUser;
use crate::services::{ServiceError, now};

/// One page of threads and the organization's unread total.
pub struct ThreadList {
    /// The page, in inbox order: up to `limit` threads.
    pub threads: Vec<InboxThread>,
    /// Unread replies over all the organization's threads, whatever the filter.
    pub unread_total: i64,
}

/// Up to `limit` of the caller's organization's threads matching `filter`, after
/// position `after` in inbox order, and the unread total. A `candidate_id` filter must
/// name one of the organization's candidates.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    filter: &ThreadFilter,
    after: Option<&ThreadPosition>,
    limit: i64,
) -> Result<ThreadList, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    if let Some(candidate_id) = &filter.candidate_id {
        candidates::find(&mut conn, organization_id, candidate_id)
            .await?
            .ok_or_else(|| ServiceError::UnknownReference {
                field: "candidate_id",
                message: "is not a candidate of this organization".to_owned(),
            })?;
    }
    let threads = inbox::list(&mut conn, organization_id, filter, after, limit).await?;
    let unread_total = inbox::unread_total(&mut conn, organization_id).await?;
    Ok(ThreadList {
        threads,
        unread_total,
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

/// Marks thread `id` read: no unread replies, and tells `events`' listeners. Idempotent.
pub async fn mark_read(
    db: &Db,
    events: &EventBus,
    current: &CurrentUser,
    id: &str,
) -> Result<InboxThread, ServiceError> {
    let organization_id = current.organization_id();
    let mut tx = db.begin().await?;
    let read = inbox::mark_read(&mut tx, organization_id, id, now()).await?;
    tx.commit().await?;
    let mut conn = db.conn().await?;
    if read {
        tracing::info!(thread_id = %id, read_by = %current.user.id, "thread marked read");
        let read = vec![InboxEvent {
            organization_id: organization_id.to_owned(),
            kind: EventKind::ThreadRead,
            thread_id: id.to_owned(),
            message_id: None,
            status: None,
        }];
        // Outside a transaction PostgreSQL delivers the notification at once.
        events.stage(&mut conn, &read).await?;
        events.committed(read);
    }
    inbox::find(&mut conn, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)
}
