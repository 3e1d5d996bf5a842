//! Every provider's card and panels: `/integrations/{slug}` (GET, PUT),
//! `/integrations/{slug}/{secret_path}` (PUT), `/verify`, `/test-sms`,
//! `/webhook-token` and `/register-webhooks` (POST), registered for each provider of the
//! registry and served by one set of handlers. Admins only.

use actix_web::http::Method;
use actix_web::web::{self, Data, Json};
use actix_web::{HttpResponse, Route, guard};
use nextal_domain::{ProviderSecret, Validation};
use nextal_providers::{Provider, registry};
use serde_json::value::RawValue;

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson, parse_seed};
use crate::routes::integrations::{
    RegisterWebhooksResponse, TestSmsRequest, TestSmsResponse, VerifyResponse, parse_settings,
    parse_test_sms, refuse_secret_in_settings,
};
use crate::routes::panel_bodies::{Card, Saved, SecretSeed, SettingsSeed};
use crate::services::integrations::{self, IntegrationView};
use crate::state::AppState;

/// Which provider a route serves; resource data of each route.
struct Panel(&'static dyn Provider);

/// Registers every provider's panel routes, each path as its own resource per method
/// (as the route macros do), so that the paths, their metrics labels and the 405
/// fallback stay those of the document.
pub fn configure(config: &mut web::ServiceConfig) -> &mut web::ServiceConfig {
    for provider in registry() {
        let descriptor = provider.descriptor();
        let base = format!("/integrations/{}", descriptor.slug());
        let panel = || Data::new(Panel(provider));
        let routes: [(String, Method, Route); 7] = [
            (base.clone(), Method::GET, web::to(get_card)),
            (base.clone(), Method::PUT, web::to(save_settings)),
            (
                format!("{base}/{}", descriptor.secret_path),
                Method::PUT,
                web::to(set_secret),
            ),
            (format!("{base}/verify"), Method::POST, web::to(verify)),
            (format!("{base}/test-sms"), Method::POST, web::to(test_sms)),
            (
                format!("{base}/webhook-token"),
                Method::POST,
                web::to(rotate_webhook_token),
            ),
            (
                format!("{base}/register-webhooks"),
                Method::POST,
                web::to(register_webhooks),
            ),
        ];
        for (path, method, route) in routes {
            config.service(
                web::resource(path)
                    .guard(guard::Method(method))
                    .app_data(panel())
                    .route(route),
            );
        }
    }
    config
}

fn card<'a>(provider: &Panel, view: &'a IntegrationView, state: &'a AppState) -> Card<'a> {
    Card {
        descriptor: provider.0.descriptor(),
        view,
        public_url: &state.public_url,
    }
}

async fn get_card(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
) -> Result<HttpResponse, ApiError> {
    let kind = panel.0.descriptor().kind;
    let view = integrations::get(&state, &admin, kind).await?;
    Ok(HttpResponse::Ok().json(card(&panel, &view, &state)))
}

async fn save_settings(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
    body: ApiJson<Box<RawValue>>,
) -> Result<HttpResponse, ApiError> {
    let descriptor = panel.0.descriptor();
    let body = body
        .into_inner()
        .and_then(|raw| parse_seed(raw.get().as_bytes(), SettingsSeed(descriptor)))
        .map_err(|error| {
            let endpoint = format!(
                "PUT /integrations/{}/{}",
                descriptor.slug(),
                descriptor.secret_path
            );
            refuse_secret_in_settings(error, descriptor.secret.field, &endpoint)
        })?;
    let input = parse_settings(
        &state,
        &admin,
        descriptor.kind,
        body.active,
        body.phone_number,
        body.username,
        descriptor.username.field,
    )
    .await?;
    let saved = integrations::save_settings(&state, &admin, descriptor.kind, input).await?;
    Ok(HttpResponse::Ok().json(Saved {
        integration: card(&panel, &saved.integration, &state),
        deactivated: saved
            .deactivated
            .map(|provider| provider.as_str().to_owned()),
    }))
}

/// Write-only: the secret is stored encrypted and never returned, logged or echoed.
async fn set_secret(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
    body: ApiJson<Box<RawValue>>,
) -> Result<HttpResponse, ApiError> {
    let descriptor = panel.0.descriptor();
    let field = descriptor.secret.field;
    let raw = body
        .into_inner()
        .and_then(|raw| parse_seed(raw.get().as_bytes(), SecretSeed(descriptor)))?;
    let mut validation = Validation::new();
    let secret = validation.check(field, ProviderSecret::parse(&raw));
    validation.finish()?;
    let secret = secret.ok_or_else(|| ApiError::invalid_field(field, "is required"))?;
    let view = integrations::set_secret(&state, &admin, descriptor.kind, secret).await?;
    Ok(HttpResponse::Ok().json(card(&panel, &view, &state)))
}

/// Answers 200 either way: `verified` with the account, or why it failed.
async fn verify(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
) -> Result<Json<VerifyResponse>, ApiError> {
    let kind = panel.0.descriptor().kind;
    Ok(Json(
        integrations::verify(&state, &admin, kind).await?.into(),
    ))
}

/// Straight through the provider, active or not.
async fn test_sms(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
    body: ApiJson<TestSmsRequest>,
) -> Result<Json<TestSmsResponse>, ApiError> {
    let kind = panel.0.descriptor().kind;
    let (to, text) = parse_test_sms(&state, &admin, kind, body.into_inner()?).await?;
    let sent = integrations::send_test_sms(&state, &admin, kind, to, text).await?;
    Ok(Json(sent.into()))
}

/// The old URLs stop working at once.
async fn rotate_webhook_token(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
) -> Result<HttpResponse, ApiError> {
    let kind = panel.0.descriptor().kind;
    let view = integrations::rotate_webhook_token(&state, &admin, kind).await?;
    Ok(HttpResponse::Ok().json(card(&panel, &view, &state)))
}

async fn register_webhooks(
    state: Data<AppState>,
    panel: Data<Panel>,
    AdminUser(admin): AdminUser,
) -> Result<Json<RegisterWebhooksResponse>, ApiError> {
    let kind = panel.0.descriptor().kind;
    let (urls, registered) = integrations::register_webhooks(&state, &admin, kind).await?;
    Ok(Json(RegisterWebhooksResponse::new(urls, registered)))
}
