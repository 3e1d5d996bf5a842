//! Repositories: one module per resource, each function one query scoped by organization.

pub mod audit;
pub mod batches;
pub mod bootstrap;
pub mod candidates;
pub mod consent;
pub mod daily_sends;
pub mod idempotency;
pub mod inbox;
pub mod integrations;
pub mod jobs;
pub mod login_throttle;
pub mod messages;
pub mod organizations;
pub mod provider_sync;
pub mod sessions;
pub mod templates;
pub mod threads;
pub mod users;
pub mod webhook_deliveries;

/// A keyset page request: rows after `after` (an id), at most `limit` of them.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// The last id of the previous page; `None` starts at the beginning.
    pub after: Option<String>,
    /// How many rows to return.
    pub limit: i64,
}
