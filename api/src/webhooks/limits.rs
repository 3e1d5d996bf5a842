//! Rate limits on the webhook routes, decided by `governor` and kept in this process's
//! memory (each replica limits what it receives).
//!
//! - **Per integration**: deliveries that passed authentication, on average
//!   `NEXTAL_WEBHOOK_RATE_PER_SEC` with bursts of `NEXTAL_WEBHOOK_BURST` (by default
//!   10,000 a second and 100,000 at once, ten times a 10,000-message campaign's
//!   receipts). Generous on purpose: a provider may not resend a refused delivery, so
//!   the limit must never be what stops genuine traffic. When the database cannot keep
//!   up, the ingest queue slows deliveries down instead ([`super::Ingest::submit`]).
//!   The limit only bounds a flood from someone holding a leaked URL. Forged
//!   deliveries never use it up.
//! - **Per client address** (the TCP peer, as for sign-in throttling): requests that fail
//!   authentication (an unknown token, a bad signature), on average
//!   `NEXTAL_WEBHOOK_FAILURES_PER_MIN` with bursts of `NEXTAL_WEBHOOK_FAILURE_BURST`. The
//!   failure that goes past the budget, and then every request from that address whose
//!   token is not proven, get 429 until the budget allows one more failure; those are
//!   refused before their token is looked up. A token is proven once it authenticated in
//!   this process within [`PROVEN_FOR`]: providers send every tenant's webhooks from
//!   shared addresses, so one tenant's stale URL must not cost another tenant its
//!   replies. Requests with a proven token are neither counted nor refused here.
//!
//! A refused request stores nothing, not even in the raw webhook log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DashMapStateStore;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

/// How long a token that authenticated stays exempt from the per-address limit.
pub const PROVEN_FOR: Duration = Duration::from_secs(24 * 60 * 60);
/// Most blocked addresses remembered; past that, further ones are still answered 429
/// on each failure but their requests are looked up first.
const MAX_BLOCKED: usize = 100_000;
/// How often state that no longer limits anything is dropped.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(60);

/// The configured limits.
pub struct WebhookQuotas {
    /// Authenticated deliveries per integration per second, on average.
    pub rate_per_sec: u32,
    /// Authenticated deliveries per integration at once.
    pub burst: u32,
    /// Failed authentications per client address per minute, on average.
    pub failures_per_min: u32,
    /// Failed authentications per client address at once.
    pub failure_burst: u32,
}

/// The webhook limiters of this process.
pub struct WebhookLimits {
    clock: DefaultClock,
    per_integration: DefaultKeyedRateLimiter<String>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses past their failure budget, and until when.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    /// Digests of tokens that authenticated, and when they last did.
    proven: Mutex<HashMap<[u8; 32], Instant>>,
}

impl WebhookLimits {
    /// Limiters with `quotas`, and a background task that drops idle state while they
    /// are in use.
    pub fn start(quotas: &WebhookQuotas) -> Arc<Self> {
        let clock = DefaultClock::default();
        let per_integration = Quota::per_second(at_least_one(quotas.rate_per_sec))
            .allow_burst(at_least_one(quotas.burst));
        let failures = Quota::per_minute(at_least_one(quotas.failures_per_min))
            .allow_burst(at_least_one(quotas.failure_burst));
        let limits = Arc::new(Self {
            per_integration: RateLimiter::new(
                per_integration,
                DashMapStateStore::default(),
                clock.clone(),
            ),
            failures: RateLimiter::new(failures, DashMapStateStore::default(), clock.clone()),
            clock,
            blocked: Mutex::default(),
            proven: Mutex::default(),
        });
        tokio::spawn(housekeeping(Arc::downgrade(&limits)));
        limits
    }

    /// Lets one authenticated delivery of `integration_id` through, or says how long to
    /// wait.
    pub(super) fn admit(&self, integration_id: &str) -> Result<(), Duration> {
        self.per_integration
            .check_key(&integration_id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Notes that the token with `digest` authenticated just now.
    pub fn authenticated(&self, digest: [u8; 32]) {
        lock(&self.proven).insert(digest, Instant::now());
    }

    pub(super) fn is_proven(&self, digest: &[u8; 32]) -> bool {
        lock(&self.proven)
            .get(digest)
            .is_some_and(|at| at.elapsed() < PROVEN_FOR)
    }

    /// How long `address` stays refused, if it is past its failure budget.
    pub(super) fn blocked_for(&self, address: IpAddr) -> Option<Duration> {
        lock(&self.blocked)
            .get(&address)
            .and_then(|until| until.checked_duration_since(Instant::now()))
    }

    /// Counts a failed authentication from `address`; when that goes past its budget,
    /// blocks the address and returns how long for.
    pub(super) fn record_failure(&self, address: IpAddr) -> Option<Duration> {
        let not_until = self.failures.check_key(&address).err()?;
        let wait = not_until.wait_time_from(self.clock.now());
        let mut blocked = lock(&self.blocked);
        if blocked.len() < MAX_BLOCKED {
            blocked.insert(address, Instant::now() + wait);
        }
        Some(wait)
    }

    fn drop_idle_state(&self) {
        self.per_integration.retain_recent();
        self.failures.retain_recent();
        let now = Instant::now();
        lock(&self.blocked).retain(|_, until| *until > now);
        lock(&self.proven).retain(|_, at| now.duration_since(*at) < PROVEN_FOR);
    }
}

/// The SHA-256 digest a webhook token is stored and looked up by.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Drops idle limiter state every [`HOUSEKEEPING_INTERVAL`] until the limits are gone.
async fn housekeeping(limits: Weak<WebhookLimits>) {
    let mut interval = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        interval.tick().await;
        let Some(limits) = limits.upgrade() else {
            return;
        };
        limits.drop_idle_state();
    }
}

fn at_least_one(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
