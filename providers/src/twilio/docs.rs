//! Twilio's webhooks in the OpenAPI document: the signed, form-encoded parameters it
//! sends, answered with empty TwiML.

use serde::Deserialize;
use utoipa::openapi::ObjectBuilder;
use utoipa::openapi::schema::Type;
use utoipa::{PartialSchema, ToSchema};

use crate::docs::{
    AcknowledgementDocs, IntegrationDocs, QueryOperation, WebhookDocs, WebhookOperation,
};

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

/// Twilio's webhooks.
pub(super) fn webhook_docs() -> WebhookDocs {
    WebhookDocs {
        inbound: WebhookOperation {
            name: "inbound",
            summary: "A Twilio incoming message.",
            description: "The number's SMS URL (`register-webhooks` sets it). The request must carry a valid\n\
                `X-Twilio-Signature` (HMAC-SHA1 with the account's auth token over the URL built from\n\
                `NEXTAL_PUBLIC_URL` plus the sorted parameters; JSON bodies use `bodySHA256`).\n\
                Answers an empty TwiML `<Response>`.",
            payload: "TwilioInbound",
            query: Some(QueryOperation {
                summary: "A Twilio incoming message sent with GET (parameters in the signed URL).",
                parameters: Vec::new(),
            }),
        },
        status: WebhookOperation {
            name: "status",
            summary: "A Twilio status callback.",
            description: "Set as `StatusCallback` on every message we send through Twilio. `MessageStatus`\n\
                moves the message forward only (`sent` → `delivered` | `undelivered`, or `failed`);\n\
                a late or repeated callback changes nothing. Signed like the inbound webhook.",
            payload: "TwilioStatus",
            query: None,
        },
        signature: Some("Twilio's request signature"),
        acknowledgement: AcknowledgementDocs {
            description: "Stored; empty TwiML",
            content_type: "text/xml",
            schema: ObjectBuilder::new().schema_type(Type::String).into(),
        },
        schemas: vec![
            (TwilioInbound::name().into_owned(), TwilioInbound::schema()),
            (TwilioStatus::name().into_owned(), TwilioStatus::schema()),
        ],
    }
}

/// Twilio's card and panels.
pub(super) static INTEGRATION_DOCS: IntegrationDocs = IntegrationDocs {
    phone_example: "+14155552671",
    username: "Twilio Account SID.",
    username_setting: "Twilio Account SID (`AC…`); needed to activate. Null clears it.",
    username_example: "AC0123456789abcdef0123456789abcdef",
    username_pattern: r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*AC[0-9a-fA-F]{32}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
    secret_set: "Whether the auth token has been entered. The token itself is never shown.",
    secret_panel: "The auth-token panel. No `Debug`: it holds the token.",
    secret_field: "From the Twilio console. Stored encrypted; never shown again.",
    secret_summary: "Save the auth token. Write-only: it is stored encrypted and never returned, logged\nor echoed.",
    secret_invalid: "Invalid token",
    webhooks: "Where Twilio should post replies and status callbacks. Both URLs end with Twilio's\nconnection overrides, `#rc=5&rp=ct,rt,5xx`: Twilio retries a delivery up to 5 times\non a failed connection, a timeout or a 5xx. Use them whole.",
    inbound_url: "The number's SMS URL (incoming messages).",
    status_url: "The status callback URL sent with each message.",
    register_summary: "Set the Twilio number's SMS URL to this service's inbound webhook (status callbacks\nare sent with each message).",
    registered: "SMS URL set",
};
