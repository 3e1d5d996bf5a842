//! The Integrations screen: one card per provider, at most one active, write-only
//! secrets sealed at rest, and the provider calls behind verify, test SMS and webhook
//! registration.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nextal_domain::AuditAction;
use nextal_domain::MessageStatus;
use nextal_domain::{PhoneNumber, ProviderKind, ProviderSecret, ProviderUsername};
use nextal_persistence::repo::integrations::{self, Integration, SealedChanges, Settings};
use nextal_persistence::repo::messages::{self, MessageEvent};
use nextal_persistence::repo::organizations;
use nextal_persistence::{DbConn, PersistenceError, SecretContext, SecretError, Tx};
use nextal_providers::{
    AccountSummary, OutboundSms, ProviderError, RegisteredWebhooks, SendOutcome, SmsProvider,
    WebhookUrls, by_kind,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::problem_kind::ProblemKind;
use crate::services::ServiceError;
use crate::services::auth::CurrentUser;
use crate::services::{audit, messaging, new_id, now};
use crate::state::AppState;

/// The associated-data field names of the two sealed values of an integration.
const SECRET_FIELD: &str = "secret";
const WEBHOOK_TOKEN_FIELD: &str = "webhook_token";

/// An integration as the admin sees it: the stored row and its opened webhook token.
pub struct IntegrationView {
    /// Which provider.
    pub provider: ProviderKind,
    /// The stored settings.
    pub row: Integration,
    /// The secret path segment of its webhook URLs.
    webhook_token: SecretString,
}

impl IntegrationView {
    /// The URLs this provider should call: (replies, delivery status). They end with
    /// the provider's URL suffix (connection options such as retries of a delivery we
    /// could not take); it is shown on the card too, so that URLs pasted into the
    /// provider's console behave alike.
    pub fn webhook_urls(&self, public_url: &str) -> WebhookUrls {
        let descriptor = by_kind(self.provider).descriptor();
        let base = format!(
            "{public_url}/webhooks/{}/{}",
            descriptor.slug(),
            self.webhook_token.expose_secret()
        );
        let suffix = descriptor.webhook_url_suffix;
        WebhookUrls {
            inbound: format!("{base}/inbound{suffix}"),
            status: format!("{base}/{}{suffix}", descriptor.status_path),
        }
    }
}

/// The Edit panel, validated.
pub struct SettingsInput {
    pub active: bool,
    pub phone_number: Option<PhoneNumber>,
    pub username: Option<ProviderUsername>,
}

/// The result of saving the Edit panel.
pub struct SettingsSaved {
    pub integration: IntegrationView,
    /// The provider this activation switched off, if any.
    pub deactivated: Option<ProviderKind>,
}

/// What a credential check found.
pub enum Verification {
    /// The provider accepted the credentials.
    Verified(AccountSummary),
    /// It did not, or could not be asked; the reason is for the admin.
    Failed(String),
}

/// The accepted test message.
pub struct TestSmsSent {
    pub provider_message_id: String,
    pub parts: Option<i32>,
    pub price: Option<String>,
}

/// Both cards of the caller's organization, in the screen's order.
pub async fn cards(
    state: &AppState,
    admin: &CurrentUser,
) -> Result<Vec<Integration>, ServiceError> {
    let mut conn = state.db.conn().await?;
    let mut cards = Vec::with_capacity(ProviderKind::ALL.len());
    for provider in ProviderKind::ALL {
        cards.push(ensure(&mut conn, state, admin.organization_id(), provider).await?);
    }
    Ok(cards)
}

/// One provider's integration with its webhook URLs.
pub async fn get(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
) -> Result<IntegrationView, ServiceError> {
    let mut conn = state.db.conn().await?;
    let row = ensure(&mut conn, state, admin.organization_id(), provider).await?;
    view(state, provider, row)
}

/// Saves the Edit panel. Activating one provider deactivates the other in the same
/// transaction, with the organization locked so that racing admins leave exactly one
/// active; the database's partial unique index holds the line regardless.
pub async fn save_settings(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
    input: SettingsInput,
) -> Result<SettingsSaved, ServiceError> {
    let organization_id = admin.organization_id();
    // Any save may switch a provider off: wait for hand-overs in flight and let none
    // start until this commits, so nothing reaches a provider after its deactivation.
    let _gate = state.gates.close(organization_id).await;
    let now = now();
    let mut tx = state.db.begin().await?;
    organizations::lock(&mut tx, organization_id).await?;
    ensure(&mut tx, state, organization_id, provider).await?;
    let deactivated = if input.active {
        integrations::deactivate_others(&mut tx, organization_id, provider, now).await?
    } else {
        Vec::new()
    };
    let settings = Settings {
        active: input.active,
        phone_number: input.phone_number.map(|number| number.as_str().to_owned()),
        username: input.username.map(|username| username.as_str().to_owned()),
        updated_at: now,
    };
    match integrations::update_settings(&mut tx, organization_id, provider, &settings).await {
        Err(PersistenceError::UniqueViolation { .. }) => {
            return Err(ServiceError::Conflict {
                kind: ProblemKind::ConcurrentChange,
                detail: "Another change to the integrations was saved at the same time; try again."
                    .to_owned(),
            });
        }
        other => other?,
    }
    let switched_off = deactivated
        .iter()
        .copied()
        .chain((!settings.active).then_some(provider));
    let mut cancelled = 0;
    for switched in switched_off {
        let reason = messaging::deactivated(switched);
        let ids =
            messages::cancel_pending_for_provider(&mut tx, organization_id, switched, &reason, now)
                .await?;
        let history: Vec<MessageEvent> = ids
            .iter()
            .map(|id| MessageEvent {
                id: new_id(),
                message_id: id.clone(),
                status: MessageStatus::Cancelled,
                detail: Some(reason.clone()),
                created_at: now,
            })
            .collect();
        messages::insert_events(&mut tx, &history).await?;
        cancelled += ids.len();
        cancelled +=
            messaging::cancel_waiting_chunks(&mut tx, organization_id, switched, now).await?;
    }
    audit::record(
        &mut tx,
        admin,
        AuditAction::IntegrationUpdated,
        provider.as_str(),
        json!({
            "active": settings.active,
            "phone_number": settings.phone_number,
            "username": settings.username,
            "pending_messages_cancelled": cancelled,
        }),
    )
    .await?;
    for other in &deactivated {
        audit::record(
            &mut tx,
            admin,
            AuditAction::IntegrationDeactivated,
            other.as_str(),
            json!({ "reason": format!("{} was activated", provider.as_str()) }),
        )
        .await?;
    }
    let row = commit_change(state, tx, organization_id, provider).await?;
    tracing::info!(
        organization_id,
        provider = provider.as_str(),
        active = settings.active,
        deactivated = ?deactivated,
        "integration settings saved"
    );
    Ok(SettingsSaved {
        integration: view(state, provider, row)?,
        deactivated: deactivated.first().copied(),
    })
}

/// Seals and stores a new API key or auth token. The value is never returned or logged.
pub async fn set_secret(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
    secret: ProviderSecret,
) -> Result<IntegrationView, ServiceError> {
    let organization_id = admin.organization_id();
    let sealed = state.keyring.seal(
        secret.expose(),
        context(organization_id, provider, SECRET_FIELD),
    );
    let mut tx = state.db.begin().await?;
    ensure(&mut tx, state, organization_id, provider).await?;
    let now = now();
    integrations::store_sealed(
        &mut tx,
        organization_id,
        provider,
        &SealedChanges {
            secret: Some(&sealed),
            secret_set_at: Some(now),
            updated_at: Some(now),
            ..SealedChanges::default()
        },
    )
    .await?;
    audit::record(
        &mut tx,
        admin,
        AuditAction::IntegrationSecretSet,
        provider.as_str(),
        json!({ "field": provider.secret_name() }),
    )
    .await?;
    let row = commit_change(state, tx, organization_id, provider).await?;
    tracing::info!(
        organization_id,
        provider = provider.as_str(),
        "integration secret replaced"
    );
    view(state, provider, row)
}

/// Replaces the webhook token: the old URLs stop working at once.
pub async fn rotate_webhook_token(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
) -> Result<IntegrationView, ServiceError> {
    let organization_id = admin.organization_id();
    let (sealed, hash) = new_webhook_token(state, organization_id, provider);
    let mut tx = state.db.begin().await?;
    ensure(&mut tx, state, organization_id, provider).await?;
    integrations::store_sealed(
        &mut tx,
        organization_id,
        provider,
        &SealedChanges {
            webhook_token: Some(&sealed),
            webhook_token_hash: Some(&hash),
            updated_at: Some(now()),
            ..SealedChanges::default()
        },
    )
    .await?;
    audit::record(
        &mut tx,
        admin,
        AuditAction::IntegrationWebhookTokenRotated,
        provider.as_str(),
        json!({}),
    )
    .await?;
    let row = commit_change(state, tx, organization_id, provider).await?;
    view(state, provider, row)
}

/// Checks the stored credentials against the provider's account endpoint.
pub async fn verify(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
) -> Result<Verification, ServiceError> {
    let integration = get(state, admin, provider).await?;
    let client = client(state, &integration)?;
    Ok(match client.verify().await {
        Ok(account) => Verification::Verified(account),
        Err(error) => Verification::Failed(describe(provider, &error)),
    })
}

/// Sends one SMS straight to the provider, outside the outbox, so an admin can check
/// the setup before going live (active or not).
pub async fn send_test_sms(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
    to: PhoneNumber,
    body: String,
) -> Result<TestSmsSent, ServiceError> {
    let integration = get(state, admin, provider).await?;
    let from = sender_number(&integration)?;
    let client = client(state, &integration)?;
    let message = OutboundSms {
        reference: new_id(),
        to: to.as_str().to_owned(),
        from,
        body,
        status_callback: None,
    };
    let outcome = client
        .send(std::slice::from_ref(&message))
        .await
        .map_err(|error| upstream(provider, &error))?
        .into_iter()
        .next();
    let sent = match outcome {
        Some(SendOutcome::Accepted {
            provider_message_id,
            parts,
            price,
        }) => TestSmsSent {
            provider_message_id,
            parts,
            price,
        },
        Some(SendOutcome::Rejected { code, reason }) => {
            return Err(ServiceError::Provider {
                kind: ProblemKind::ProviderRejected,
                detail: format!("{provider} refused the message: {reason} ({code})."),
                retry_after_secs: None,
            });
        }
        Some(SendOutcome::Failed(error)) => return Err(upstream(provider, &error)),
        None => {
            return Err(upstream(
                provider,
                &ProviderError::Unreadable("no outcome for the message".to_owned()),
            ));
        }
    };
    let mut conn = state.db.conn().await?;
    audit::record(
        &mut conn,
        admin,
        AuditAction::IntegrationTestSmsSent,
        provider.as_str(),
        json!({ "to": message.to, "provider_message_id": sent.provider_message_id }),
    )
    .await?;
    Ok(sent)
}

/// Points the provider's reply and status notifications at our webhook URLs.
pub async fn register_webhooks(
    state: &AppState,
    admin: &CurrentUser,
    provider: ProviderKind,
) -> Result<(WebhookUrls, RegisteredWebhooks), ServiceError> {
    let integration = get(state, admin, provider).await?;
    let number = sender_number(&integration)?;
    let client = client(state, &integration)?;
    let urls = integration.webhook_urls(&state.public_url);
    let registered = client
        .register_webhooks(&number, &urls)
        .await
        .map_err(|error| upstream(provider, &error))?;
    let mut conn = state.db.conn().await?;
    audit::record(
        &mut conn,
        admin,
        AuditAction::IntegrationWebhooksRegistered,
        provider.as_str(),
        json!({ "inbound_id": registered.inbound_id, "status_id": registered.status_id }),
    )
    .await?;
    Ok((urls, registered))
}

/// The row of `provider`, created (inactive, with a fresh webhook token) on first use.
async fn ensure(
    conn: &mut DbConn,
    state: &AppState,
    organization_id: &str,
    provider: ProviderKind,
) -> Result<Integration, ServiceError> {
    if let Some(row) = integrations::find(conn, organization_id, provider).await? {
        return Ok(row);
    }
    let (sealed, hash) = new_webhook_token(state, organization_id, provider);
    let now = now();
    integrations::insert_if_missing(
        conn,
        &Integration {
            id: new_id(),
            organization_id: organization_id.to_owned(),
            provider,
            active: false,
            phone_number: None,
            username: None,
            secret: None,
            secret_set_at: None,
            webhook_token: sealed,
            webhook_token_hash: hash,
            created_at: now,
            updated_at: now,
        },
    )
    .await?;
    integrations::find(conn, organization_id, provider)
        .await?
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("integration row missing after insert"))
        })
}

fn view(
    state: &AppState,
    provider: ProviderKind,
    row: Integration,
) -> Result<IntegrationView, ServiceError> {
    let webhook_token = state
        .keyring
        .open(
            &row.webhook_token,
            context(&row.organization_id, provider, WEBHOOK_TOKEN_FIELD),
        )
        .map_err(|error| {
            unreadable(
                provider,
                "webhook token",
                &error,
                "rotate the webhook token",
            )
        })?;
    Ok(IntegrationView {
        provider,
        row,
        webhook_token,
    })
}

/// A random 256-bit webhook token: sealed (to show it in URLs) and digested (to look a
/// webhook up by it without decrypting every row).
fn new_webhook_token(
    state: &AppState,
    organization_id: &str,
    provider: ProviderKind,
) -> (Vec<u8>, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let sealed = state.keyring.seal(
        &token,
        context(organization_id, provider, WEBHOOK_TOKEN_FIELD),
    );
    (sealed, Sha256::digest(token.as_bytes()).to_vec())
}

fn context<'a>(
    organization_id: &'a str,
    provider: ProviderKind,
    field: &'static str,
) -> SecretContext<'a> {
    SecretContext {
        organization_id,
        provider: provider.as_str(),
        field,
    }
}

/// Commits a change to the organization's integration with `provider` and returns the
/// row as it now stands. Webhooks read integrations through a cache: it is emptied, so
/// the change applies to the next delivery.
async fn commit_change(
    state: &AppState,
    mut tx: Tx,
    organization_id: &str,
    provider: ProviderKind,
) -> Result<Integration, ServiceError> {
    let row = integrations::find(&mut tx, organization_id, provider)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    state.webhook_tokens.clear();
    Ok(row)
}

fn sender_number(integration: &IntegrationView) -> Result<String, ServiceError> {
    integration
        .row
        .phone_number
        .clone()
        .ok_or_else(|| ServiceError::Conflict {
            kind: ProblemKind::PhoneNumberMissing,
            detail: format!(
                "Set the {} phone number in the Edit panel first.",
                integration.provider
            ),
        })
}

/// A client for the integration's stored credentials; 409 when they are incomplete.
fn client(
    state: &AppState,
    integration: &IntegrationView,
) -> Result<Box<dyn SmsProvider>, ServiceError> {
    client_for(state, integration.provider, &integration.row)
}

/// The username and opened secret of `row`; 409 when incomplete or unreadable.
pub fn credentials(
    state: &AppState,
    provider: ProviderKind,
    row: &Integration,
) -> Result<(String, SecretString), ServiceError> {
    let missing = || ServiceError::Conflict {
        kind: ProblemKind::CredentialMissing,
        detail: format!(
            "{provider} needs its {} and {} before it can be used.",
            by_kind(provider).descriptor().username.label,
            provider.secret_name()
        ),
    };
    let username = row.username.clone().ok_or_else(missing)?;
    let sealed = row.secret.as_deref().ok_or_else(missing)?;
    let secret = state
        .keyring
        .open(
            sealed,
            context(&row.organization_id, provider, SECRET_FIELD),
        )
        .map_err(|error| {
            unreadable(
                provider,
                provider.secret_name(),
                &error,
                &format!("enter the {} again", provider.secret_name()),
            )
        })?;
    Ok((username, secret))
}

/// The URLs `row`'s provider should call.
pub fn webhook_urls_for(
    state: &AppState,
    provider: ProviderKind,
    row: &Integration,
) -> Result<WebhookUrls, ServiceError> {
    Ok(view(state, provider, row.clone())?.webhook_urls(&state.public_url))
}

/// A client for `row`'s stored credentials; 409 when they are incomplete or unreadable.
pub fn client_for(
    state: &AppState,
    provider: ProviderKind,
    row: &Integration,
) -> Result<Box<dyn SmsProvider>, ServiceError> {
    let (username, secret) = credentials(state, provider, row)?;
    Ok(state.providers.client(by_kind(provider), username, secret))
}

fn unreadable(
    provider: ProviderKind,
    what: &str,
    error: &SecretError,
    remedy: &str,
) -> ServiceError {
    tracing::error!(provider = provider.as_str(), %error, "stored {what} cannot be opened");
    ServiceError::Conflict {
        kind: ProblemKind::SecretUnreadable,
        detail: format!(
            "The stored {provider} {what} cannot be decrypted ({error}). Check NEXTAL_MASTER_KEY, or {remedy}."
        ),
    }
}

/// A provider failure in words for an admin.
fn describe(provider: ProviderKind, error: &ProviderError) -> String {
    match error {
        ProviderError::Unauthorized(reason) => {
            format!("{provider} refused the credentials: {reason}")
        }
        ProviderError::RateLimited { .. } => {
            format!("{provider} is rate limiting requests; try again shortly")
        }
        ProviderError::Unavailable(reason) => format!("{provider} could not be reached: {reason}"),
        ProviderError::Rejected { code, reason } => {
            format!("{provider} refused the request: {reason} ({code})")
        }
        ProviderError::Unreadable(reason) => {
            format!("{provider} answered with something unexpected: {reason}")
        }
    }
}

fn upstream(provider: ProviderKind, error: &ProviderError) -> ServiceError {
    let kind = match error {
        ProviderError::Unauthorized(_) => ProblemKind::ProviderUnauthorized,
        ProviderError::RateLimited { .. } => ProblemKind::ProviderRateLimited,
        ProviderError::Unavailable(_) => ProblemKind::ProviderUnavailable,
        ProviderError::Rejected { .. } => ProblemKind::ProviderRejected,
        ProviderError::Unreadable(_) => ProblemKind::ProviderUnreadable,
    };
    let retry_after_secs = match error {
        ProviderError::RateLimited { retry_after } => {
            Some(retry_after.map_or(30, |wait| wait.as_secs().max(1)))
        }
        _ => None,
    };
    ServiceError::Provider {
        kind,
        detail: describe(provider, error),
        retry_after_secs,
    }
}

/// Re-seals every stored secret and webhook token under the keyring's current key, in
/// one transaction; values already under it are left alone. Returns how many
/// integrations changed. A value that opens under no configured key aborts the whole
/// rotation with the integration named, so nothing is lost.
pub async fn reseal_all(
    db: &nextal_persistence::Db,
    keyring: &nextal_persistence::Keyring,
) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let mut changed = 0;
    for row in integrations::all(&mut tx).await? {
        let stale_secret = row
            .secret
            .as_deref()
            .is_some_and(|sealed| !keyring.is_current(sealed));
        if !stale_secret && keyring.is_current(&row.webhook_token) {
            continue;
        }
        let name = format!(
            "the {} integration of organization {}",
            row.provider.as_str(),
            row.organization_id
        );
        let reseal = |sealed: &[u8], field: &'static str| -> anyhow::Result<Vec<u8>> {
            let context = SecretContext {
                organization_id: &row.organization_id,
                provider: row.provider.as_str(),
                field,
            };
            let plaintext = keyring
                .open(sealed, context)
                .map_err(|error| anyhow::anyhow!("{field} of {name} {error}"))?;
            Ok(keyring.seal(plaintext.expose_secret(), context))
        };
        let secret = row
            .secret
            .as_deref()
            .map(|sealed| reseal(sealed, SECRET_FIELD))
            .transpose()?;
        let webhook_token = reseal(&row.webhook_token, WEBHOOK_TOKEN_FIELD)?;
        // Only if nobody replaced the values meanwhile: a new secret saved during the
        // rotation must not be overwritten with the old one.
        if integrations::reseal(&mut tx, &row, secret.as_deref(), &webhook_token).await? {
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}
