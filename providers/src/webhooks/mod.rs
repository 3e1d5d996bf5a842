//! Webhook deliveries from ClickSend and Twilio, read without any I/O: the HTTP layer
//! hands over the content type, query string and raw body, gets back typed replies and
//! delivery reports, and checks Twilio's `X-Twilio-Signature` here.
//!
//! Deliveries carry candidates' numbers and message text, so no error in this module
//! quotes a value from the body: errors name the field and say what is wrong with it.
//!
//! Typical use for a Twilio status callback:
//!
//! ```
//! use nextal_providers::webhooks::{self, ParamSource, Params};
//!
//! # fn handle(url: &str, content_type: Option<&str>, query: &str, body: &[u8], signature: &str, token: &str)
//! #     -> Result<(), webhooks::WebhookError> {
//! let params = Params::read(content_type, query, body)?;
//! let trusted = match params.source() {
//!     ParamSource::Json => webhooks::verify_twilio_json(token, url, body, signature),
//!     // A form body is signed over its pairs; a GET (or an empty POST) has its
//!     // parameters in the URL, which is signed as it stands, so the form set is empty.
//!     ParamSource::Form => webhooks::verify_twilio_form(token, url, params.pairs(), signature),
//!     ParamSource::Query => webhooks::verify_twilio_form(token, url, &[], signature),
//! };
//! if trusted {
//!     let report = webhooks::twilio::status(&params)?;
//!     # let _ = report;
//! }
//! # Ok(())
//! # }
//! ```

pub mod clicksend;
mod params;
mod signature;
pub mod twilio;

pub use params::{ParamSource, Params};
pub use signature::{verify_twilio_form, verify_twilio_json};

/// Why a webhook delivery could not be used. Texts name fields and causes, never values
/// from the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The body could not be read at all: unsupported content type, not UTF-8, malformed
    /// form or JSON, or JSON that is not an object.
    #[error("unreadable webhook body: {0}")]
    Unreadable(String),
    /// A field the delivery needs is absent or empty.
    #[error("webhook field `{0}` is missing or empty")]
    Missing(&'static str),
    /// A field is present but unusable.
    #[error("webhook field `{field}` is invalid: {reason}")]
    Invalid {
        /// The field's name as the provider spells it.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
}

/// A reply from a candidate's phone.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundSms {
    /// The provider's id of the reply: ClickSend `message_id` (kept as given; compare it
    /// case-insensitively), Twilio `MessageSid` (or `SmsMessageSid`, `SmsSid`).
    pub message_id: String,
    /// The candidate's number as the provider sent it, trimmed (ClickSend `from` or
    /// `sms`; Twilio `From`).
    pub from: String,
    /// Our number that received the reply (ClickSend `to`, else `originalsenderid`;
    /// Twilio `To`). Can be empty for ClickSend when neither field came.
    pub to: String,
    /// The text as sent, untrimmed (ClickSend `body`, else `message`; Twilio `Body`).
    /// Empty when the reply had no text (e.g. an MMS with only a picture).
    pub body: String,
    /// When ClickSend says the reply was sent, Unix seconds (`timestamp`, else
    /// `timestamp_send`); `None` when absent or unreadable, and always for Twilio.
    pub sent_at: Option<i64>,
    /// ClickSend's id of our outbound message being replied to (`original_message_id` or
    /// legacy `originalmessageid`); `None` when absent or empty, and always for Twilio.
    pub original_message_id: Option<String>,
}

/// What a delivery receipt or status callback says about an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedState {
    /// Accepted by the provider or on its way (ClickSend 200; Twilio `queued`,
    /// `accepted`, `scheduled`, `sending`, `sent`).
    Sent,
    /// Reached the handset (ClickSend 201; Twilio `delivered`, `read` and
    /// `partially_delivered`: part of the text reached the candidate, so treating it as
    /// a failure would invite a resend of what they already have).
    Delivered,
    /// A temporary failure the provider is retrying itself (ClickSend 300). Changes no
    /// status.
    Retrying,
    /// Could not be delivered (ClickSend 301 or legacy `Failed`/`Undelivered`; Twilio
    /// `undelivered`).
    Undelivered,
    /// Failed before delivery (Twilio `failed`).
    Failed,
    /// Cancelled at the provider (Twilio `canceled`; ClickSend legacy `Cancelled`).
    Cancelled,
}

/// What a delivery receipt or status callback says about one outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryReport {
    /// The provider's id of the outbound message: ClickSend `message_id`, Twilio
    /// `MessageSid` (or `SmsSid`, `SmsMessageSid`).
    pub message_id: String,
    /// Our own message id, from ClickSend's `custom_string` (legacy `customstring`);
    /// `None` when empty, and always for Twilio.
    pub reference: Option<String>,
    /// The state reported.
    pub state: ReportedState,
    /// The status as received, trimmed: e.g. `"201"` or `"undelivered"`.
    pub raw_status: String,
    /// The provider's error code, when there is one (`0` and empty mean none).
    pub error_code: Option<String>,
    /// The provider's error explanation, kept to one short line: ClickSend `error_text`
    /// (else `status_text`) for states other than `Sent`/`Delivered`; Twilio
    /// `ErrorMessage`.
    pub error_text: Option<String>,
}

/// The first of `names` whose first value is non-empty once trimmed, trimmed.
fn first_present(params: &Params, names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        let value = params.get(name)?.trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Like [`first_present`], but absence is an error naming the first (preferred) field.
fn required(params: &Params, names: &[&'static str]) -> Result<String, WebhookError> {
    first_present(params, names).ok_or(WebhookError::Missing(names.first().copied().unwrap_or("?")))
}

/// An integer written as digits, possibly as an integral decimal (`"201.0"`) or with
/// ClickSend's stray trailing comma (`"1721099039,"`).
fn parse_integer(raw: &str) -> Option<i64> {
    let text = raw.trim().trim_end_matches(',').trim_end();
    text.parse::<i64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15)
            // The filter keeps the value integral and well inside i64.
            .map(|f| f as i64)
    })
}

/// An error code, unless it says "no error" (`0`, empty).
fn error_code(params: &Params, names: &[&str]) -> Option<String> {
    first_present(params, names).filter(|code| parse_integer(code) != Some(0))
}

/// A provider explanation as one short line, `None` when empty.
fn error_text(params: &Params, names: &[&str]) -> Option<String> {
    first_present(params, names)
        .map(|text| crate::common::short(&text))
        .filter(|text| !text.is_empty())
}

/// Describes an unrecognised status for an error reason. The value is quoted only when
/// it looks like a status word, so that a tampered field cannot smuggle body text or
/// personal data into logs.
fn unknown_status(raw: &str) -> String {
    let looks_like_status = !raw.is_empty()
        && raw.len() <= 32
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ');
    if looks_like_status {
        format!("unknown status `{raw}`")
    } else {
        "unknown status".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_read_leniently() {
        assert_eq!(parse_integer("1436174407"), Some(1_436_174_407));
        assert_eq!(parse_integer(" 1721099039, "), Some(1_721_099_039));
        assert_eq!(parse_integer("201.0"), Some(201));
        assert_eq!(parse_integer("1.5"), None);
        assert_eq!(parse_integer("soon"), None);
        assert_eq!(parse_integer(""), None);
        assert_eq!(parse_integer("NaN"), None);
    }

    #[test]
    fn unknown_statuses_are_quoted_only_when_harmless() {
        assert_eq!(unknown_status("new_status"), "unknown status `new_status`");
        assert_eq!(unknown_status("call me on +61 4"), "unknown status");
        assert_eq!(unknown_status(&"x".repeat(40)), "unknown status");
    }

    #[test]
    fn errors_name_fields_not_values() {
        assert_eq!(
            WebhookError::Missing("message_id").to_string(),
            "webhook field `message_id` is missing or empty"
        );
        let invalid = WebhookError::Invalid {
            field: "status_code",
            reason: "not a number".into(),
        };
        assert_eq!(
            invalid.to_string(),
            "webhook field `status_code` is invalid: not a number"
        );
    }
}
