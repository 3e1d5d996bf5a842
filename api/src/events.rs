//! Live inbox events: new replies, status changes and changes to threads, fanned out to
//! every open `GET /sms/events` stream of the organization. Each event names its
//! thread's assignee as of the transaction that made it, so a stream can keep to one
//! member's threads without a query per event.
//!
//! On PostgreSQL an event travels through `NOTIFY` inside the transaction that made it,
//! so every replica (this one included) hears it once the change is committed and never
//! hears a change that rolled back. On SQLite there is one process: events are published
//! in-process after the commit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use nextal_domain::MessageStatus;
use nextal_persistence::notifications::{self, Listener};
use nextal_persistence::repo::threads;
use nextal_persistence::{Backend, DbConn, PersistenceError};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// Events buffered per subscriber before a slow one misses some (and is told to resync).
const BUFFER: usize = 1024;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A reply arrived.
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A message's status changed (sent, delivered, failed…).
    #[serde(rename = "message.status")]
    MessageStatus,
    /// Someone read the thread: its unread count is 0.
    #[serde(rename = "thread.read")]
    ThreadRead,
    /// Someone marked the thread unread again.
    #[serde(rename = "thread.unread")]
    ThreadUnread,
    /// The thread's assignee changed.
    #[serde(rename = "thread.assigned")]
    ThreadAssigned,
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message.received",
            EventKind::MessageStatus => "message.status",
            EventKind::ThreadRead => "thread.read",
            EventKind::ThreadUnread => "thread.unread",
            EventKind::ThreadAssigned => "thread.assigned",
        }
    }
}

/// One inbox event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEvent {
    /// Whose event it is; never sent to clients.
    #[serde(rename = "o")]
    pub organization_id: String,
    #[serde(rename = "k")]
    pub kind: EventKind,
    #[serde(rename = "t")]
    pub thread_id: String,
    /// The message, for message events.
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The message's status, for message events.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MessageStatus>,
    /// The thread's assignee (`None`: the team's); [`EventBus::stage`] fills it in.
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<String>,
    /// For [`EventKind::ThreadAssigned`], the assignee before (`None`: the team's).
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub previous_assignee_id: Option<String>,
}

impl InboxEvent {
    /// An event of `kind` about thread `thread_id` of `organization_id`, for no message;
    /// its assignee is filled in when it is staged.
    pub fn thread(organization_id: &str, kind: EventKind, thread_id: &str) -> Self {
        Self {
            organization_id: organization_id.to_owned(),
            kind,
            thread_id: thread_id.to_owned(),
            message_id: None,
            status: None,
            assignee_id: None,
            previous_assignee_id: None,
        }
    }

    /// An event of `kind` about message `message_id` of thread `thread_id`, now in
    /// `status`; its assignee is filled in when it is staged.
    pub fn message(
        organization_id: &str,
        kind: EventKind,
        thread_id: &str,
        message_id: &str,
        status: MessageStatus,
    ) -> Self {
        Self {
            message_id: Some(message_id.to_owned()),
            status: Some(status),
            ..Self::thread(organization_id, kind, thread_id)
        }
    }

    /// Whether a stream that keeps to `user_id`'s and the team's threads shows it: the
    /// thread is theirs or nobody's, or (for a new assignee) it was.
    pub fn concerns(&self, user_id: &str) -> bool {
        let ours = |assignee: Option<&str>| assignee.is_none_or(|assignee| assignee == user_id);
        ours(self.assignee_id.as_deref())
            || (self.kind == EventKind::ThreadAssigned
                && ours(self.previous_assignee_id.as_deref()))
    }
}

/// The process's event fan-out.
#[derive(Clone)]
pub struct EventBus {
    backend: Backend,
    sender: broadcast::Sender<Arc<InboxEvent>>,
}

impl EventBus {
    /// A bus for `backend`; on PostgreSQL call [`EventBus::listen`] to feed it.
    pub fn new(backend: Backend) -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        Self { backend, sender }
    }

    /// A new subscriber.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<InboxEvent>> {
        self.sender.subscribe()
    }

    /// Names each of `events`' thread assignee as the transaction on `conn` sees it, and
    /// announces them as part of it (PostgreSQL); call [`EventBus::committed`] once it has
    /// committed.
    pub async fn stage(
        &self,
        conn: &mut DbConn,
        events: &mut [InboxEvent],
    ) -> Result<(), PersistenceError> {
        let mut threads_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for event in events.iter() {
            threads_of
                .entry(&event.organization_id)
                .or_default()
                .push(&event.thread_id);
        }
        let mut assignees = BTreeMap::new();
        for (organization_id, mut thread_ids) in threads_of {
            thread_ids.sort_unstable();
            thread_ids.dedup();
            let found = threads::assignees(conn, organization_id, &thread_ids).await?;
            assignees.insert(organization_id.to_owned(), found);
        }
        for event in events.iter_mut() {
            event.assignee_id = assignees
                .get(&event.organization_id)
                .and_then(|found| found.get(&event.thread_id))
                .cloned()
                .flatten();
        }
        let payloads: Vec<String> = events
            .iter()
            .filter_map(|event| serde_json::to_string(event).ok())
            .collect();
        notifications::notify(conn, &payloads).await
    }

    /// Publishes committed `events` in-process (SQLite); on PostgreSQL the listener does.
    pub fn committed(&self, events: Vec<InboxEvent>) {
        if self.backend == Backend::Sqlite {
            for event in events {
                // No subscriber is not an error: nobody has the inbox open.
                let _ = self.sender.send(Arc::new(event));
            }
        }
    }

    /// Feeds the bus from PostgreSQL notifications for as long as the process runs,
    /// reconnecting after a lost connection.
    pub fn listen(&self, database_url: String) {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            loop {
                match Listener::connect(&database_url).await {
                    Ok(mut listener) => {
                        tracing::info!("listening for inbox events");
                        while let Some(payload) = listener.next().await {
                            match payload {
                                Ok(payload) => match serde_json::from_str::<InboxEvent>(&payload) {
                                    Ok(event) => {
                                        let _ = sender.send(Arc::new(event));
                                    }
                                    Err(error) => {
                                        tracing::warn!(%error, "ignoring an unreadable inbox event")
                                    }
                                },
                                Err(error) => {
                                    tracing::warn!(%error, "inbox event listener failed");
                                    break;
                                }
                            }
                        }
                        tracing::warn!("inbox event listener disconnected; reconnecting");
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for inbox events; retrying");
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
