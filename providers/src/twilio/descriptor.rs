//! Twilio as the registry sees it.

use nextal_domain::ProviderKind;

use super::{MAX_IN_FLIGHT, TwilioClient, WEBHOOK_CONNECTION_OVERRIDES};
use crate::docs::WebhookDocs;
use crate::registry::{
    Acknowledgement, CredentialName, Descriptor, InDoubt, Provider, Sending, SignedRequest,
};
use crate::webhooks::{self, ParamSource, Params, verify_twilio_form, verify_twilio_json};

/// An empty TwiML document: Twilio sends no automatic answer.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// Twilio Programmable Messaging.
pub struct Twilio;

static DESCRIPTOR: Descriptor = Descriptor {
    kind: ProviderKind::Twilio,
    username: CredentialName {
        field: "account_sid",
        label: "account SID",
    },
    secret: CredentialName {
        field: "auth_token",
        label: "auth token",
    },
    secret_path: "auth-token",
    status_path: "status",
    status_url_field: "status_url",
    webhook_url_suffix: WEBHOOK_CONNECTION_OVERRIDES,
    status_callback_per_message: true,
    sending: Sending::PerMessage {
        in_flight: MAX_IN_FLIGHT,
    },
    failure_reason: super::failures::failure_reason,
    // Each request carries our message id as its idempotency token.
    in_doubt: InDoubt::ResendSafely,
    signature_header: Some("X-Twilio-Signature"),
    client: |http, base_url, username, secret, options| {
        Box::new(TwilioClient::new(http, base_url, username, secret, options))
    },
    inbound: webhooks::twilio::inbound,
    status: webhooks::twilio::status,
    integration_docs: &super::docs::INTEGRATION_DOCS,
};

impl Provider for Twilio {
    fn descriptor(&self) -> &'static Descriptor {
        &DESCRIPTOR
    }

    /// A form body is signed over its pairs; a GET (or an empty POST) has its
    /// parameters in the URL, which is signed as it stands. A form body that cannot be
    /// read cannot carry a signature; a JSON body is signed by its hash, whatever it
    /// holds.
    fn signature_valid(&self, secret: &str, request: &SignedRequest<'_>) -> bool {
        let signature = request.signature.unwrap_or_default();
        match request.params.map(Params::source) {
            Some(ParamSource::Form) => request.params.is_some_and(|params| {
                verify_twilio_form(secret, request.url, params.pairs(), signature)
            }),
            Some(ParamSource::Query) => verify_twilio_form(secret, request.url, &[], signature),
            Some(ParamSource::Json) => {
                verify_twilio_json(secret, request.url, request.body, signature)
            }
            None if request.json => {
                verify_twilio_json(secret, request.url, request.body, signature)
            }
            None => false,
        }
    }

    fn webhook_docs(&self) -> WebhookDocs {
        super::docs::webhook_docs()
    }

    fn acknowledgement(&self, _outcome: &str) -> Acknowledgement {
        Acknowledgement {
            content_type: "text/xml; charset=utf-8",
            body: EMPTY_TWIML.to_owned(),
        }
    }
}
