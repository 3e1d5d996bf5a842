//! The ClickSend card: `/integrations/clicksend` and its panels (admins).

use actix_web::web::{Data, Json};
use actix_web::{get, post, put};
use chrono::{DateTime, Utc};
use nextal_domain::{ProviderKind, ProviderSecret, Validation};
use nextal_openapi::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson};
use crate::routes::integrations::{
    RegisterWebhooksResponse, TestSmsRequest, TestSmsResponse, VerifyResponse, parse_settings,
    parse_test_sms, refuse_secret_in_settings,
};
use crate::routes::schemas::utc;
use crate::services::integrations::{self, IntegrationView};
use crate::state::AppState;

const PROVIDER: ProviderKind = ProviderKind::ClickSend;

/// Where ClickSend should post replies and delivery receipts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClickSendWebhooks {
    /// Inbound SMS rule URL (JSON, form or query string).
    inbound_url: String,
    /// Delivery receipt rule URL.
    delivery_receipt_url: String,
}

/// The ClickSend integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClickSendIntegration {
    #[schema(example = "clicksend")]
    provider: &'static str,
    active: bool,
    #[schema(example = "+61411111111", min_length = 1)]
    phone_number: Option<String>,
    /// ClickSend API username.
    #[schema(example = "ops@acme.example", min_length = 1)]
    username: Option<String>,
    /// Whether the API key has been entered. The key itself is never shown.
    api_key_set: bool,
    api_key_set_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    webhooks: ClickSendWebhooks,
}

impl ClickSendIntegration {
    fn new(view: &IntegrationView, public_url: &str) -> Self {
        let urls = view.webhook_urls(public_url);
        Self {
            provider: PROVIDER.as_str(),
            active: view.row.active,
            phone_number: view.row.phone_number.clone(),
            username: view.row.username.clone(),
            api_key_set: view.row.secret.is_some(),
            api_key_set_at: view.row.secret_set_at.map(utc),
            updated_at: utc(view.row.updated_at),
            webhooks: ClickSendWebhooks {
                inbound_url: urls.inbound,
                delivery_receipt_url: urls.status,
            },
        }
    }
}

/// The Edit panel, saved whole: every field is required, and null clears a value. The
/// API key is not accepted here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickSendSettingsRequest {
    /// On: SMS go through ClickSend and Twilio is switched off. Off: all outbound SMS stop.
    active: bool,
    /// The ClickSend number messages are sent from; needed to activate. Null clears it.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, example = "+61411111111", min_length = 1)]
    phone_number: Option<String>,
    /// ClickSend API username; needed to activate. Null clears it.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, example = "ops@acme.example", min_length = 1)]
    username: Option<String>,
}

/// The saved integration, and the provider that was switched off to activate it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClickSendSaved {
    integration: ClickSendIntegration,
    /// `twilio` when this save deactivated it, else null.
    deactivated: Option<String>,
}

/// The Edit API Key panel. No `Debug`: it holds the key.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickSendApiKeyRequest {
    /// From the ClickSend dashboard, API Credentials. Stored encrypted; never shown again.
    #[schema(format = Password, min_length = 8, max_length = 256)]
    api_key: String,
}

/// The ClickSend integration with its webhook URLs.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integration", body = ClickSendIntegration),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The webhook token cannot be decrypted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/integrations/clicksend")]
pub async fn get_clicksend(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<ClickSendIntegration>, ApiError> {
    let view = integrations::get(&state, &admin, PROVIDER).await?;
    Ok(Json(ClickSendIntegration::new(&view, &state.public_url)))
}

/// Save the Edit panel: activate, phone number, username.
///
/// Activating ClickSend deactivates Twilio in the same transaction. Deactivating stops
/// all outbound SMS. A body carrying `api_key` is refused: use
/// `PUT /integrations/clicksend/api-key`.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = ClickSendSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = ClickSendSaved),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won; try again", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an `api_key` sent to this panel", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/integrations/clicksend")]
pub async fn save_clicksend(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<ClickSendSettingsRequest>,
) -> Result<Json<ClickSendSaved>, ApiError> {
    let body = body.into_inner().map_err(|error| {
        refuse_secret_in_settings(error, "api_key", "PUT /integrations/clicksend/api-key")
    })?;
    let input = parse_settings(
        &state,
        &admin,
        PROVIDER,
        body.active,
        body.phone_number,
        body.username,
        "username",
    )
    .await?;
    let saved = integrations::save_settings(&state, &admin, PROVIDER, input).await?;
    Ok(Json(ClickSendSaved {
        integration: ClickSendIntegration::new(&saved.integration, &state.public_url),
        deactivated: saved
            .deactivated
            .map(|provider| provider.as_str().to_owned()),
    }))
}

/// Save the API key (the Edit API Key panel). Write-only: it is stored encrypted and
/// never returned, logged or echoed.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = ClickSendApiKeyRequest,
    responses(
        (status = 200, description = "Saved; `api_key_set` is true", body = ClickSendIntegration),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid key", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/integrations/clicksend/api-key")]
pub async fn set_clicksend_api_key(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<ClickSendApiKeyRequest>,
) -> Result<Json<ClickSendIntegration>, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let secret = validation.check("api_key", ProviderSecret::parse(&body.api_key));
    validation.finish()?;
    let secret = secret.ok_or_else(|| ApiError::invalid_field("api_key", "is required"))?;
    let view = integrations::set_secret(&state, &admin, PROVIDER, secret).await?;
    Ok(Json(ClickSendIntegration::new(&view, &state.public_url)))
}

/// Check the credentials against ClickSend's account endpoint.
///
/// Answers 200 either way: `verified` with the account name and balance, or the reason
/// it failed (refused credentials, ClickSend unreachable, …).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The check's result", body = VerifyResponse),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Username or API key missing or unreadable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/clicksend/verify")]
pub async fn verify_clicksend(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<VerifyResponse>, ApiError> {
    Ok(Json(
        integrations::verify(&state, &admin, PROVIDER).await?.into(),
    ))
}

/// Send a test SMS to an internal number, straight through ClickSend (active or not).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = TestSmsRequest,
    responses(
        (status = 200, description = "ClickSend accepted the message", body = TestSmsResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Number, username or API key missing", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid number or text", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "ClickSend refused or failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ClickSend is rate limiting; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/clicksend/test-sms")]
pub async fn test_clicksend(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<TestSmsRequest>,
) -> Result<Json<TestSmsResponse>, ApiError> {
    let (to, text) = parse_test_sms(&state, &admin, PROVIDER, body.into_inner()?).await?;
    let sent = integrations::send_test_sms(&state, &admin, PROVIDER, to, text).await?;
    Ok(Json(sent.into()))
}

/// Rotate the secret token in the webhook URLs; the old URLs stop working at once.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integration with its new webhook URLs", body = ClickSendIntegration),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/clicksend/webhook-token")]
pub async fn rotate_clicksend_webhook_token(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<ClickSendIntegration>, ApiError> {
    let view = integrations::rotate_webhook_token(&state, &admin, PROVIDER).await?;
    Ok(Json(ClickSendIntegration::new(&view, &state.public_url)))
}

/// Create or update the inbound-SMS and delivery-receipt rules in the ClickSend account
/// so they post to this service's webhook URLs.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rules in place", body = RegisterWebhooksResponse),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Number, username or API key missing", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "ClickSend refused or failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "ClickSend is rate limiting; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/clicksend/register-webhooks")]
pub async fn register_clicksend_webhooks(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<RegisterWebhooksResponse>, ApiError> {
    let (urls, registered) = integrations::register_webhooks(&state, &admin, PROVIDER).await?;
    Ok(Json(RegisterWebhooksResponse::new(urls, registered)))
}
