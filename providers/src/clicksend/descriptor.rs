//! ClickSend as the registry sees it.

use nextal_domain::ProviderKind;
use serde_json::json;

use super::ClickSendClient;
use crate::docs::WebhookDocs;
use crate::registry::{Acknowledgement, CredentialName, Descriptor, InDoubt, Provider, Sending};
use crate::webhooks;

/// ClickSend REST v3.
pub struct ClickSend;

static DESCRIPTOR: Descriptor = Descriptor {
    kind: ProviderKind::ClickSend,
    username: CredentialName {
        field: "username",
        label: "username",
    },
    secret: CredentialName {
        field: "api_key",
        label: "API key",
    },
    secret_path: "api-key",
    status_path: "receipts",
    status_url_field: "delivery_receipt_url",
    // ClickSend has no connection overrides: its URLs stay plain.
    webhook_url_suffix: "",
    // Receipts go to the rule `register-webhooks` creates.
    status_callback_per_message: false,
    sending: Sending::Batched,
    failure_reason: super::failures::failure_reason,
    // `custom_string` carries our message id into ClickSend's history.
    in_doubt: InDoubt::SettleFromHistory,
    // The secret token in the URL is ClickSend's only authentication.
    signature_header: None,
    client: |http, base_url, username, secret, options| {
        Box::new(ClickSendClient::new(
            http, base_url, username, secret, options,
        ))
    },
    inbound: webhooks::clicksend::inbound,
    status: webhooks::clicksend::receipt,
    integration_docs: &super::docs::INTEGRATION_DOCS,
};

impl Provider for ClickSend {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    fn webhook_docs(&self) -> WebhookDocs {
        super::docs::webhook_docs()
    }

    fn acknowledgement(&self, outcome: &str) -> Acknowledgement {
        Acknowledgement {
            content_type: "application/json",
            body: json!({ "outcome": outcome }).to_string(),
        }
    }
}
