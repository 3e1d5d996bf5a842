//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use nextal_persistence::Db;

use crate::metrics::Metrics;
use crate::passwords::Passwords;

/// Shared application state, behind `web::Data`.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Password hashing.
    pub passwords: Passwords,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// The request body cap, in bytes.
    pub max_body_bytes: usize,
    /// How long a new session lasts.
    pub session_ttl: Duration,
}
