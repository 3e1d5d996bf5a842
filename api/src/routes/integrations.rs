//! `GET /integrations` and the bodies every provider's panels share.

use actix_web::get;
use actix_web::web::{Data, Json};
use chrono::{DateTime, Utc};
use nextal_domain::{PhoneNumber, ProviderKind, ProviderUsername, Validation};
use nextal_persistence::repo::integrations::Integration;
use nextal_providers::{RegisteredWebhooks, WebhookUrls, by_kind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{AdminUser, CurrentUser};
use crate::routes::refusals::{AdminsOnly, NoSession};
use crate::routes::schemas::utc;
use crate::services::integrations::{self, SettingsInput, TestSmsSent, Verification};
use crate::services::organization;
use crate::state::AppState;

/// One provider's card on the Integrations screen.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationCard {
    /// The provider's slug, as in its paths (`/integrations/{slug}`).
    #[schema(example = json!(ProviderKind::ALL[0]))]
    provider: ProviderKind,
    /// Whether SMS go through this provider. At most one card is active.
    active: bool,
    /// The number messages are sent from, E.164.
    #[schema(example = "+61411111111")]
    phone_number: Option<String>,
    /// The provider's API username, for a provider that signs in with one (else null).
    #[schema(example = "ops@acme.example")]
    username: Option<String>,
    /// The provider's account id, for a provider that signs in with one (else null).
    account_sid: Option<String>,
    /// Whether the API key / auth token has been entered. The value is never shown.
    credential_set: bool,
    /// When it was last entered.
    credential_set_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl IntegrationCard {
    pub fn new(row: &Integration) -> Self {
        // The summary card has one column per name the public credential goes by; the
        // provider's descriptor says which is its own.
        let named = |field: &str| {
            let own = by_kind(row.provider).descriptor().username.field == field;
            if own { row.username.clone() } else { None }
        };
        Self {
            provider: row.provider,
            active: row.active,
            phone_number: row.phone_number.clone(),
            username: named("username"),
            account_sid: named("account_sid"),
            credential_set: row.secret.is_some(),
            credential_set_at: row.secret_set_at.map(utc),
            updated_at: utc(row.updated_at),
        }
    }
}

/// Both provider cards.
#[utoipa::path(
    tag = "integrations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One card per provider, in the registry's order", body = [IntegrationCard]),
        NoSession,
        AdminsOnly,
    )
)]
#[get("/integrations")]
pub async fn list_integrations(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
) -> Result<Json<Vec<IntegrationCard>>, ApiError> {
    let rows = integrations::cards(&state, &admin).await?;
    Ok(Json(rows.iter().map(IntegrationCard::new).collect()))
}

/// The result of a credential check.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Verification)]
pub struct VerifyResponse {
    /// True when the provider accepted the credentials.
    verified: bool,
    /// The provider's account name.
    #[schema(example = "Acme Recruiting")]
    account_name: Option<String>,
    /// Account balance as the provider states it.
    #[schema(example = "24.5100")]
    balance: Option<String>,
    #[schema(example = "AUD")]
    currency: Option<String>,
    /// Why the check failed, for the admin.
    reason: Option<String>,
}

impl From<Verification> for VerifyResponse {
    fn from(verification: Verification) -> Self {
        match verification {
            Verification::Verified(account) => Self {
                verified: true,
                account_name: Some(account.name),
                balance: account.balance,
                currency: account.currency,
                reason: None,
            },
            Verification::Failed(reason) => Self {
                verified: false,
                account_name: None,
                balance: None,
                currency: None,
                reason: Some(reason),
            },
        }
    }
}

/// A test message to an internal number.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TestSms)]
#[serde(deny_unknown_fields)]
pub struct TestSmsRequest {
    /// The recipient; national numbers are read in the organization's default country.
    #[schema(example = "+61411111111", format = "phone")]
    to: String,
    /// The text (default: a short test message).
    #[schema(
        max_length = 918,
        pattern = r"^[^\u0000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    body: Option<String>,
}

/// The provider accepted the test message.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TestSmsSent)]
pub struct TestSmsResponse {
    provider_message_id: String,
    /// Segments billed, when reported.
    parts: Option<i32>,
    /// Price as the provider states it, when reported.
    price: Option<String>,
}

impl From<TestSmsSent> for TestSmsResponse {
    fn from(sent: TestSmsSent) -> Self {
        Self {
            provider_message_id: sent.provider_message_id,
            parts: sent.parts,
            price: sent.price,
        }
    }
}

/// What `register-webhooks` set up at the provider.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RegisteredWebhooks)]
pub struct RegisterWebhooksResponse {
    /// Where replies now arrive.
    inbound_url: String,
    /// Where delivery receipts / status callbacks now arrive.
    status_url: String,
    /// The provider's id of what now sends replies here: an inbound rule, or the number.
    inbound_id: String,
    /// The provider's id of its delivery-receipt rule, for a provider that keeps one.
    status_id: Option<String>,
}

impl RegisterWebhooksResponse {
    pub fn new(urls: WebhookUrls, registered: RegisteredWebhooks) -> Self {
        Self {
            inbound_url: urls.inbound,
            status_url: urls.status,
            inbound_id: registered.inbound_id,
            status_id: registered.status_id,
        }
    }
}

/// The default text of a test message.
pub fn default_test_body(provider: ProviderKind) -> String {
    format!("Test message from Nextal SMS: your {provider} integration works.")
}

/// Validates a test-SMS request against the organization's default country.
pub async fn parse_test_sms(
    state: &AppState,
    current: &CurrentUser,
    provider: ProviderKind,
    request: TestSmsRequest,
) -> Result<(PhoneNumber, String), ApiError> {
    let country = organization::default_country(state, current).await?;
    let mut validation = Validation::new();
    let to = validation.check("to", PhoneNumber::parse(&request.to, country));
    let body = request.body.unwrap_or_else(|| default_test_body(provider));
    if body.trim().is_empty() || body.chars().count() > 918 {
        validation.check::<()>(
            "body",
            Err(nextal_domain::Invalid::new("must be 1 to 918 characters")),
        );
    }
    validation.finish()?;
    let to = to.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("validated number missing")))?;
    Ok((to, body))
}

/// Validates the Edit panel: activating needs a number and a username.
pub async fn parse_settings(
    state: &AppState,
    current: &CurrentUser,
    provider: ProviderKind,
    active: bool,
    phone_number: Option<String>,
    username: Option<String>,
    username_field: &str,
) -> Result<SettingsInput, ApiError> {
    let country = organization::default_country(state, current).await?;
    let mut validation = Validation::new();
    // A blank value is refused rather than read as "clear it": null says that, and the
    // contract's minimum lengths stay true.
    for (field, value) in [("phone_number", &phone_number), (username_field, &username)] {
        if value.as_ref().is_some_and(|text| text.trim().is_empty()) {
            validation.check::<()>(
                field,
                Err(nextal_domain::Invalid::new(
                    "must not be blank; send null to clear it",
                )),
            );
        }
    }
    let blank_to_none = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    let phone_number = blank_to_none(phone_number);
    let username = blank_to_none(username);
    if active && phone_number.is_none() {
        validation.check::<()>(
            "phone_number",
            Err(nextal_domain::Invalid::new("is required to activate")),
        );
    }
    if active && username.is_none() {
        validation.check::<()>(
            username_field,
            Err(nextal_domain::Invalid::new("is required to activate")),
        );
    }
    let phone_number = validation.check_optional("phone_number", phone_number.as_deref(), |raw| {
        PhoneNumber::parse(raw, country)
    });
    let username = validation.check_optional(username_field, username.as_deref(), |raw| {
        ProviderUsername::parse(provider, raw)
    });
    validation.finish()?;
    Ok(SettingsInput {
        active,
        phone_number,
        username,
    })
}

/// Rewrites "unknown field" for a secret sent to the Edit panel into directions to the
/// panel that takes it.
pub fn refuse_secret_in_settings(error: ApiError, secret_field: &str, endpoint: &str) -> ApiError {
    match error {
        ApiError::Validation(mut errors) => {
            for error in &mut errors.0 {
                if error.field == secret_field {
                    error.message = format!(
                        "is not accepted here; set it with {endpoint}, which stores it encrypted and never shows it again"
                    );
                }
            }
            ApiError::Validation(errors)
        }
        other => other,
    }
}
