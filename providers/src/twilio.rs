//! Twilio Programmable Messaging: one `POST …/Messages.json` per message (a few in
//! flight at once), credential check with the account and its balance, the inbound
//! SMS URL of a number, and the Messages resource read back (a page of the account's
//! messages, or one message) to find replies and statuses whose webhook never arrived.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::common::{
    lenient_i64, lenient_string, readable_records, send, short, unreadable, value_to_string,
};
use crate::webhooks::twilio::state_of;
use crate::webhooks::{DeliveryReport, InboundSms, ReportedState};
use crate::{
    AccountSummary, ClientOptions, HistoryPage, HistoryRecord, OutboundSms, ProviderError,
    RegisteredWebhooks, SendOutcome, SmsProvider, WebhookUrls,
};

/// Most messages one `send` call takes (each is its own request).
pub const MAX_BATCH: usize = 100;
/// Requests in flight at once during a `send`.
pub const MAX_IN_FLIGHT: usize = 8;

/// Twilio's connection overrides, appended to every webhook URL we give Twilio (the
/// number's `SmsUrl` and each message's `StatusCallback`; the API builds both with the
/// integration's URLs). By default Twilio retries only a failed connection, once, so any
/// other failure loses the reply or receipt. With these it tries again up to 5 times
/// (`rc`, Twilio's most) when it cannot connect (`ct`), when our answer times out (`rt`)
/// and on a 5xx (`5xx`): our 503 when the webhook queue stays full or the database is
/// unreachable. A 4xx is not retried on purpose: ours mean "do not deliver this again"
/// (400 malformed, 403 bad signature, 404 unknown token, 429 past the integration's
/// rate).
///
/// It is a URL fragment: Twilio reads it and neither sends it in the request nor
/// includes it in the URL it signs, so signature checks use the URL without it.
pub const WEBHOOK_CONNECTION_OVERRIDES: &str = "#rc=5&rp=ct,rt,5xx";

mod descriptor;
mod docs;
mod failures;
pub use descriptor::Twilio;

const PROVIDER: &str = "Twilio";
const API_VERSION: &str = "/2010-04-01";
/// Messages per history page (Twilio's largest is 1000; 100 keeps each answer small).
const PAGE_SIZE: u32 = 100;
/// Carries our message reference so that a resend of the same message can be recognised.
static IDEMPOTENCY_HEADER: HeaderName = HeaderName::from_static("i-twilio-idempotency-token");

/// A Twilio account, reached with its Account SID and Auth Token (HTTP Basic).
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    account_sid: String,
    auth_token: SecretString,
    options: ClientOptions,
}

impl fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioClient")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("options", &self.options)
            .finish()
    }
}

/// An HTTP answer from Twilio, body parsed when it is JSON.
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Option<Value>,
}

/// Twilio's error body: `{code, message, more_info, status}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default, deserialize_with = "lenient_string")]
    code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    message: Option<String>,
}

/// The fields of a Message resource we keep.
#[derive(Debug, Deserialize)]
struct MessageResource {
    #[serde(default, deserialize_with = "lenient_string")]
    sid: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    num_segments: Option<i64>,
    #[serde(default, deserialize_with = "lenient_string")]
    price: Option<String>,
}

/// How a failed Twilio answer reads.
enum Failure {
    /// Twilio refused with its own error code: for a message, a final `Rejected`.
    Refused { code: String, reason: String },
    /// Anything else.
    Error(ProviderError),
}

impl Failure {
    fn into_error(self) -> ProviderError {
        match self {
            Failure::Refused { code, reason } => ProviderError::Rejected { code, reason },
            Failure::Error(error) => error,
        }
    }
}

impl TwilioClient {
    /// A client for the Twilio API at `base_url` (e.g. `https://api.twilio.com`).
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        account_sid: String,
        auth_token: SecretString,
        options: ClientOptions,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            account_sid,
            auth_token,
            options,
        }
    }

    /// `/2010-04-01/Accounts/{sid}` followed by `rest`.
    fn account_path(&self, rest: &str) -> String {
        format!(
            "{API_VERSION}/Accounts/{}{rest}",
            urlencoding::encode(&self.account_sid)
        )
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .timeout(self.options.timeout)
            .header(ACCEPT, "application/json")
    }

    /// Sends `request`; an `Err` only when no complete HTTP answer arrived.
    async fn execute(&self, request: RequestBuilder) -> Result<Answer, ProviderError> {
        let answer = send(PROVIDER, request, self.options.timeout).await?;
        Ok(Answer {
            status: answer.status,
            retry_after: answer.retry_after,
            body: serde_json::from_slice(&answer.body).ok(),
        })
    }

    /// Sends `request` and returns the JSON body of a 2xx answer, or the error.
    async fn fetch(&self, request: RequestBuilder, what: &str) -> Result<Value, ProviderError> {
        let answer = self.execute(request).await?;
        if !answer.status.is_success() {
            return Err(failure(&answer).into_error());
        }
        answer
            .body
            .ok_or_else(|| ProviderError::Unreadable(format!("Twilio's {what} is not JSON")))
    }

    /// Hands one message to Twilio.
    async fn send_one(&self, message: &OutboundSms) -> SendOutcome {
        let mut form = vec![
            ("To", message.to.as_str()),
            ("From", message.from.as_str()),
            ("Body", message.body.as_str()),
        ];
        if let Some(callback) = &message.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        let mut request = self
            .request(Method::POST, &self.account_path("/Messages.json"))
            .form(&form);
        match HeaderValue::from_str(&message.reference) {
            Ok(token) => request = request.header(IDEMPOTENCY_HEADER.clone(), token),
            Err(_) => tracing::warn!(
                provider = PROVIDER,
                "message reference is not a valid header value; sending without idempotency token"
            ),
        }

        let answer = match self.execute(request).await {
            Ok(answer) => answer,
            Err(error) => return SendOutcome::Failed(error),
        };
        if !answer.status.is_success() {
            return match failure(&answer) {
                Failure::Refused { code, reason } => SendOutcome::Rejected { code, reason },
                Failure::Error(error) => SendOutcome::Failed(error),
            };
        }
        let resource = answer
            .body
            .as_ref()
            .and_then(|body| MessageResource::deserialize(body).ok());
        match resource {
            Some(MessageResource {
                sid: Some(sid),
                num_segments,
                price,
            }) => SendOutcome::Accepted {
                provider_message_id: sid,
                // "0" until a Messaging Service has picked a sender: not known yet.
                parts: num_segments
                    .filter(|n| *n > 0)
                    .and_then(|n| i32::try_from(n).ok()),
                price,
            },
            _ => SendOutcome::Failed(unreadable("Twilio accepted the message without a sid")),
        }
    }
}

#[async_trait]
impl SmsProvider for TwilioClient {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    async fn verify(&self) -> Result<AccountSummary, ProviderError> {
        let account = self
            .fetch(
                self.request(Method::GET, &self.account_path(".json")),
                "account answer",
            )
            .await?;
        let inactive = account
            .get("status")
            .and_then(value_to_string)
            .filter(|status| !status.eq_ignore_ascii_case("active"));
        if let Some(status) = inactive {
            return Err(ProviderError::Rejected {
                reason: format!("the Twilio account is {status}"),
                code: status,
            });
        }
        let name = account
            .get("friendly_name")
            .and_then(value_to_string)
            .unwrap_or_else(|| self.account_sid.clone());

        // Subaccounts report no balance; only a refusal of the credentials matters here.
        let balance_request = self.request(Method::GET, &self.account_path("/Balance.json"));
        let (balance, currency) = match self.execute(balance_request).await {
            Ok(answer) if answer.status.is_success() => {
                let body = answer.body.unwrap_or(Value::Null);
                (
                    body.get("balance").and_then(value_to_string),
                    body.get("currency").and_then(value_to_string),
                )
            }
            Ok(answer) => match failure(&answer).into_error() {
                error @ ProviderError::Unauthorized(_) => return Err(error),
                _ => (None, None),
            },
            Err(_) => (None, None),
        };
        Ok(AccountSummary {
            name,
            balance,
            currency,
        })
    }

    async fn send(&self, messages: &[OutboundSms]) -> Result<Vec<SendOutcome>, ProviderError> {
        // Collected first: a closure left inside the stream type trips the `Send` check
        // that `async_trait` puts on this future.
        let requests: Vec<_> = messages.iter().map(|m| self.send_one(m)).collect();
        // `buffered` keeps the input order while up to MAX_IN_FLIGHT requests run.
        let outcomes = futures_util::stream::iter(requests)
            .buffered(MAX_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        Ok(outcomes)
    }

    async fn register_webhooks(
        &self,
        number: &str,
        urls: &WebhookUrls,
    ) -> Result<RegisteredWebhooks, ProviderError> {
        let list = self
            .fetch(
                self.request(
                    Method::GET,
                    &self.account_path("/IncomingPhoneNumbers.json"),
                )
                .query(&[("PhoneNumber", number)]),
                "phone number list",
            )
            .await?;
        let records = list
            .get("incoming_phone_numbers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        // Prefer an exact match, in case the filter matched loosely.
        let exact = records.iter().find(|r| {
            r.get("phone_number")
                .and_then(value_to_string)
                .is_some_and(|n| same_phone_number(&n, number))
        });
        let Some(number_sid) = exact
            .or(records.first())
            .and_then(|r| r.get("sid"))
            .and_then(value_to_string)
        else {
            return Err(ProviderError::Rejected {
                code: "number_not_found".to_owned(),
                reason: format!("{number} is not a phone number of this Twilio account"),
            });
        };

        let path = self.account_path(&format!(
            "/IncomingPhoneNumbers/{}.json",
            urlencoding::encode(&number_sid)
        ));
        self.fetch(
            self.request(Method::POST, &path)
                .form(&[("SmsUrl", urls.inbound.as_str()), ("SmsMethod", "POST")]),
            "phone number update answer",
        )
        .await?;
        Ok(RegisteredWebhooks {
            inbound_id: number_sid,
            status_id: None,
        })
    }

    /// The cursor is Twilio's `next_page_uri`: a path with its query, relative to the
    /// base URL, followed as it is.
    async fn history(
        &self,
        since: DateTime<Utc>,
        page: Option<&str>,
    ) -> Result<HistoryPage, ProviderError> {
        let request = match page {
            None => self
                .request(Method::GET, &self.account_path("/Messages.json"))
                .query(&[
                    ("DateSent>", since.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    ("PageSize", PAGE_SIZE.to_string()),
                ]),
            Some(next) => self.request(Method::GET, next_page_path(next)?),
        };
        let list = self.fetch(request, "message list").await?;
        let Some(messages) = list.get("messages").and_then(Value::as_array) else {
            return Err(unreadable("Twilio's message list has no messages"));
        };
        let records = readable_records(PROVIDER, messages, history_record);
        Ok(HistoryPage {
            records,
            next: list.get("next_page_uri").and_then(value_to_string),
        })
    }

    async fn status_of(
        &self,
        provider_message_id: &str,
    ) -> Result<Option<DeliveryReport>, ProviderError> {
        let path = self.account_path(&format!(
            "/Messages/{}.json",
            urlencoding::encode(provider_message_id)
        ));
        let answer = self.execute(self.request(Method::GET, &path)).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status.is_success() {
            return Err(failure(&answer).into_error());
        }
        let message = answer
            .body
            .ok_or_else(|| unreadable("Twilio's message answer is not JSON"))?;
        let Some(raw_status) = message.get("status").and_then(value_to_string) else {
            return Err(unreadable("Twilio's message answer has no status"));
        };
        // A status the callback parser does not know changes nothing: report it as sent,
        // with the raw status kept.
        let state = state_of(&raw_status).unwrap_or(ReportedState::Sent);
        let message_id = message
            .get("sid")
            .and_then(value_to_string)
            .unwrap_or_else(|| provider_message_id.to_owned());
        Ok(Some(report(&message, message_id, state, raw_status)))
    }
}

/// Checks that a history cursor is a path on the base URL: anything else (a full URL, a
/// bare query) could send our credentials to another host.
fn next_page_path(cursor: &str) -> Result<&str, ProviderError> {
    if cursor.starts_with('/') {
        Ok(cursor)
    } else {
        Err(ProviderError::Rejected {
            code: "invalid_cursor".to_owned(),
            reason: "a Twilio history cursor is a path on the API host".to_owned(),
        })
    }
}

/// A Message resource as a reply (`direction` `inbound`) or a status report (the
/// `outbound-*` directions); `None` for one that cannot be read or whose status has no
/// state (e.g. `received` on an outbound message), which the page skips.
fn history_record(message: &Value) -> Option<HistoryRecord> {
    let direction = message
        .get("direction")
        .and_then(value_to_string)?
        .to_ascii_lowercase();
    match direction.as_str() {
        "inbound" => inbound_record(message).map(HistoryRecord::Inbound),
        "outbound-api" | "outbound-reply" | "outbound-call" => {
            let message_id = message.get("sid").and_then(value_to_string)?;
            let raw_status = message.get("status").and_then(value_to_string)?;
            let state = state_of(&raw_status).ok()?;
            Some(HistoryRecord::Outbound(report(
                message, message_id, state, raw_status,
            )))
        }
        _ => None,
    }
}

/// An inbound Message resource shaped as the inbound webhook would carry it: needs
/// `sid`, `from` and `to`; the body is kept untrimmed.
fn inbound_record(message: &Value) -> Option<InboundSms> {
    let field = |key: &str| message.get(key).and_then(value_to_string);
    Some(InboundSms {
        message_id: field("sid")?,
        from: field("from")?,
        to: field("to")?,
        body: message
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        sent_at: None,
        original_message_id: None,
    })
}

/// An outbound Message resource shaped as its status callback would carry it; an
/// `error_code` of 0 means none, as in the callback.
fn report(
    message: &Value,
    message_id: String,
    state: ReportedState,
    raw_status: String,
) -> DeliveryReport {
    DeliveryReport {
        message_id,
        reference: None,
        state,
        raw_status,
        error_code: message
            .get("error_code")
            .and_then(value_to_string)
            .filter(|code| code != "0"),
        error_text: message
            .get("error_message")
            .and_then(value_to_string)
            .map(|text| short(&text)),
    }
}

/// Reads a non-2xx answer: Twilio's code decides before the HTTP status where it names
/// credentials (20003) or rate limiting (20429).
fn failure(answer: &Answer) -> Failure {
    let body = answer
        .body
        .as_ref()
        .and_then(|b| ErrorBody::deserialize(b).ok())
        .unwrap_or_default();
    let status = answer.status;
    let code = body.code.as_deref();
    let message = body.message.as_deref().map(short);
    let http = || format!("HTTP {}", status.as_u16());
    let failure = if status == StatusCode::UNAUTHORIZED || code == Some("20003") {
        Failure::Error(ProviderError::Unauthorized(message.unwrap_or_else(http)))
    } else if status == StatusCode::TOO_MANY_REQUESTS || code == Some("20429") {
        Failure::Error(ProviderError::RateLimited {
            retry_after: answer.retry_after,
        })
    } else if status.is_server_error() {
        Failure::Error(ProviderError::Unavailable(format!(
            "Twilio answered {}",
            http()
        )))
    } else if status.is_client_error() {
        match code {
            Some(code) => Failure::Refused {
                code: code.to_owned(),
                reason: message.unwrap_or_else(http),
            },
            None => Failure::Error(ProviderError::Rejected {
                code: status.as_u16().to_string(),
                reason: message.unwrap_or_else(http),
            }),
        }
    } else {
        Failure::Error(ProviderError::Unreadable(format!(
            "Twilio answered {}",
            http()
        )))
    };
    tracing::warn!(
        provider = PROVIDER,
        status = status.as_u16(),
        code,
        "provider refused the request"
    );
    failure
}

/// Same number, whatever the formatting.
fn same_phone_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    digits(a) == digits(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_auth_token() {
        let client = TwilioClient::new(
            reqwest::Client::new(),
            "https://api.twilio.com/",
            "AC0123456789abcdef0123456789abcdef".into(),
            SecretString::from("tw-secret-token-456"),
            ClientOptions::default(),
        );
        let shown = format!("{client:?}");
        assert!(!shown.contains("tw-secret-token-456"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
