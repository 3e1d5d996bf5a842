//! Provider webhooks: `/webhooks/clicksend/{token}/inbound|receipts` and
//! `/webhooks/twilio/{token}/inbound|status`. Public: the token in the path names the
//! organization, and Twilio's requests also carry a signature.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{Bytes, Data, Path};
use actix_web::{HttpRequest, HttpResponse, get, post};
use nextal_domain::ProviderKind;
use nextal_openapi::Problem;
use nextal_providers::by_kind;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::state::AppState;
use crate::webhooks::{self, DeliveryKind, Incoming};

/// What became of a ClickSend delivery.
#[derive(Debug, Serialize, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer; the provider's acknowledgement writes it"
)]
pub struct WebhookAccepted {
    /// `applied`, `duplicate` (seen before; nothing changed), `provider_inactive` (kept in
    /// the raw log only), `unmatched` (a receipt for an unknown message) or `stale` (a
    /// receipt older than the status already known).
    #[schema(example = "applied")]
    outcome: &'static str,
}

/// A ClickSend inbound SMS, as its `URL` inbound rule sends it (JSON, form or query
/// string; `timestamp` may be `timestamp_send` and numbers may come as strings).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct ClickSendInbound {
    /// The inbound message's id; blank (whitespace only) is refused.
    #[schema(example = "6B8F2A10-1C2D-4E5F-8A9B-0C1D2E3F4A5B", pattern = r"\S")]
    message_id: String,
    /// The candidate's number; blank (whitespace only) is refused.
    #[schema(example = "+61422222222", pattern = r"\S")]
    from: String,
    /// Our number.
    #[schema(example = "+61411111111")]
    to: String,
    #[schema(example = "Yes, Tuesday works")]
    body: String,
    /// Unix seconds, as a number or a string (`timestamp_send` is read too); a value
    /// that is not a time is ignored.
    #[schema(example = 1764200000)]
    timestamp: Option<serde_json::Value>,
    original_message_id: Option<String>,
    custom_string: Option<String>,
}

/// A ClickSend delivery receipt.
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct ClickSendReceipt {
    /// Our outbound message's ClickSend id; blank (whitespace only) is refused.
    #[schema(pattern = r"\S")]
    message_id: String,
    /// 200 pending, 201 delivered, 300 temporary failure (ClickSend retries), 301 failed;
    /// a number or a numeric string.
    #[schema(schema_with = clicksend_status_code)]
    status_code: serde_json::Value,
    status_text: Option<String>,
    /// A number or a string.
    error_code: Option<serde_json::Value>,
    error_text: Option<String>,
    /// Our own message id, as we sent it.
    custom_string: Option<String>,
    /// Unix seconds, as a number or a string.
    timestamp: Option<serde_json::Value>,
}

/// A Twilio incoming-message webhook (form-encoded; every parameter Twilio sends is
/// signed and accepted).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct TwilioInbound {
    #[schema(example = "SM0123456789abcdef0123456789abcdef")]
    message_sid: String,
    #[schema(example = "+14155550100")]
    from: String,
    #[schema(example = "+14155550199")]
    to: String,
    #[schema(example = "STOP")]
    body: String,
}

/// A Twilio status callback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct TwilioStatus {
    message_sid: String,
    /// queued, sending, sent, delivered, undelivered, failed, …
    #[schema(example = "delivered")]
    message_status: String,
    error_code: Option<String>,
}

/// A ClickSend delivery receipt sent as a query string. Written by hand because a
/// derived `status_code` with its own schema would lose `required`.
pub struct ClickSendReceiptQuery;

impl IntoParams for ClickSendReceiptQuery {
    fn into_params(
        _parameter_in: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::Type;
        use utoipa::openapi::{ObjectBuilder, Required};
        let message_id = ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"\S"))
            .build();
        [
            (
                "message_id",
                "Our outbound message's ClickSend id; blank (whitespace only) is refused.",
                message_id,
            ),
            (
                "status_code",
                "200 pending, 201 delivered, 300 temporary failure, 301 failed.",
                clicksend_status_code(),
            ),
        ]
        .into_iter()
        .map(|(name, description, schema)| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::True)
                .description(Some(description))
                .schema(Some(schema))
                .build()
        })
        .collect()
    }
}

/// ClickSend's receipt codes, as the schema of `status_code`.
fn clicksend_status_code() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .enum_values(Some([200, 201, 300, 301]))
        .examples([201])
        .build()
}

/// Authenticates, stores and applies one delivery to `provider`'s webhook, and answers
/// as the provider expects (ClickSend: the outcome as JSON; Twilio: empty TwiML).
async fn deliver(
    state: Data<AppState>,
    provider: ProviderKind,
    kind: DeliveryKind,
    token: &str,
    request: &HttpRequest,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let provider = by_kind(provider);
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    let outcome = webhooks::receive(
        &state,
        Incoming {
            provider: provider.descriptor().kind,
            kind,
            token,
            content_type: header(CONTENT_TYPE.as_str()),
            query: request.query_string(),
            body,
            signature: provider.descriptor().signature_header.and_then(header),
        },
    )
    .await?;
    let answer = provider.acknowledgement(outcome.as_str());
    Ok(HttpResponse::Ok()
        .content_type(answer.content_type)
        .body(answer.body))
}

/// A ClickSend reply.
///
/// Point a ClickSend inbound-SMS rule (action `URL`) here; `register-webhooks` does it
/// for you. Accepts JSON (`webhook_type: json`), form-encoded (`post`) and, through the
/// GET variant, query strings (`get`). The delivery is stored raw, then added to the
/// thread of the sender's number; a repeat of the same `message_id` changes nothing.
#[utoipa::path(
    post,
    path = "/webhooks/clicksend/{token}/inbound",
    tag = "webhooks",
    params(("token" = String, Path, description = "The organization's webhook token")),
    request_body(content(
        (ClickSendInbound = "application/json"),
        (ClickSendInbound = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Stored (see `outcome`)", body = WebhookAccepted),
        (status = 400, description = "The body cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[post("/webhooks/clicksend/{token}/inbound")]
pub async fn clicksend_inbound(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::ClickSend, DeliveryKind::Inbound, &token, &request, &body).await
}

/// A ClickSend reply sent as a query string (`webhook_type: get`).
#[utoipa::path(
    get,
    path = "/webhooks/clicksend/{token}/inbound",
    tag = "webhooks",
    params(
        ("token" = String, Path, description = "The organization's webhook token"),
        ("message_id" = String, Query, pattern = r"\S", description = "The inbound message's id; blank is refused"),
        ("from" = String, Query, pattern = r"\S", description = "The candidate's number; blank is refused"),
        ("to" = Option<String>, Query, description = "Our number"),
        ("body" = Option<String>, Query, description = "The reply's text"),
    ),
    responses(
        (status = 200, description = "Stored (see `outcome`)", body = WebhookAccepted),
        (status = 400, description = "The query cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[get("/webhooks/clicksend/{token}/inbound")]
pub async fn clicksend_inbound_query(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::ClickSend,
        DeliveryKind::Inbound,
        &token,
        &request,
        &Bytes::new(),
    )
    .await
}

/// A ClickSend delivery receipt.
///
/// Point a ClickSend delivery-receipt rule (action `URL`) here. `status_code` 200 keeps
/// the message `sent`, 201 makes it `delivered`, 300 (ClickSend retries) is noted in
/// its history, 301 makes it `undelivered` with the error code and text. Status only
/// moves forward: a late or repeated receipt changes nothing.
#[utoipa::path(
    post,
    path = "/webhooks/clicksend/{token}/receipts",
    tag = "webhooks",
    params(("token" = String, Path, description = "The organization's webhook token")),
    request_body(content(
        (ClickSendReceipt = "application/x-www-form-urlencoded"),
        (ClickSendReceipt = "application/json"),
    )),
    responses(
        (status = 200, description = "Stored (see `outcome`)", body = WebhookAccepted),
        (status = 400, description = "The body cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[post("/webhooks/clicksend/{token}/receipts")]
pub async fn clicksend_receipt(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::ClickSend, DeliveryKind::Receipt, &token, &request, &body).await
}

/// A ClickSend delivery receipt sent as a query string.
#[utoipa::path(
    get,
    path = "/webhooks/clicksend/{token}/receipts",
    tag = "webhooks",
    params(
        ("token" = String, Path, description = "The organization's webhook token"),
        ClickSendReceiptQuery,
    ),
    responses(
        (status = 200, description = "Stored (see `outcome`)", body = WebhookAccepted),
        (status = 400, description = "The query cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[get("/webhooks/clicksend/{token}/receipts")]
pub async fn clicksend_receipt_query(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::ClickSend,
        DeliveryKind::Receipt,
        &token,
        &request,
        &Bytes::new(),
    )
    .await
}

/// A Twilio incoming message.
///
/// The number's SMS URL (`register-webhooks` sets it). The request must carry a valid
/// `X-Twilio-Signature` (HMAC-SHA1 with the account's auth token over the URL built from
/// `NEXTAL_PUBLIC_URL` plus the sorted parameters; JSON bodies use `bodySHA256`).
/// Answers an empty TwiML `<Response>`.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/{token}/inbound",
    tag = "webhooks",
    params(
        ("token" = String, Path, description = "The organization's webhook token"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's request signature"),
    ),
    request_body(content(
        (TwilioInbound = "application/x-www-form-urlencoded"),
        (TwilioInbound = "application/json"),
    )),
    responses(
        (status = 200, description = "Stored; empty TwiML", body = String, content_type = "text/xml"),
        (status = 400, description = "The body cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or invalid signature; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[post("/webhooks/twilio/{token}/inbound")]
pub async fn twilio_inbound(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::Twilio, DeliveryKind::Inbound, &token, &request, &body).await
}

/// A Twilio incoming message sent with GET (parameters in the signed URL).
#[utoipa::path(
    get,
    path = "/webhooks/twilio/{token}/inbound",
    tag = "webhooks",
    params(
        ("token" = String, Path, description = "The organization's webhook token"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's request signature"),
    ),
    responses(
        (status = 200, description = "Stored; empty TwiML", body = String, content_type = "text/xml"),
        (status = 400, description = "The query cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or invalid signature; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[get("/webhooks/twilio/{token}/inbound")]
pub async fn twilio_inbound_query(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::Twilio,
        DeliveryKind::Inbound,
        &token,
        &request,
        &Bytes::new(),
    )
    .await
}

/// A Twilio status callback.
///
/// Set as `StatusCallback` on every message we send through Twilio. `MessageStatus`
/// moves the message forward only (`sent` → `delivered` | `undelivered`, or `failed`);
/// a late or repeated callback changes nothing. Signed like the inbound webhook.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/{token}/status",
    tag = "webhooks",
    params(
        ("token" = String, Path, description = "The organization's webhook token"),
        ("X-Twilio-Signature" = String, Header, description = "Twilio's request signature"),
    ),
    request_body(content(
        (TwilioStatus = "application/x-www-form-urlencoded"),
        (TwilioStatus = "application/json"),
    )),
    responses(
        (status = 200, description = "Stored; empty TwiML", body = String, content_type = "text/xml"),
        (status = 400, description = "The body cannot be read; it is kept in the raw log only", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing or invalid signature; nothing stored", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many deliveries to this URL, or too many failed authentications from this address; nothing stored", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until a retry may get through"))),
        (status = 503, description = "Not stored; deliver again later", body = Problem, content_type = "application/problem+json"),
    ),
    security(()),
)]
#[post("/webhooks/twilio/{token}/status")]
pub async fn twilio_status(
    state: Data<AppState>,
    token: Path<String>,
    request: HttpRequest,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    deliver(
        state,
        ProviderKind::Twilio, DeliveryKind::Receipt, &token, &request, &body).await
}
