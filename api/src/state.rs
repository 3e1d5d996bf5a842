//! What every handler can reach.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use nextal_domain::{DailySendCap, ProviderKind};
use nextal_persistence::{Db, Keyring};
use nextal_providers::{ClientOptions, Provider, SmsProvider};
use secrecy::SecretString;

use crate::clock::Clock;
use crate::events::EventBus;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::outbox::{DispatchSettings, HandoverGates, OutboxSignal};
use crate::passwords::Passwords;
use crate::services::DbSource;
use crate::webhooks::limits::WebhookLimits;
use crate::webhooks::tokens::TokenCache;

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
    /// Seals and opens provider secrets.
    pub keyring: Arc<Keyring>,
    /// Where providers are reached and how patiently.
    pub providers: ProviderEndpoints,
    /// The public base URL, without a trailing slash; webhook URLs start with it.
    pub public_url: String,
    /// Keeps hand-overs and deactivations apart.
    pub gates: HandoverGates,
    /// Wakes the dispatcher when a message is queued.
    pub outbox_signal: OutboxSignal,
    /// Wakes the writer of bulk sends' chunks when a batch is accepted.
    pub chunk_signal: OutboxSignal,
    /// How the dispatcher paces itself.
    pub dispatch: DispatchSettings,
    /// Live inbox events.
    pub events: EventBus,
    /// The webhook writers' queue.
    pub ingest: Ingest,
    /// Recently looked-up webhook tokens.
    pub webhook_tokens: TokenCache,
    /// Rate limits on the webhook routes (this process's).
    pub webhook_limits: Arc<WebhookLimits>,
    /// Messages an organization may send per day unless it has a cap of its own.
    pub daily_send_cap: DailySendCap,
    /// The time sends are decided at.
    pub clock: Clock,
}

impl DbSource for AppState {
    fn db(&self) -> &Db {
        &self.db
    }
}

/// Provider base URLs and the HTTP client shared by every provider call.
pub struct ProviderEndpoints {
    /// One connection pool for all provider calls.
    pub http: reqwest::Client,
    /// Each provider's API base URL.
    pub base_urls: HashMap<ProviderKind, String>,
    /// Per-call timeout.
    pub options: ClientOptions,
}

impl ProviderEndpoints {
    /// A client of `provider` for an account with these credentials.
    pub fn client(
        &self,
        provider: &dyn Provider,
        username: String,
        secret: SecretString,
    ) -> Box<dyn SmsProvider> {
        let kind = provider.descriptor().kind;
        // Settings name a base URL for every kind (`Settings::provider_base_urls`).
        let base_url = self.base_urls.get(&kind).map_or("", String::as_str);
        (provider.descriptor().client)(self.http.clone(), base_url, username, secret, self.options)
    }
}
