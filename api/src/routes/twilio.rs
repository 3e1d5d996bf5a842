//! The Twilio card: `/integrations/twilio` and its panels (admins).

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

const PROVIDER: ProviderKind = ProviderKind::Twilio;

/// Where Twilio should post replies and status callbacks. Both URLs end with Twilio's
/// connection overrides, `#rc=5&rp=ct,rt,5xx`: Twilio retries a delivery up to 5 times
/// on a failed connection, a timeout or a 5xx. Use them whole.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioWebhooks {
    /// The number's SMS URL (incoming messages).
    inbound_url: String,
    /// The status callback URL sent with each message.
    status_url: String,
}

/// The Twilio integration.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioIntegration {
    #[schema(example = "twilio")]
    provider: &'static str,
    active: bool,
    #[schema(example = "+14155550100", min_length = 1)]
    phone_number: Option<String>,
    /// Twilio Account SID.
    #[schema(example = "AC0123456789abcdef0123456789abcdef", min_length = 1)]
    account_sid: Option<String>,
    /// Whether the auth token has been entered. The token itself is never shown.
    auth_token_set: bool,
    auth_token_set_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    webhooks: TwilioWebhooks,
}

impl TwilioIntegration {
    fn new(view: &IntegrationView, public_url: &str) -> Self {
        let urls = view.webhook_urls(public_url);
        Self {
            provider: PROVIDER.as_str(),
            active: view.row.active,
            phone_number: view.row.phone_number.clone(),
            account_sid: view.row.username.clone(),
            auth_token_set: view.row.secret.is_some(),
            auth_token_set_at: view.row.secret_set_at.map(utc),
            updated_at: utc(view.row.updated_at),
            webhooks: TwilioWebhooks {
                inbound_url: urls.inbound,
                status_url: urls.status,
            },
        }
    }
}

/// The Edit panel, saved whole: every field is required, and null clears a value. The
/// auth token is not accepted here.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettingsRequest {
    /// On: SMS go through Twilio and ClickSend is switched off. Off: all outbound SMS stop.
    active: bool,
    /// The Twilio number messages are sent from; needed to activate. Null clears it.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true, example = "+14155550100", min_length = 1)]
    phone_number: Option<String>,
    /// Twilio Account SID (`AC…`); needed to activate. Null clears it.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(
        required = true,
        example = "AC0123456789abcdef0123456789abcdef",
        min_length = 1
    )]
    account_sid: Option<String>,
}

/// The saved integration, and the provider that was switched off to activate it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioSaved {
    integration: TwilioIntegration,
    /// `clicksend` when this save deactivated it, else null.
    deactivated: Option<String>,
}

/// The auth-token panel. No `Debug`: it holds the token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioAuthTokenRequest {
    /// From the Twilio console. Stored encrypted; never shown again.
    #[schema(format = Password, min_length = 8, max_length = 256)]
    auth_token: String,
}

/// The Twilio integration with its webhook URLs.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The integration", body = TwilioIntegration),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The webhook token cannot be decrypted", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/integrations/twilio")]
pub async fn get_twilio(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<TwilioIntegration>, ApiError> {
    let view = integrations::get(&state, &admin, PROVIDER).await?;
    Ok(Json(TwilioIntegration::new(&view, &state.public_url)))
}

/// Save the Edit panel: activate, phone number, account SID.
///
/// Activating Twilio deactivates ClickSend in the same transaction. Deactivating stops
/// all outbound SMS. A body carrying `auth_token` is refused: use
/// `PUT /integrations/twilio/auth-token`.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = TwilioSettingsRequest,
    responses(
        (status = 200, description = "Saved", body = TwilioSaved),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won; try again", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an `auth_token` sent to this panel", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/integrations/twilio")]
pub async fn save_twilio(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<TwilioSettingsRequest>,
) -> Result<Json<TwilioSaved>, ApiError> {
    let body = body.into_inner().map_err(|error| {
        refuse_secret_in_settings(error, "auth_token", "PUT /integrations/twilio/auth-token")
    })?;
    let input = parse_settings(
        &state,
        &admin,
        PROVIDER,
        body.active,
        body.phone_number,
        body.account_sid,
        "account_sid",
    )
    .await?;
    let saved = integrations::save_settings(&state, &admin, PROVIDER, input).await?;
    Ok(Json(TwilioSaved {
        integration: TwilioIntegration::new(&saved.integration, &state.public_url),
        deactivated: saved
            .deactivated
            .map(|provider| provider.as_str().to_owned()),
    }))
}

/// Save the auth token. Write-only: it is stored encrypted and never returned, logged
/// or echoed.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = TwilioAuthTokenRequest,
    responses(
        (status = 200, description = "Saved; `auth_token_set` is true", body = TwilioIntegration),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/integrations/twilio/auth-token")]
pub async fn set_twilio_auth_token(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<TwilioAuthTokenRequest>,
) -> Result<Json<TwilioIntegration>, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let secret = validation.check("auth_token", ProviderSecret::parse(&body.auth_token));
    validation.finish()?;
    let secret = secret.ok_or_else(|| ApiError::invalid_field("auth_token", "is required"))?;
    let view = integrations::set_secret(&state, &admin, PROVIDER, secret).await?;
    Ok(Json(TwilioIntegration::new(&view, &state.public_url)))
}

/// Check the credentials against Twilio's account endpoint.
///
/// Answers 200 either way: `verified` with the account name and balance, or the reason
/// it failed (refused credentials, Twilio unreachable, …).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The check's result", body = VerifyResponse),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Account SID or auth token missing or unreadable", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/twilio/verify")]
pub async fn verify_twilio(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<VerifyResponse>, ApiError> {
    Ok(Json(
        integrations::verify(&state, &admin, PROVIDER).await?.into(),
    ))
}

/// Send a test SMS to an internal number, straight through Twilio (active or not).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    request_body = TestSmsRequest,
    responses(
        (status = 200, description = "Twilio accepted the message", body = TestSmsResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Number, account SID or auth token missing", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid number or text", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Twilio refused or failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Twilio is rate limiting; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/twilio/test-sms")]
pub async fn test_twilio(
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
        (status = 200, description = "The integration with its new webhook URLs", body = TwilioIntegration),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/twilio/webhook-token")]
pub async fn rotate_twilio_webhook_token(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<TwilioIntegration>, ApiError> {
    let view = integrations::rotate_webhook_token(&state, &admin, PROVIDER).await?;
    Ok(Json(TwilioIntegration::new(&view, &state.public_url)))
}

/// Set the Twilio number's SMS URL to this service's inbound webhook (status callbacks
/// are sent with each message).
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "SMS URL set", body = RegisterWebhooksResponse),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Number, account SID or auth token missing", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Twilio refused or failed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Twilio is rate limiting; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/integrations/twilio/register-webhooks")]
pub async fn register_twilio_webhooks(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<RegisterWebhooksResponse>, ApiError> {
    let (urls, registered) = integrations::register_webhooks(&state, &admin, PROVIDER).await?;
    Ok(Json(RegisterWebhooksResponse::new(urls, registered)))
}
