//! ClickSend and Twilio: HTTP clients behind one [`SmsProvider`] trait, with typed
//! outcomes for every way a provider can answer, and [`webhooks`]: pure parsing of their
//! webhook deliveries and Twilio signature checks. No database access.
//!
//! Clients never log or return a provider response body verbatim: ClickSend's account
//! body echoes the API key.

pub mod clicksend;
mod common;
pub mod docs;
mod error;
pub mod registry;
pub mod twilio;
pub mod webhooks;

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use clicksend::ClickSendClient;
pub use error::ProviderError;
pub use registry::{Descriptor, InDoubt, Provider, by_kind, by_slug, registry};
pub use twilio::TwilioClient;

/// One SMS to hand to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSms {
    /// Our message id; travels as ClickSend's `custom_string` so that an unknown
    /// outcome can be settled against the provider's history.
    pub reference: String,
    /// Recipient, E.164.
    pub to: String,
    /// Sender number, E.164.
    pub from: String,
    /// The text.
    pub body: String,
    /// Where the provider should post delivery status, when it takes a per-message URL
    /// (Twilio's `StatusCallback`).
    pub status_callback: Option<String>,
}

/// What the provider said about one message of a send request.
#[derive(Debug, Clone, PartialEq)]
pub enum SendOutcome {
    /// Taken for delivery.
    Accepted {
        /// The provider's id for the message (ClickSend `message_id`, Twilio `sid`).
        provider_message_id: String,
        /// Segments billed, when reported.
        parts: Option<i32>,
        /// Price as the provider states it (a decimal string), when reported.
        price: Option<String>,
    },
    /// Refused for good (invalid recipient, unsubscribed, …): never retry.
    Rejected {
        /// The provider's code, e.g. `INVALID_RECIPIENT` or `21610`.
        code: String,
        /// The provider's explanation.
        reason: String,
    },
    /// This message's hand-over failed as a whole request would (Twilio sends one request
    /// per message); the error says whether a retry may help.
    Failed(ProviderError),
}

/// The account behind a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    /// The account's display name.
    pub name: String,
    /// Balance as a decimal string, when the provider reports one.
    pub balance: Option<String>,
    /// Currency of the balance, e.g. `AUD` or `USD`.
    pub currency: Option<String>,
}

/// The public URLs the provider should call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrls {
    /// Replies (inbound SMS).
    pub inbound: String,
    /// Delivery receipts / status callbacks.
    pub status: String,
}

/// What registering the webhooks created or updated at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredWebhooks {
    /// The provider's id of the inbound rule (ClickSend) or phone number (Twilio).
    pub inbound_id: String,
    /// The provider's id of the receipt rule (ClickSend); `None` for Twilio, which takes
    /// the status URL with each message.
    pub status_id: Option<String>,
}

/// A message found in the provider's sent history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentRecord {
    /// Our reference (ClickSend `custom_string`).
    pub reference: String,
    /// The provider's id for the message.
    pub provider_message_id: String,
    /// The provider's status text.
    pub status: String,
}

/// A message in the provider's own records, read back by reconciliation to find the
/// replies and delivery reports whose webhook never arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryRecord {
    /// A reply received on the account, shaped as its webhook would carry it.
    Inbound(webhooks::InboundSms),
    /// Where one of the account's outbound messages stands, shaped as its delivery
    /// receipt (ClickSend) or status callback (Twilio) would carry it.
    Outbound(webhooks::DeliveryReport),
}

/// One page of the provider's records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryPage {
    /// The records on this page that could be read; a record that cannot is skipped.
    pub records: Vec<HistoryRecord>,
    /// Where the next page starts, to hand back to [`SmsProvider::history`] as it is;
    /// `None` on the last page.
    pub next: Option<String>,
}

/// Timeouts for provider calls.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// The whole request, connection included.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
        }
    }
}

/// An SMS provider account, with credentials bound in.
#[async_trait::async_trait]
pub trait SmsProvider: Send + Sync {
    /// Most messages one `send` call takes.
    fn max_batch(&self) -> usize;

    /// Checks the credentials and reports the account.
    async fn verify(&self) -> Result<AccountSummary, ProviderError>;

    /// Hands `messages` (at most `max_batch`) to the provider; one outcome per message,
    /// in order. An `Err` means the whole request failed and no message has an outcome.
    async fn send(&self, messages: &[OutboundSms]) -> Result<Vec<SendOutcome>, ProviderError>;

    /// Points the provider's inbound and status notifications for `number` at `urls`,
    /// creating or updating what it needs (ClickSend automation rules, Twilio's number
    /// SMS URL).
    async fn register_webhooks(
        &self,
        number: &str,
        urls: &WebhookUrls,
    ) -> Result<RegisteredWebhooks, ProviderError>;

    /// One page of the account's messages in both directions that the provider dates at
    /// or after `since` (ClickSend `GET /v3/sms/history?date_from=`, Twilio
    /// `GET …/Messages.json?DateSent>=`). `page` is `None` for the first page, then the
    /// previous page's [`HistoryPage::next`].
    async fn history(
        &self,
        since: DateTime<Utc>,
        page: Option<&str>,
    ) -> Result<HistoryPage, ProviderError>;

    /// One page (from 1) of the messages sent since `since_unix` that carry our
    /// reference, and whether a further page exists: how an unknown outcome is settled
    /// by a provider whose descriptor says [`InDoubt::SettleFromHistory`]. Others never
    /// need it and keep this answer: nothing found, no further page.
    async fn sent_history(
        &self,
        since_unix: i64,
        page: u32,
    ) -> Result<(Vec<SentRecord>, bool), ProviderError> {
        let _ = (since_unix, page);
        Ok((Vec::new(), false))
    }

    /// Where the outbound message the provider calls `provider_message_id` stands now
    /// (ClickSend `GET /v3/sms/receipts/{message_id}`, Twilio
    /// `GET …/Messages/{sid}.json`); `None` when the provider has nothing to report yet.
    async fn status_of(
        &self,
        provider_message_id: &str,
    ) -> Result<Option<webhooks::DeliveryReport>, ProviderError>;
}
