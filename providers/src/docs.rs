//! What each provider contributes to the OpenAPI document: its webhooks' texts, payload
//! schemas and acknowledgement. The API assembles the operations from these, with the
//! parts every provider shares (the token parameter, the refusals), so the documented
//! webhook paths come from the registry like the routes themselves.

use utoipa::openapi::path::Parameter;
use utoipa::openapi::{RefOr, Schema};

/// A provider's webhooks, as documented.
pub struct WebhookDocs {
    /// Replies: `/webhooks/{slug}/{token}/inbound`.
    pub inbound: WebhookOperation,
    /// Receipts: `/webhooks/{slug}/{token}/{status_path}`.
    pub status: WebhookOperation,
    /// The signature header's description, when deliveries are signed.
    pub signature: Option<&'static str>,
    /// The answer to an accepted delivery.
    pub acknowledgement: AcknowledgementDocs,
    /// The schemas the operations refer to by name.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// One webhook (a POST, and a GET when the provider may send the delivery as a query
/// string).
pub struct WebhookOperation {
    /// The operation id's last word: `{slug}_{name}`, and `{slug}_{name}_query` for the
    /// GET.
    pub name: &'static str,
    /// The first line.
    pub summary: &'static str,
    /// The rest.
    pub description: &'static str,
    /// The name of the payload's schema (JSON and form bodies alike).
    pub payload: &'static str,
    /// The GET variant, when there is one.
    pub query: Option<QueryOperation>,
}

/// The GET variant of a webhook.
pub struct QueryOperation {
    /// Its summary.
    pub summary: &'static str,
    /// Its query parameters.
    pub parameters: Vec<Parameter>,
}

/// The documented answer to an accepted delivery.
pub struct AcknowledgementDocs {
    /// The 200 response's description.
    pub description: &'static str,
    /// Its content type.
    pub content_type: &'static str,
    /// Its schema.
    pub schema: RefOr<Schema>,
}

/// A provider's integration card and panels, as documented: the texts that are its
/// own. The API words the rest from the descriptor (names, fields, paths).
#[derive(Debug)]
pub struct IntegrationDocs {
    /// An example sender number.
    pub phone_example: &'static str,
    /// The username on the card, e.g. "ClickSend API username.".
    pub username: &'static str,
    /// The username in the Edit panel.
    pub username_setting: &'static str,
    /// An example username.
    pub username_example: &'static str,
    /// The pattern a username must match (surrounding spaces are trimmed).
    pub username_pattern: &'static str,
    /// The card's `{secret}_set` field.
    pub secret_set: &'static str,
    /// The secret panel's body.
    pub secret_panel: &'static str,
    /// The secret field of that body.
    pub secret_field: &'static str,
    /// The secret panel operation's summary.
    pub secret_summary: &'static str,
    /// Its 422.
    pub secret_invalid: &'static str,
    /// The card's `webhooks` object.
    pub webhooks: &'static str,
    /// Its `inbound_url`.
    pub inbound_url: &'static str,
    /// Its status URL field.
    pub status_url: &'static str,
    /// The `register-webhooks` operation's summary.
    pub register_summary: &'static str,
    /// Its 200.
    pub registered: &'static str,
}
