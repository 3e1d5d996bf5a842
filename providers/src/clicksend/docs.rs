//! ClickSend's webhooks in the OpenAPI document: the payloads its `URL` rules send, as
//! JSON, form or query string, and the outcome we answer with.

use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::Type;
use utoipa::openapi::{Object, ObjectBuilder, Required};
use utoipa::{PartialSchema, ToSchema};

use crate::docs::{
    AcknowledgementDocs, IntegrationDocs, QueryOperation, WebhookDocs, WebhookOperation,
};

/// What became of a ClickSend delivery.
#[derive(Debug, Serialize, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the answer; the acknowledgement writes it"
)]
pub struct WebhookAccepted {
    /// `applied`, `duplicate` (seen before; nothing changed), `provider_inactive` (kept in
    /// the raw log only), `unmatched` (a receipt for an unknown message) or `stale` (a
    /// receipt older than the status already known).
    #[schema(schema_with = outcome, example = "applied")]
    outcome: &'static str,
}

/// The outcomes `WebhookAccepted` names, as an enum.
fn outcome() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "applied",
            "duplicate",
            "provider_inactive",
            "unmatched",
            "stale",
        ]))
        .build()
}

/// A ClickSend inbound SMS, as its `URL` inbound rule sends it (JSON, form or query
/// string; `timestamp` may be `timestamp_send` and numbers may come as strings). The text
/// fields are strings: in JSON, a number or an object there is refused (400).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct ClickSendInbound {
    /// The inbound message's id; blank (whitespace only) is refused.
    #[schema(
        example = "6B8F2A10-1C2D-4E5F-8A9B-0C1D2E3F4A5B",
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    message_id: String,
    /// The candidate's number; blank (whitespace only) is refused.
    #[schema(
        example = "+61422222222",
        pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    from: String,
    /// Our number; may be missing.
    #[schema(example = "+61411111111")]
    to: Option<String>,
    /// The reply's text; may be missing or empty.
    #[schema(example = "Yes, Tuesday works")]
    body: Option<String>,
    /// Unix seconds, as a number or a string (`timestamp_send` is read too); a value
    /// that is not a time is ignored.
    #[schema(example = 1764200000)]
    timestamp: Option<serde_json::Value>,
    original_message_id: Option<String>,
    custom_string: Option<String>,
}

/// A ClickSend delivery receipt. The text fields are strings: in JSON, a number or an
/// object there is refused (400).
#[derive(Debug, ToSchema)]
#[allow(
    dead_code,
    reason = "documents the payload; the parser reads it leniently"
)]
pub struct ClickSendReceipt {
    /// Our outbound message's ClickSend id; blank (whitespace only) is refused.
    #[schema(pattern = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    message_id: String,
    /// 200 pending, 201 delivered, 300 temporary failure (ClickSend retries), 301 failed;
    /// a number or a numeric string.
    #[schema(schema_with = status_code)]
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

/// ClickSend's receipt codes, as the schema of `status_code`.
fn status_code() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([200, 201, 300, 301]))
        .examples([201])
        .build()
}

/// A non-blank string: one character at least that is not whitespace, as Rust's `trim`
/// reads it, spelled out (an engine's `\S` may differ; ECMAScript's lets U+0085 through).
fn not_blank() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NOT_BLANK))
        .build()
}

/// The pattern of [`not_blank`], written out again in the `#[schema]` attributes above
/// (they take a literal).
const NOT_BLANK: &str = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

fn query(name: &str, required: bool, description: &str, schema: Object) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required {
            Required::True
        } else {
            Required::False
        })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn text() -> Object {
    ObjectBuilder::new().schema_type(Type::String).build()
}

/// ClickSend's webhooks.
pub(super) fn webhook_docs() -> WebhookDocs {
    WebhookDocs {
        inbound: WebhookOperation {
            name: "inbound",
            summary: "A ClickSend reply.",
            description: "Point a ClickSend inbound-SMS rule (action `URL`) here; `register-webhooks` does it\n\
                for you. Accepts JSON (`webhook_type: json`), form-encoded (`post`) and, through the\n\
                GET variant, query strings (`get`). The delivery is stored raw, then added to the\n\
                thread of the sender's number; a repeat of the same `message_id` changes nothing.",
            payload: "ClickSendInbound",
            query: Some(QueryOperation {
                summary: "A ClickSend reply sent as a query string (`webhook_type: get`).",
                parameters: vec![
                    query(
                        "message_id",
                        true,
                        "The inbound message's id; blank is refused",
                        not_blank(),
                    ),
                    query(
                        "from",
                        true,
                        "The candidate's number; blank is refused",
                        not_blank(),
                    ),
                    query("to", false, "Our number", text()),
                    query("body", false, "The reply's text", text()),
                ],
            }),
        },
        status: WebhookOperation {
            name: "receipt",
            summary: "A ClickSend delivery receipt.",
            description: "Point a ClickSend delivery-receipt rule (action `URL`) here. `status_code` 200 keeps\n\
                the message `sent`, 201 makes it `delivered`, 300 (ClickSend retries) is noted in\n\
                its history, 301 makes it `undelivered` with the error code and text. Status only\n\
                moves forward: a late or repeated receipt changes nothing.",
            payload: "ClickSendReceipt",
            query: Some(QueryOperation {
                summary: "A ClickSend delivery receipt sent as a query string.",
                parameters: vec![
                    query(
                        "message_id",
                        true,
                        "Our outbound message's ClickSend id; blank (whitespace only) is refused.",
                        not_blank(),
                    ),
                    query(
                        "status_code",
                        true,
                        "200 pending, 201 delivered, 300 temporary failure, 301 failed.",
                        status_code(),
                    ),
                ],
            }),
        },
        signature: None,
        acknowledgement: AcknowledgementDocs {
            description: "Stored (see `outcome`)",
            content_type: "application/json",
            schema: utoipa::openapi::Ref::from_schema_name(WebhookAccepted::name()).into(),
        },
        schemas: vec![
            (
                WebhookAccepted::name().into_owned(),
                WebhookAccepted::schema(),
            ),
            (
                ClickSendInbound::name().into_owned(),
                ClickSendInbound::schema(),
            ),
            (
                ClickSendReceipt::name().into_owned(),
                ClickSendReceipt::schema(),
            ),
        ],
    }
}

/// ClickSend's card and panels.
pub(super) static INTEGRATION_DOCS: IntegrationDocs = IntegrationDocs {
    phone_example: "+61411111111",
    username: "ClickSend API username.",
    username_setting: "ClickSend API username; needed to activate. Null clears it.",
    username_example: "ops@acme.example",
    username_pattern: r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]{1,254}[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$",
    secret_set: "Whether the API key has been entered. The key itself is never shown.",
    secret_panel: "The Edit API Key panel. No `Debug`: it holds the key.",
    secret_field: "From the ClickSend dashboard, API Credentials. Stored encrypted; never shown again.",
    secret_summary: "Save the API key (the Edit API Key panel). Write-only: it is stored encrypted and\nnever returned, logged or echoed.",
    secret_invalid: "Invalid key",
    webhooks: "Where ClickSend should post replies and delivery receipts.",
    inbound_url: "Inbound SMS rule URL (JSON, form or query string).",
    status_url: "Delivery receipt rule URL.",
    register_summary: "Create or update the inbound-SMS and delivery-receipt rules in the ClickSend account\nso they post to this service's webhook URLs.",
    registered: "Rules in place",
};
