//! From an HTTP delivery to a queued [`Delivery`]: the token names the organization,
//! the provider's signature (where it signs) proves the sender, the body is read as the
//! provider sends it.

use std::sync::Arc;

use nextal_domain::{CountryCode, PhoneNumber, ProviderKind};
use nextal_persistence::repo::integrations::{self, Integration};
use nextal_providers::by_kind;
use nextal_providers::registry::SignedRequest;
use nextal_providers::webhooks::{self, Params, WebhookError};
use secrecy::ExposeSecret;

use super::guard;
use super::limits::token_digest;
use crate::error::ApiError;
use crate::ingest::{Content, Delivery, DeliveryKind, Outcome};
use crate::services::{integrations::credentials, now};
use crate::state::AppState;

/// Webhook tokens are 43 characters of URL-safe base64; anything far from that is not
/// worth a database lookup.
const MAX_TOKEN_LENGTH: usize = 128;

/// One webhook request as it arrived.
pub struct Incoming<'a> {
    pub provider: ProviderKind,
    pub kind: DeliveryKind,
    /// The secret path segment.
    pub token: &'a str,
    pub content_type: Option<&'a str>,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub body: &'a [u8],
    /// The provider's signature header, when it signs its deliveries.
    pub signature: Option<&'a str>,
}

/// Authenticates, reads and queues a delivery; answers once it is durable.
///
/// - unknown token, or a token of the other provider: 404, nothing stored;
/// - a signing provider's delivery without a valid signature: 403, nothing stored;
/// - past its integration's rate limit: 429, nothing stored;
/// - no room in the ingest queue within `NEXTAL_WEBHOOK_WAIT_SECS`: 503, nothing stored;
/// - an unreadable body: stored raw (`unreadable`), then 400;
/// - otherwise stored and applied, and the outcome returned.
pub async fn receive(state: &AppState, incoming: Incoming<'_>) -> Result<Outcome, ApiError> {
    let digest = token_digest(incoming.token);
    let row = find_integration(state, &incoming, &digest).await?;
    let params = Params::read(incoming.content_type, incoming.query, incoming.body);
    check_signature(state, &incoming, &row, params.as_ref().ok())?;
    state.webhook_limits.authenticated(digest);
    // Only after authentication: forged deliveries must not use up a tenant's allowance.
    guard::admit(state, &row.id)?;
    let delivery = |content| Delivery {
        organization_id: row.organization_id.clone(),
        provider: incoming.provider,
        kind: incoming.kind,
        content,
        content_type: incoming.content_type.map(str::to_owned),
        // PostgreSQL text cannot hold NUL: a raw NUL byte is kept as U+FFFD, like any
        // other byte that is not UTF-8, so the delivery is stored instead of refused
        // with 503 and delivered again forever.
        payload: if incoming.body.is_empty() {
            incoming.query.to_owned()
        } else {
            String::from_utf8_lossy(incoming.body).replace('\0', "\u{FFFD}")
        },
        received_at: now(),
    };
    match params.and_then(|params| read(&incoming, &params)) {
        Ok(content) => state.ingest.submit(delivery(content)).await,
        Err(error) => {
            state.ingest.submit(delivery(Content::Unreadable)).await?;
            Err(refusal(error))
        }
    }
}

/// The integration the token in the path belongs to; 404 for an unknown token or one
/// of the other provider.
async fn find_integration(
    state: &AppState,
    incoming: &Incoming<'_>,
    digest: &[u8; 32],
) -> Result<Arc<Integration>, ApiError> {
    if incoming.token.is_empty() || incoming.token.len() > MAX_TOKEN_LENGTH {
        return Err(ApiError::NotFound);
    }
    // Looked up by hash: the comparison that takes variable time sees only a digest,
    // which tells an attacker nothing about a valid token.
    let hash = digest.to_vec();
    let row = match state.webhook_tokens.get(&hash) {
        Some(row) => row,
        None => {
            let mut conn = state.db.conn().await?;
            let row = integrations::find_by_webhook_token(&mut conn, &hash)
                .await?
                .map(Arc::new)
                .ok_or(ApiError::NotFound)?;
            state.webhook_tokens.put(hash, row.clone());
            row
        }
    };
    if row.provider == incoming.provider {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

/// 403 unless the request carries the provider's valid signature for the URL we gave
/// it, when the provider signs its deliveries.
fn check_signature(
    state: &AppState,
    incoming: &Incoming<'_>,
    row: &Integration,
    params: Option<&Params>,
) -> Result<(), ApiError> {
    let provider = by_kind(incoming.provider);
    if provider.descriptor().signature_header.is_none() {
        return Ok(());
    }
    let name = incoming.provider.display_name();
    let (_, secret) = credentials(state, incoming.provider, row).map_err(|_| {
        tracing::warn!(
            organization_id = %row.organization_id,
            "{name} webhook refused: no secret to check its signature with"
        );
        ApiError::Forbidden
    })?;
    let url = signed_url(state, incoming);
    let request = SignedRequest {
        url: &url,
        params,
        json: is_json(incoming.content_type),
        body: incoming.body,
        signature: incoming.signature,
    };
    if provider.signature_valid(secret.expose_secret(), &request) {
        Ok(())
    } else {
        tracing::warn!(organization_id = %row.organization_id, "{name} webhook refused: invalid signature");
        Err(ApiError::Forbidden)
    }
}

/// The URL the provider signed: the one we registered, built from `NEXTAL_PUBLIC_URL`
/// (never from proxy headers a client controls), plus the query string as received.
/// Without the URL suffix we registered with it (`Descriptor::webhook_url_suffix`): it
/// is a fragment, which the provider neither sends nor signs.
fn signed_url(state: &AppState, incoming: &Incoming<'_>) -> String {
    let descriptor = by_kind(incoming.provider).descriptor();
    let path = match incoming.kind {
        DeliveryKind::Inbound => "inbound",
        DeliveryKind::Receipt => descriptor.status_path,
    };
    let mut url = format!(
        "{}/webhooks/{}/{}/{path}",
        state.public_url,
        descriptor.slug(),
        incoming.token
    );
    if !incoming.query.is_empty() {
        url.push('?');
        url.push_str(incoming.query);
    }
    url
}

fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|value| {
        let essence = value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence == "application/json" || essence.ends_with("+json")
    })
}

/// What the delivery says.
fn read(incoming: &Incoming<'_>, params: &Params) -> Result<Content, WebhookError> {
    let descriptor = by_kind(incoming.provider).descriptor();
    Ok(match incoming.kind {
        DeliveryKind::Inbound => Content::Inbound(normalized((descriptor.inbound)(params)?)),
        DeliveryKind::Receipt => Content::Receipt((descriptor.status)(params)?),
    })
}

/// The reply with its sender in E.164, the form threads and candidates use. A sender
/// that is not a phone number (a short code, an alphanumeric id) is kept as sent: a
/// reply is never dropped for its number.
pub(crate) fn normalized(mut reply: webhooks::InboundSms) -> webhooks::InboundSms {
    let raw = reply.from.trim();
    let parsed = PhoneNumber::parse(raw, CountryCode::DEFAULT).or_else(|invalid| {
        // Some providers leave out the `+` of an international number.
        if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
            PhoneNumber::parse(&format!("+{raw}"), CountryCode::DEFAULT)
        } else {
            Err(invalid)
        }
    });
    reply.from = match parsed {
        Ok(number) => number.as_str().to_owned(),
        Err(_) => raw.to_owned(),
    };
    reply
}

/// The 400 for a body that cannot be used, naming the field when there is one: the
/// provider's request is malformed, whatever part of it is wrong.
fn refusal(error: WebhookError) -> ApiError {
    ApiError::Malformed(match error {
        WebhookError::Unreadable(reason) => reason,
        WebhookError::Missing(field) => format!("the delivery has no `{field}`"),
        WebhookError::Invalid { field, reason } => format!("`{field}` {reason}"),
    })
}
