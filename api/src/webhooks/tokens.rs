//! A short-lived cache of webhook token → integration, so that a burst of webhooks
//! costs one lookup per token instead of one per request.
//!
//! Only found tokens are cached (unknown ones must not grow memory). A change to an
//! integration in this process clears the cache at once; other replicas see it within
//! [`TTL`]. Whether the provider is active is never taken from here: the writer checks
//! it inside the transaction that stores the reply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nextal_persistence::repo::integrations::Integration;

/// How long a looked-up integration is trusted.
pub const TTL: Duration = Duration::from_secs(5);
/// Most tokens kept; beyond that the cache starts over.
const CAPACITY: usize = 10_000;

/// An integration row and when it was read.
type Entry = (Instant, Arc<Integration>);

/// Token hash → integration row, with when it was read.
#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
}

impl TokenCache {
    /// The integration of `token_hash`, if read less than [`TTL`] ago.
    pub fn get(&self, token_hash: &[u8]) -> Option<Arc<Integration>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(token_hash)
            .filter(|(read_at, _)| read_at.elapsed() < TTL)
            .map(|(_, integration)| integration.clone())
    }

    /// Remembers the integration of `token_hash`.
    pub fn put(&self, token_hash: Vec<u8>, integration: Arc<Integration>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(token_hash, (Instant::now(), integration));
    }

    /// Forgets everything: an integration changed (token, secret or settings).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
