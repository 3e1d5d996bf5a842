//! What the rest of the service shares with the outbox dispatcher, without depending on
//! it: how it paces itself, the signal that wakes it, and the hand-over gates that keep
//! a deactivation and a hand-over apart.

mod gate;

use std::sync::Arc;
use std::time::Duration;

pub use gate::HandoverGates;

/// How the dispatcher paces itself.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Most messages claimed in one round.
    pub claim_limit: i64,
    /// How long after an unanswered hand-over its outcome is looked up, giving the
    /// provider's history time to show an accepted message.
    pub settle_delay: Duration,
    /// How often an idle dispatcher looks for due messages (a send wakes it at once).
    pub poll_interval: Duration,
}

/// Shared between the dispatcher and the request handlers that wake it.
pub type OutboxSignal = Arc<tokio::sync::Notify>;
