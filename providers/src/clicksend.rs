//! ClickSend REST v3: send in batches of up to 1000, check credentials, point the
//! account's inbound and receipt automation rules at our webhooks, read the history to
//! settle messages whose outcome was lost and to find replies and receipts whose push
//! never arrived, and look up one message's receipt.
//!
//! ClickSend's answers vary in shape (numbers as strings, `""` for absent values,
//! `inbound_rule_id` vs `sms_inbound_rule_id`, page objects vs bare arrays), so every
//! answer is read leniently and only the fields we use are looked at.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::header::ACCEPT;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::common::{
    RawAnswer, lenient_i64, lenient_string, readable_records, send, short, unreadable,
    value_to_i64, value_to_string,
};
use crate::webhooks::clicksend::{state_from_code, state_from_word};
use crate::webhooks::{DeliveryReport, InboundSms, ReportedState};
use crate::{
    AccountSummary, ClientOptions, HistoryPage, HistoryRecord, OutboundSms, ProviderError,
    RegisteredWebhooks, SendOutcome, SentRecord, SmsProvider, WebhookUrls,
};

/// Most messages ClickSend takes in one `POST /v3/sms/send`.
pub const MAX_BATCH: usize = 1000;
/// The `source` we stamp on every message.
pub const SOURCE: &str = "nextal-sms";
/// Name of the inbound automation rule we own on the account.
pub const INBOUND_RULE_NAME: &str = "Nextal SMS replies";
/// Name of the delivery-receipt automation rule we own on the account.
pub const RECEIPT_RULE_NAME: &str = "Nextal SMS delivery receipts";

mod descriptor;
mod docs;
mod failures;
pub use descriptor::ClickSend;

const PROVIDER: &str = "ClickSend";
const INBOUND_RULES_PATH: &str = "/v3/automations/sms/inbound";
const RECEIPT_RULES_PATH: &str = "/v3/automations/sms/receipts";
const HISTORY_PATH: &str = "/v3/sms/history";
const RECEIPT_PATH: &str = "/v3/sms/receipts";
/// The create answer says `inbound_rule_id`, the list example `sms_inbound_rule_id`.
const INBOUND_ID_KEYS: &[&str] = &["inbound_rule_id", "sms_inbound_rule_id"];
const RECEIPT_ID_KEYS: &[&str] = &["receipt_rule_id", "sms_receipt_rule_id"];
/// ClickSend's largest page.
const PAGE_LIMIT: u32 = 100;
/// Bound on rule-list pages read while looking for our rule.
const MAX_RULE_PAGES: u32 = 20;

/// A ClickSend account, reached with an API username and key (HTTP Basic).
pub struct ClickSendClient {
    http: reqwest::Client,
    base_url: String,
    username: String,
    api_key: SecretString,
    options: ClientOptions,
}

impl fmt::Debug for ClickSendClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickSendClient")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("api_key", &"[redacted]")
            .field("options", &self.options)
            .finish()
    }
}

/// The envelope around every ClickSend answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient_i64")]
    http_code: Option<i64>,
    #[serde(default, deserialize_with = "lenient_string")]
    response_code: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    response_msg: Option<String>,
    #[serde(default)]
    data: Value,
}

/// An HTTP answer from ClickSend, its envelope parsed when the body is one.
struct Answer {
    /// The HTTP status, or the body's `http_code` when a 2xx carries an error code: the
    /// legacy API has answered 200 with `"http_code": 401` in the body.
    status: StatusCode,
    retry_after: Option<Duration>,
    envelope: Option<Envelope>,
    /// The body was empty or only whitespace.
    blank: bool,
}

/// One entry of `data.messages[]` in a send answer.
#[derive(Debug, Deserialize)]
struct SentMessage {
    #[serde(default, deserialize_with = "lenient_string")]
    message_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    message_parts: Option<i64>,
    #[serde(default, deserialize_with = "lenient_string")]
    message_price: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    custom_string: Option<String>,
}

impl ClickSendClient {
    /// A client for the ClickSend API at `base_url` (e.g. `https://rest.clicksend.com`;
    /// paths are `/v3/...`).
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        username: String,
        api_key: SecretString,
        options: ClientOptions,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            username,
            api_key,
            options,
        }
    }

    /// Page `page` (from 1) of `GET /v3/sms/history` from `since_unix` to now, both
    /// directions, as raw entries, and whether a further page exists. Shared by
    /// [`SmsProvider::sent_history`] and [`SmsProvider::history`], which read different fields.
    async fn history_entries(
        &self,
        since_unix: i64,
        page: u32,
    ) -> Result<(Vec<Value>, bool), ProviderError> {
        let page = page.max(1);
        let query = [
            ("date_from", since_unix.to_string()),
            ("date_to", Utc::now().timestamp().to_string()),
            ("page", page.to_string()),
            ("limit", PAGE_LIMIT.to_string()),
        ];
        let data = self.call(Method::GET, HISTORY_PATH, &query, None).await?;
        page_records(data, page, "the message history")
    }

    /// Calls ClickSend and returns the envelope's `data` on success, or the error the
    /// HTTP status (or a 200 whose body `http_code` is ≥ 400) stands for.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ProviderError> {
        let answer = self.exchange(&method, path, query, body).await?;
        answer.into_data(&method, path)
    }

    /// A `GET` of one record by id: `Ok(None)` when ClickSend answers 404, which for such
    /// a lookup means it holds no record (yet); otherwise as [`Self::call`].
    async fn lookup(&self, path: &str) -> Result<Option<Value>, ProviderError> {
        let answer = self.exchange(&Method::GET, path, &[], None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.into_data(&Method::GET, path).map(Some)
    }

    /// Sends one request with our credentials; an `Err` only when no complete HTTP
    /// answer arrived.
    async fn exchange(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, ProviderError> {
        let timeout = self.options.timeout;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base_url))
            .basic_auth(&self.username, Some(self.api_key.expose_secret()))
            .timeout(timeout)
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }

        let RawAnswer {
            status,
            retry_after: wait,
            body: bytes,
        } = send(PROVIDER, request, timeout).await?;
        let blank = bytes.iter().all(u8::is_ascii_whitespace);
        let envelope: Option<Envelope> = if blank {
            None
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        // The legacy API has answered 200 with `"http_code": 401` in the body.
        let effective = match envelope.as_ref().and_then(|e| e.http_code) {
            Some(code) if status.is_success() && code >= 400 => u16::try_from(code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            _ => status,
        };
        Ok(Answer {
            status: effective,
            retry_after: wait,
            envelope,
            blank,
        })
    }

    /// Looks through the rule list at `path` for our rule called `name` (for inbound
    /// rules, one for `number` or for no particular number) and returns its id.
    async fn find_rule(
        &self,
        path: &str,
        name: &str,
        id_keys: &[&str],
        number: Option<&str>,
    ) -> Result<Option<String>, ProviderError> {
        for page in 1..=MAX_RULE_PAGES {
            let query = [
                ("page", page.to_string()),
                ("limit", PAGE_LIMIT.to_string()),
            ];
            let data = self.call(Method::GET, path, &query, None).await?;
            let (rules, more) = page_records(data, page, "the automation rule list")?;
            let found = rules.iter().find(|rule| {
                let named = rule
                    .get("rule_name")
                    .and_then(value_to_string)
                    .is_some_and(|n| n == name);
                let same_number = match (
                    number,
                    rule.get("dedicated_number").and_then(value_to_string),
                ) {
                    (Some(wanted), Some(has)) => same_phone_number(wanted, &has),
                    _ => true,
                };
                named && same_number
            });
            if let Some(rule) = found {
                return match rule_id(rule, id_keys) {
                    Some(id) => Ok(Some(id)),
                    None => Err(unreadable(
                        "ClickSend listed our automation rule without an id",
                    )),
                };
            }
            if !more {
                break;
            }
        }
        Ok(None)
    }

    /// Updates the rule `existing` with `body`, or creates it, and returns its id.
    async fn save_rule(
        &self,
        path: &str,
        existing: Option<String>,
        body: &Value,
        id_keys: &[&str],
    ) -> Result<String, ProviderError> {
        match existing {
            Some(id) => {
                let rule_path = format!("{path}/{}", urlencoding::encode(&id));
                let data = self.call(Method::PUT, &rule_path, &[], Some(body)).await?;
                Ok(rule_id(&data, id_keys).unwrap_or(id))
            }
            None => {
                let data = self.call(Method::POST, path, &[], Some(body)).await?;
                rule_id(&data, id_keys).ok_or_else(|| {
                    unreadable("ClickSend created the automation rule but gave no id")
                })
            }
        }
    }
}

impl Answer {
    /// The envelope's `data` on success, or the error the status stands for (logged
    /// without the body).
    fn into_data(self, method: &Method, path: &str) -> Result<Value, ProviderError> {
        if self.status.is_success() {
            return match self.envelope {
                Some(envelope) => Ok(envelope.data),
                None if self.blank => Ok(Value::Null),
                None => Err(ProviderError::Unreadable(format!(
                    "ClickSend answered HTTP {} with a body that is not its JSON envelope",
                    self.status.as_u16()
                ))),
            };
        }
        let envelope = self.envelope.as_ref();
        let error = error_for(self.status, self.retry_after, envelope);
        tracing::warn!(
            provider = PROVIDER,
            %method,
            path,
            status = self.status.as_u16(),
            response_code = envelope.and_then(|e| e.response_code.as_deref()),
            %error,
            "provider refused the request"
        );
        Err(error)
    }
}

#[async_trait]
impl SmsProvider for ClickSendClient {
    fn max_batch(&self) -> usize {
        MAX_BATCH
    }

    /// The messages of `GET /v3/sms/history` that carry our reference
    /// (`custom_string`).
    async fn sent_history(
        &self,
        since_unix: i64,
        page: u32,
    ) -> Result<(Vec<SentRecord>, bool), ProviderError> {
        let (items, more) = self.history_entries(since_unix, page).await?;
        let records = items.iter().filter_map(sent_record).collect();
        Ok((records, more))
    }

    async fn verify(&self) -> Result<AccountSummary, ProviderError> {
        // This body carries `_subaccount.api_key`: read three fields, never log it.
        let data = self.call(Method::GET, "/v3/account", &[], None).await?;
        if !data.is_object() {
            return Err(unreadable("ClickSend's account answer holds no account"));
        }
        let name = ["account_name", "username", "user_email"]
            .iter()
            .find_map(|key| data.get(key).and_then(value_to_string))
            .unwrap_or_else(|| self.username.clone());
        let balance = data.get("balance").and_then(value_to_string);
        let currency = data
            .get("_currency")
            .and_then(|c| c.get("currency_name_short"))
            .and_then(value_to_string);
        Ok(AccountSummary {
            name,
            balance,
            currency,
        })
    }

    async fn send(&self, messages: &[OutboundSms]) -> Result<Vec<SendOutcome>, ProviderError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let items: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({
                    "to": m.to,
                    "body": m.body,
                    "from": m.from,
                    "source": SOURCE,
                    "custom_string": m.reference,
                })
            })
            .collect();
        let body = json!({ "messages": items });
        let data = self
            .call(Method::POST, "/v3/sms/send", &[], Some(&body))
            .await?;
        let Some(answers) = data.get("messages").and_then(Value::as_array) else {
            return Err(unreadable("ClickSend's send answer has no message list"));
        };
        // An entry we cannot read counts as missing: its message gets `Failed(Unreadable)`.
        let answers: Vec<Option<SentMessage>> = answers
            .iter()
            .map(|a| SentMessage::deserialize(a).ok())
            .collect();
        Ok(match_outcomes(messages, &answers))
    }

    async fn register_webhooks(
        &self,
        number: &str,
        urls: &WebhookUrls,
    ) -> Result<RegisteredWebhooks, ProviderError> {
        let inbound_body = json!({
            "dedicated_number": number,
            "rule_name": INBOUND_RULE_NAME,
            "message_search_type": 0,
            "message_search_term": "",
            "action": "URL",
            "action_address": urls.inbound,
            "webhook_type": "json",
            "enabled": 1,
        });
        let existing = self
            .find_rule(
                INBOUND_RULES_PATH,
                INBOUND_RULE_NAME,
                INBOUND_ID_KEYS,
                Some(number),
            )
            .await?;
        let inbound_id = self
            .save_rule(INBOUND_RULES_PATH, existing, &inbound_body, INBOUND_ID_KEYS)
            .await?;

        let receipt_body = json!({
            "rule_name": RECEIPT_RULE_NAME,
            "match_type": 0,
            "action": "URL",
            "action_address": urls.status,
            "enabled": 1,
        });
        let existing = self
            .find_rule(RECEIPT_RULES_PATH, RECEIPT_RULE_NAME, RECEIPT_ID_KEYS, None)
            .await?;
        let status_id = self
            .save_rule(RECEIPT_RULES_PATH, existing, &receipt_body, RECEIPT_ID_KEYS)
            .await?;

        Ok(RegisteredWebhooks {
            inbound_id,
            status_id: Some(status_id),
        })
    }

    /// The cursor is the page number as text (`"2"`, `"3"`, …).
    async fn history(
        &self,
        since: DateTime<Utc>,
        page: Option<&str>,
    ) -> Result<HistoryPage, ProviderError> {
        let page = page_number(page)?;
        let (items, more) = self.history_entries(since.timestamp(), page).await?;
        let records = readable_records(PROVIDER, &items, history_record);
        Ok(HistoryPage {
            records,
            next: more
                .then(|| page.checked_add(1))
                .flatten()
                .map(|next| next.to_string()),
        })
    }

    async fn status_of(
        &self,
        provider_message_id: &str,
    ) -> Result<Option<DeliveryReport>, ProviderError> {
        let path = format!(
            "{RECEIPT_PATH}/{}",
            urlencoding::encode(provider_message_id)
        );
        let record = match self.lookup(&path).await? {
            None | Some(Value::Null) => return Ok(None),
            Some(record @ Value::Object(_)) => record,
            Some(_) => return Err(unreadable("ClickSend's receipt answer holds no receipt")),
        };
        // The receipt names the message it is for; we asked by that id anyway.
        let message_id =
            text(&record, "message_id").unwrap_or_else(|| provider_message_id.to_owned());
        delivery_report(&record, message_id)
            .map(Some)
            .ok_or_else(|| unreadable("ClickSend's receipt has no status we know"))
    }
}

/// The error an HTTP status stands for, with ClickSend's own code and message.
fn error_for(
    status: StatusCode,
    wait: Option<Duration>,
    envelope: Option<&Envelope>,
) -> ProviderError {
    let code = envelope.and_then(|e| e.response_code.as_deref());
    let message = envelope.and_then(|e| e.response_msg.as_deref()).map(short);
    let http = || format!("HTTP {}", status.as_u16());
    if status == StatusCode::UNAUTHORIZED
        || matches!(code, Some("INVALID_CREDENTIALS" | "UNAUTHORIZED"))
    {
        ProviderError::Unauthorized(message.unwrap_or_else(http))
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || matches!(code, Some("TOO_MANY_REQUESTS" | "HTTP_TOO_MANY_REQUESTS"))
    {
        ProviderError::RateLimited { retry_after: wait }
    } else if status.is_server_error() {
        ProviderError::Unavailable(format!("ClickSend answered {}", http()))
    } else if status.is_client_error() {
        ProviderError::Rejected {
            code: code.map_or_else(|| status.as_u16().to_string(), str::to_owned),
            reason: message.unwrap_or_else(http),
        }
    } else {
        ProviderError::Unreadable(format!("ClickSend answered {}", http()))
    }
}

/// Pairs each input with its answer: by `custom_string` first, then by position for
/// answers that carry none.
fn match_outcomes(inputs: &[OutboundSms], answers: &[Option<SentMessage>]) -> Vec<SendOutcome> {
    let mut slots: Vec<Option<&SentMessage>> = vec![None; inputs.len()];
    let mut unkeyed = Vec::new();
    for (position, answer) in answers.iter().enumerate() {
        let Some(answer) = answer else { continue };
        match answer.custom_string.as_deref() {
            Some(reference) => {
                let free = (0..inputs.len())
                    .find(|&i| slots[i].is_none() && inputs[i].reference.trim() == reference);
                match free {
                    Some(i) => slots[i] = Some(answer),
                    None => tracing::warn!(
                        provider = PROVIDER,
                        position,
                        "send answer names a message we did not send"
                    ),
                }
            }
            None => unkeyed.push((position, answer)),
        }
    }
    for (position, answer) in unkeyed {
        if let Some(slot @ None) = slots.get_mut(position) {
            *slot = Some(answer);
        }
    }
    slots
        .into_iter()
        .map(|slot| match slot {
            Some(answer) => outcome(answer),
            None => SendOutcome::Failed(unreadable(
                "ClickSend's send answer does not mention this message",
            )),
        })
        .collect()
}

/// What one `data.messages[]` entry says.
fn outcome(answer: &SentMessage) -> SendOutcome {
    match answer.status.as_deref() {
        Some(status) if status.eq_ignore_ascii_case("SUCCESS") => match &answer.message_id {
            Some(id) => SendOutcome::Accepted {
                provider_message_id: id.clone(),
                parts: answer.message_parts.and_then(|p| i32::try_from(p).ok()),
                price: answer.message_price.clone(),
            },
            None => SendOutcome::Failed(unreadable(
                "ClickSend accepted the message without a message id",
            )),
        },
        // The same text went to the same number moments ago: ClickSend asks for a retry
        // in a few seconds, it does not refuse the message.
        Some("THROTTLED") => SendOutcome::Failed(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(10)),
        }),
        Some(code) => SendOutcome::Rejected {
            code: code.to_owned(),
            reason: explain(code).map_or_else(|| code.to_owned(), str::to_owned),
        },
        None => SendOutcome::Failed(unreadable(
            "ClickSend's send answer gives this message no status",
        )),
    }
}

/// A short explanation of ClickSend's per-message status codes.
fn explain(code: &str) -> Option<&'static str> {
    Some(match code {
        "INVALID_RECIPIENT" => "the recipient number is not valid",
        "INSUFFICIENT_CREDIT" => "the ClickSend account is out of credit",
        "COUNTRY_NOT_ENABLED" => "sending to this country is not enabled on the ClickSend account",
        "INVALID_SENDER_ID" => "the sender ID is not valid",
        "THROTTLED" => "the same text went to this recipient moments ago",
        "EMPTY_MESSAGE" => "the message is empty",
        "ACCOUNT_NOT_ACTIVATED" => "the ClickSend account is not activated",
        "INVALID_CREDENTIALS" | "MISSING_CREDENTIALS" => "ClickSend refused the credentials",
        "TOO_MANY_RECIPIENTS" => "too many recipients in one request",
        "MISSING_REQUIRED_FIELDS" => "a required field is missing",
        "INVALID_SCHEDULE" => "the schedule time is not valid",
        "NOT_ENOUGH_PERMISSION_TO_LIST_ID" => "no access to that contact list",
        "ALREADY_EXISTS" => "the message already exists",
        "INTERNAL_ERROR" | "SOMETHING_IS_WRONG" => "ClickSend could not process the message",
        _ => return None,
    })
}

/// The records of a list answer and whether another page follows. `data` is either a
/// Laravel page object (records at `data.data[]`) or a bare array.
fn page_records(
    data: Value,
    requested_page: u32,
    what: &str,
) -> Result<(Vec<Value>, bool), ProviderError> {
    match data {
        Value::Null => Ok((Vec::new(), false)),
        Value::Array(items) => {
            // No paging information: a full page may have a successor.
            let full = items.len() >= PAGE_LIMIT as usize;
            Ok((items, full))
        }
        Value::Object(mut page) => {
            let items = match page.remove("data") {
                Some(Value::Array(items)) => items,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => {
                    return Err(ProviderError::Unreadable(format!(
                        "ClickSend's answer for {what} is not a list"
                    )));
                }
            };
            let current = page
                .get("current_page")
                .and_then(value_to_i64)
                .unwrap_or(i64::from(requested_page));
            let more = match page.get("last_page").and_then(value_to_i64) {
                Some(last) => current < last,
                None => page
                    .get("next_page_url")
                    .and_then(value_to_string)
                    .is_some(),
            };
            Ok((items, more))
        }
        _ => Err(ProviderError::Unreadable(format!(
            "ClickSend's answer for {what} is not a list"
        ))),
    }
}

/// A history entry that carries our reference.
fn sent_record(item: &Value) -> Option<SentRecord> {
    let inbound = item
        .get("direction")
        .and_then(value_to_string)
        .is_some_and(|d| d.eq_ignore_ascii_case("in"));
    if inbound {
        return None;
    }
    Some(SentRecord {
        reference: item.get("custom_string").and_then(value_to_string)?,
        provider_message_id: item.get("message_id").and_then(value_to_string)?,
        status: item
            .get("status")
            .and_then(value_to_string)
            .unwrap_or_default(),
    })
}

/// The page number a [`HistoryPage::next`] cursor stands for; `None` is the first page.
fn page_number(cursor: Option<&str>) -> Result<u32, ProviderError> {
    match cursor {
        None => Ok(1),
        Some(cursor) => cursor
            .trim()
            .parse::<u32>()
            .map(|page| page.max(1))
            .map_err(|_| ProviderError::Rejected {
                code: "invalid_cursor".to_owned(),
                reason: "a ClickSend history cursor is a page number".to_owned(),
            }),
    }
}

/// A history entry as a reply (`direction` `in`) or a delivery report (`out`); `None`
/// for an entry that cannot be read, which the page skips.
fn history_record(item: &Value) -> Option<HistoryRecord> {
    let direction = text(item, "direction")?.to_ascii_lowercase();
    match direction.as_str() {
        "in" => inbound_record(item).map(HistoryRecord::Inbound),
        "out" => {
            let message_id = text(item, "message_id")?;
            delivery_report(item, message_id).map(HistoryRecord::Outbound)
        }
        _ => None,
    }
}

/// An inbound history entry shaped as its webhook would carry it. Needs `message_id`
/// and `from`; the history names no original message.
fn inbound_record(item: &Value) -> Option<InboundSms> {
    Some(InboundSms {
        message_id: text(item, "message_id")?,
        from: text(item, "from")?,
        to: text(item, "to").unwrap_or_default(),
        // The text is kept exactly as sent, as the webhook keeps it.
        body: item
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        sent_at: item.get("date").and_then(unix_time),
        original_message_id: None,
    })
}

/// What a receipt record or an outbound history entry says about `message_id`, read as
/// [`crate::webhooks::clicksend::receipt`] reads a pushed receipt: the state from
/// `status_code`, else from the `status` word; the error text only for states other than
/// sent and delivered. `None` when neither status can be mapped.
fn delivery_report(record: &Value, message_id: String) -> Option<DeliveryReport> {
    let (state, raw_status) = match text(record, "status_code") {
        Some(code) => (state_from_code(&code).ok()?, code),
        None => {
            let word = text(record, "status")?;
            (history_state(&word)?, word)
        }
    };
    let failed = !matches!(state, ReportedState::Sent | ReportedState::Delivered);
    Some(DeliveryReport {
        message_id,
        reference: text(record, "custom_string"),
        state,
        raw_status,
        error_code: text(record, "error_code").filter(|code| code.parse::<i64>() != Ok(0)),
        // On success `status_text` reads "Success: Message received on handset.".
        error_text: failed
            .then(|| text(record, "error_text").or_else(|| text(record, "status_text")))
            .flatten()
            .map(|text| short(&text)),
    })
}

/// The state a history `status` word stands for: a receipt's words, plus `Completed`,
/// the history's word for a finished message (its status list has no `Delivered`).
fn history_state(word: &str) -> Option<ReportedState> {
    if word.eq_ignore_ascii_case("completed") {
        return Some(ReportedState::Delivered);
    }
    state_from_word(word).ok()
}

/// A Unix time as a number or a numeric string, tolerating the stray trailing comma one
/// ClickSend example shows (`"1721099039,"`).
fn unix_time(value: &Value) -> Option<i64> {
    value_to_i64(value).or_else(|| value_to_string(value)?.trim_end_matches(',').parse().ok())
}

/// A field as trimmed, non-empty text (numbers included).
fn text(record: &Value, key: &str) -> Option<String> {
    record.get(key).and_then(value_to_string)
}

/// The rule's id under the first of `keys` present (numbers or strings).
fn rule_id(rule: &Value, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| rule.get(key).and_then(value_to_string))
}

/// Same number, whatever the formatting (`+61 411…` vs `61411…`).
fn same_phone_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    digits(a) == digits(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn client() -> ClickSendClient {
        ClickSendClient::new(
            reqwest::Client::new(),
            "https://rest.clicksend.com/",
            "alice".into(),
            SecretString::from("ck-secret-key-123"),
            ClientOptions {
                timeout: Duration::from_secs(1),
            },
        )
    }

    #[test]
    fn debug_output_redacts_the_api_key() {
        let shown = format!("{:?}", client());
        assert!(!shown.contains("ck-secret-key-123"), "{shown}");
        assert!(shown.contains("[redacted]"));
        assert!(
            shown.contains("https://rest.clicksend.com\""),
            "trailing slash trimmed"
        );
    }

    #[test]
    fn page_objects_and_bare_arrays_both_page() {
        let page = json!({"current_page": 1, "last_page": "2", "data": [{"a": 1}]});
        let (items, more) = page_records(page, 1, "x").unwrap();
        assert_eq!((items.len(), more), (1, true));

        let last = json!({"current_page": 2, "last_page": 2, "data": []});
        assert_eq!(page_records(last, 2, "x").unwrap(), (vec![], false));

        let bare = json!([{"a": 1}, {"a": 2}]);
        assert!(!page_records(bare, 1, "x").unwrap().1);

        assert!(page_records(json!("{}"), 1, "x").is_err());
    }

    #[test]
    fn answers_without_custom_string_match_by_position() {
        let input = |r: &str| OutboundSms {
            reference: r.into(),
            to: "+61411111111".into(),
            from: "+61400000000".into(),
            body: "hi".into(),
            status_callback: None,
        };
        let answer = |id: &str, cs: Option<&str>| {
            Some(SentMessage {
                message_id: Some(id.into()),
                status: Some("SUCCESS".into()),
                message_parts: None,
                message_price: None,
                custom_string: cs.map(str::to_owned),
            })
        };
        let outcomes = match_outcomes(
            &[input("a"), input("b"), input("c")],
            &[answer("ID-B", Some("b")), answer("ID-POS1", None), None],
        );
        let ids: Vec<_> = outcomes
            .iter()
            .map(|o| match o {
                SendOutcome::Accepted {
                    provider_message_id,
                    ..
                } => provider_message_id.as_str(),
                _ => "-",
            })
            .collect();
        // "ID-POS1" sits at position 1, which "b" already holds by reference.
        assert_eq!(ids, ["-", "ID-B", "-"]);
    }
}
