//! Live inbox events: new replies and status changes, fanned out to every open
//! `GET /sms/events` stream of the organization.
//!
//! On PostgreSQL an event travels through `NOTIFY` inside the transaction that made it,
//! so every replica (this one included) hears it once the change is committed and never
//! hears a change that rolled back. On SQLite there is one process: events are published
//! in-process after the commit.

use std::sync::Arc;
use std::time::Duration;

use nextal_domain::MessageStatus;
use nextal_persistence::notifications::{self, Listener};
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
}

impl EventKind {
    /// The SSE `event:` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageReceived => "message.received",
            EventKind::MessageStatus => "message.status",
            EventKind::ThreadRead => "thread.read",
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

    /// Announces `events` as part of the transaction on `conn` (PostgreSQL); call
    /// [`EventBus::committed`] once it has committed.
    pub async fn stage(
        &self,
        conn: &mut DbConn,
        events: &[InboxEvent],
    ) -> Result<(), PersistenceError> {
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
