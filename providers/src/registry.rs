//! The provider registry: every provider the service can connect, each described once.
//!
//! A [`Provider`] holds everything that differs between providers, as data (its
//! [`Descriptor`]) and as behaviour (building a client, authenticating and reading a
//! webhook delivery, acknowledging it). The API's routes, settings, dispatcher, webhook
//! ingestion and reconciliation are written against this trait and never name a
//! provider, so adding one is its module and one line in [`registry`].

use nextal_domain::{Failure, FailureReason, ProviderKind};
use secrecy::SecretString;

use crate::docs::{IntegrationDocs, WebhookDocs};
use crate::webhooks::{DeliveryReport, InboundSms, Params, WebhookError};
use crate::{ClientOptions, SmsProvider, clicksend, twilio};

/// One half of a provider's credentials, as the API and its messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialName {
    /// The JSON field that carries it, e.g. `username` or `auth_token`.
    pub field: &'static str,
    /// What the provider calls it, for people, e.g. `account SID`.
    pub label: &'static str,
}

/// How a provider takes a batch of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// One request carries the whole batch ([`SmsProvider::max_batch`] messages).
    Batched,
    /// One request per message, `in_flight` at once. A request's failure then says the
    /// provider is failing as a whole, and a batch is no larger than what runs at once,
    /// so that every message of it starts with it.
    PerMessage {
        /// Requests in flight at once.
        in_flight: usize,
    },
}

/// What to do with a hand-over whose outcome is unknown (the connection broke, the
/// answer could not be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDoubt {
    /// Look for the message in the provider's sent history
    /// ([`SmsProvider::sent_history`]) before anything else: a resend could double-send.
    SettleFromHistory,
    /// Send it again: the provider recognises a resend of the same message.
    ResendSafely,
}

/// The fixed facts about a provider.
#[derive(Debug)]
pub struct Descriptor {
    /// Which provider; its `as_str()` is the slug in paths and rows.
    pub kind: ProviderKind,
    /// The public half of the credentials (ClickSend `username`, Twilio `account_sid`).
    pub username: CredentialName,
    /// The secret half (ClickSend `api_key`, Twilio `auth_token`).
    pub secret: CredentialName,
    /// The path segment of the panel that takes the secret, e.g. `api-key`.
    pub secret_path: &'static str,
    /// The last path segment of the status webhook, e.g. `receipts`.
    pub status_path: &'static str,
    /// The card's field for the status webhook URL, e.g. `delivery_receipt_url`.
    pub status_url_field: &'static str,
    /// Appended to every webhook URL given to the provider (Twilio's connection
    /// overrides). A fragment: the provider neither sends nor signs it.
    pub webhook_url_suffix: &'static str,
    /// Whether each message carries the status webhook URL (Twilio's
    /// `StatusCallback`), rather than a rule registered once.
    pub status_callback_per_message: bool,
    /// How a batch is handed over.
    pub sending: Sending,
    /// The failure reason a provider code stands for, given the provider's text too:
    /// a send refusal (`INVALID_RECIPIENT`, Twilio 21610) or a failed receipt's error.
    pub failure_reason: fn(&str, Option<&str>) -> FailureReason,
    /// How an unknown outcome is settled.
    pub in_doubt: InDoubt,
    /// The header carrying the webhook signature, when deliveries are signed.
    pub signature_header: Option<&'static str>,
    /// A client for an account at a base URL: (HTTP client, base URL, username, secret,
    /// timeouts).
    pub client:
        fn(reqwest::Client, &str, String, SecretString, ClientOptions) -> Box<dyn SmsProvider>,
    /// Reads a reply delivery.
    pub inbound: fn(&Params) -> Result<InboundSms, WebhookError>,
    /// Reads a delivery receipt or status callback.
    pub status: fn(&Params) -> Result<DeliveryReport, WebhookError>,
    /// The texts its card and panels contribute to the OpenAPI document.
    pub integration_docs: &'static IntegrationDocs,
}

impl Descriptor {
    /// The slug: `clicksend`, `twilio`.
    pub fn slug(&self) -> &'static str {
        self.kind.as_str()
    }

    /// The name people know it by.
    pub fn display_name(&self) -> &'static str {
        self.kind.display_name()
    }

    /// The card's field saying whether the secret has been entered, e.g. `api_key_set`.
    pub fn secret_set_field(&self) -> String {
        format!("{}_set", self.secret.field)
    }

    /// The failure a refusal or a failed receipt stands for: its `code` mapped to a
    /// reason (read with the provider's `text`), kept beside it. Without a code only the
    /// text can say more.
    pub fn failure(&self, code: Option<&str>, text: Option<&str>) -> Failure {
        Failure {
            reason: (self.failure_reason)(code.unwrap_or_default(), text),
            provider_code: code.map(str::to_owned),
        }
    }

    /// Most messages in one hand-over with `client`; at least one.
    pub fn request_size(&self, client: &dyn SmsProvider) -> usize {
        let most = match self.sending {
            Sending::Batched => client.max_batch(),
            Sending::PerMessage { in_flight } => client.max_batch().min(in_flight),
        };
        most.max(1)
    }

    /// Whether each message is its own request, so that one failing says the
    /// provider is failing as a whole.
    pub fn one_request_per_message(&self) -> bool {
        matches!(self.sending, Sending::PerMessage { .. })
    }

    /// Provider requests a hand-over of `messages` messages makes.
    pub fn requests_for(&self, messages: usize) -> usize {
        match self.sending {
            Sending::Batched => 1,
            Sending::PerMessage { .. } => messages,
        }
    }
}

/// A webhook request as the provider's signature covers it.
pub struct SignedRequest<'a> {
    /// The URL the provider called, as we registered it (without
    /// [`Descriptor::webhook_url_suffix`]), with the query string as received.
    pub url: &'a str,
    /// The body's parameters, when it could be read.
    pub params: Option<&'a Params>,
    /// Whether the body is JSON by its content type.
    pub json: bool,
    /// The raw body.
    pub body: &'a [u8],
    /// The value of [`Descriptor::signature_header`], when present.
    pub signature: Option<&'a str>,
}

/// The answer to an accepted webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// Its content type.
    pub content_type: &'static str,
    /// Its body.
    pub body: String,
}

/// One provider: its facts and the provider-specific steps.
pub trait Provider: Send + Sync {
    /// The fixed facts.
    fn descriptor(&self) -> &'static Descriptor;

    /// Whether a delivery carries the provider's valid signature made with `secret`.
    /// Only asked when [`Descriptor::signature_header`] is set (the token in the URL
    /// authenticates the others); a provider that sets it must check here, and until
    /// it does its deliveries are refused.
    fn signature_valid(&self, secret: &str, request: &SignedRequest<'_>) -> bool {
        let _ = (secret, request);
        false
    }

    /// What its webhooks contribute to the OpenAPI document.
    fn webhook_docs(&self) -> WebhookDocs;

    /// The answer to a delivery that was stored with `outcome` (`applied`,
    /// `duplicate`, …).
    fn acknowledgement(&self, outcome: &str) -> Acknowledgement;
}

/// The provider of `kind`: the registry's one line per provider. Exhaustive, so a new
/// `ProviderKind` does not build until its provider is listed here.
pub fn by_kind(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::ClickSend => &clicksend::ClickSend,
        ProviderKind::Twilio => &twilio::Twilio,
    }
}

/// Every provider, in the order the integrations screen shows them.
pub fn registry() -> impl Iterator<Item = &'static dyn Provider> {
    ProviderKind::ALL.into_iter().map(by_kind)
}

/// The provider whose slug is `slug`.
pub fn by_slug(slug: &str) -> Option<&'static dyn Provider> {
    registry().find(|provider| provider.descriptor().slug() == slug)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_kind_has_exactly_one_provider() {
        for kind in ProviderKind::ALL {
            let count = registry()
                .filter(|provider| provider.descriptor().kind == kind)
                .count();
            assert_eq!(count, 1, "{kind:?}");
            assert_eq!(by_kind(kind).descriptor().kind, kind);
        }
        assert_eq!(registry().count(), ProviderKind::ALL.len());
    }

    #[test]
    fn the_registry_keeps_the_screens_order() {
        let kinds: Vec<ProviderKind> = registry().map(|p| p.descriptor().kind).collect();
        assert_eq!(kinds, ProviderKind::ALL);
    }

    #[test]
    fn slugs_and_paths_are_unique_and_found() {
        let mut slugs = HashSet::new();
        for provider in registry() {
            let descriptor = provider.descriptor();
            assert!(slugs.insert(descriptor.slug()));
            assert_eq!(
                by_slug(descriptor.slug()).map(|p| p.descriptor().kind),
                Some(descriptor.kind)
            );
            // The panel paths sit beside the fixed ones under /integrations/{slug}.
            assert!(
                !["verify", "test-sms", "webhook-token", "register-webhooks"]
                    .contains(&descriptor.secret_path)
            );
            assert_ne!(descriptor.status_path, "inbound");
            assert_ne!(descriptor.username.field, descriptor.secret.field);
            assert!(
                descriptor.webhook_url_suffix.is_empty()
                    || descriptor.webhook_url_suffix.starts_with('#')
            );
        }
        assert!(by_slug("nexmo").is_none());
    }

    #[test]
    fn descriptors_hold_the_fixed_contract() {
        let clicksend = by_kind(ProviderKind::ClickSend).descriptor();
        assert_eq!(clicksend.secret_path, "api-key");
        assert_eq!(clicksend.secret_set_field(), "api_key_set");
        assert_eq!(clicksend.status_path, "receipts");
        assert_eq!(clicksend.in_doubt, InDoubt::SettleFromHistory);
        let twilio = by_kind(ProviderKind::Twilio).descriptor();
        assert_eq!(twilio.secret_path, "auth-token");
        assert_eq!(twilio.username.field, "account_sid");
        assert_eq!(twilio.status_url_field, "status_url");
        assert_eq!(
            twilio.failure(Some("21610"), None).reason,
            FailureReason::OptedOut
        );
        assert_eq!(
            clicksend.failure(Some("21610"), None).reason,
            FailureReason::Unknown
        );
        assert_eq!(
            clicksend.failure(None, Some("Absent subscriber")),
            Failure {
                reason: FailureReason::Unreachable,
                provider_code: None
            }
        );
        assert_eq!(twilio.requests_for(5), 5);
        assert_eq!(clicksend.requests_for(5), 1);
    }
}
