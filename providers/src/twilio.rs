//! Twilio Programmable Messaging: one `POST …/Messages.json` per message (a few in
//! flight at once), credential check with the account and its balance, and the inbound
//! SMS URL of a number.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use reqwest::header::{ACCEPT, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::common::{
    lenient_i64, lenient_string, retry_after, short, transport_error, unreadable, value_to_string,
};
use crate::{
    AccountSummary, ClientOptions, OutboundSms, ProviderError, RegisteredWebhooks, SendOutcome,
    SmsProvider, WebhookUrls,
};

/// Most messages one `send` call takes (each is its own request).
pub const MAX_BATCH: usize = 100;
/// Requests in flight at once during a `send`.
pub const MAX_IN_FLIGHT: usize = 8;

const PROVIDER: &str = "Twilio";
const API_VERSION: &str = "/2010-04-01";
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
        let timeout = self.options.timeout;
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(PROVIDER, &e, timeout))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let path = response.url().path().to_owned();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(PROVIDER, &e, timeout))?;
        tracing::debug!(
            provider = PROVIDER,
            path,
            status = status.as_u16(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "provider answered"
        );
        Ok(Answer {
            status,
            retry_after: wait,
            body: serde_json::from_slice(&bytes).ok(),
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
