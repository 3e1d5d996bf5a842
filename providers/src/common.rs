//! Pieces both clients share: transport-error mapping, `Retry-After`, lenient JSON
//! scalars and short, body-free error texts.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::{HistoryRecord, ProviderError};

/// Longest provider explanation we carry into an error or outcome.
const MAX_REASON_CHARS: usize = 200;

/// Maps a reqwest failure (no HTTP answer, or the body did not arrive) to `Unavailable`
/// with a short text. Only the kind of the reqwest error is logged.
pub(crate) fn transport_error(
    provider: &str,
    err: &reqwest::Error,
    timeout: Duration,
) -> ProviderError {
    let text = if err.is_timeout() {
        format!(
            "{provider} did not answer within {} ms",
            timeout.as_millis()
        )
    } else if err.is_connect() {
        format!("could not connect to {provider}")
    } else if err.is_body() || err.is_decode() {
        format!("the answer from {provider} was cut off")
    } else {
        format!("the request to {provider} failed")
    };
    tracing::warn!(provider, error = %DisplayWithoutUrl(err), "{text}");
    ProviderError::Unavailable(text)
}

/// A complete HTTP answer from a provider: status, `Retry-After` and the whole body.
pub(crate) struct RawAnswer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole answer; an `Err` (from [`transport_error`]) only
/// when no complete HTTP answer arrived. Logs the status and time taken, by path.
pub(crate) async fn send(
    provider: &'static str,
    request: RequestBuilder,
    timeout: Duration,
) -> Result<RawAnswer, ProviderError> {
    let started = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(provider, &e, timeout))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let path = response.url().path().to_owned();
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(provider, &e, timeout))?;
    tracing::debug!(
        provider,
        path,
        status = status.as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "provider answered"
    );
    Ok(RawAnswer {
        status,
        retry_after,
        body: body.into(),
    })
}

/// The history records read from a page's `entries`; an entry that is not one is
/// skipped with a warning (reconciliation goes on with the rest).
pub(crate) fn readable_records(
    provider: &'static str,
    entries: &[Value],
    read: impl Fn(&Value) -> Option<HistoryRecord>,
) -> Vec<HistoryRecord> {
    let records: Vec<HistoryRecord> = entries.iter().filter_map(read).collect();
    let skipped = entries.len() - records.len();
    if skipped > 0 {
        tracing::warn!(provider, skipped, "history entries skipped as unreadable");
    }
    records
}

/// Names the kind of a reqwest error without its URL, whose query can carry a phone
/// number.
struct DisplayWithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for DisplayWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.0.is_timeout() {
            "timeout"
        } else if self.0.is_connect() {
            "connect"
        } else if self.0.is_request() {
            "request"
        } else if self.0.is_body() {
            "body"
        } else if self.0.is_decode() {
            "decode"
        } else if self.0.is_builder() {
            "builder"
        } else {
            "other"
        };
        f.write_str(kind)
    }
}

/// The `Retry-After` header as a duration: delay-seconds, or an HTTP date (a date in the
/// past means "now").
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Keeps a provider explanation to one short line.
pub(crate) fn short(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    if trimmed.chars().count() <= MAX_REASON_CHARS {
        trimmed.to_owned()
    } else {
        let mut cut: String = trimmed.chars().take(MAX_REASON_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// An `Unreadable` error naming what could not be read, without serde's text (which
/// can quote values from the body).
pub(crate) fn unreadable(what: &str) -> ProviderError {
    ProviderError::Unreadable(what.to_owned())
}

/// A JSON scalar as text: non-empty strings (trimmed) and numbers; anything else `None`.
pub(crate) fn value_to_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_owned())
        }
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON scalar as an integer: integral numbers and numeric strings.
pub(crate) fn value_to_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                // The filter above keeps the value integral and in range.
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

/// serde `deserialize_with`: a string, a number or null as `Option<String>`; other
/// shapes become `None` instead of failing the whole answer.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(value_to_string))
}

/// serde `deserialize_with`: a number, a numeric string or null as `Option<i64>`.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(value_to_i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use serde_json::json;

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);

        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));

        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));

        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        let wait = retry_after(&headers).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn scalars_are_read_leniently() {
        assert_eq!(value_to_string(&json!("4.998000")), Some("4.998000".into()));
        assert_eq!(value_to_string(&json!(0.0792)), Some("0.0792".into()));
        assert_eq!(value_to_string(&json!("")), None);
        assert_eq!(value_to_string(&json!(null)), None);
        assert_eq!(value_to_i64(&json!("2")), Some(2));
        assert_eq!(value_to_i64(&json!(3)), Some(3));
        assert_eq!(value_to_i64(&json!(1.0)), Some(1));
        assert_eq!(value_to_i64(&json!("")), None);
        assert_eq!(value_to_i64(&json!("1.5")), None);
    }

    #[test]
    fn short_keeps_one_bounded_line() {
        assert_eq!(short(" Authorization\nfailed. "), "Authorization failed.");
        assert_eq!(
            short(&"x".repeat(500)).chars().count(),
            MAX_REASON_CHARS + 1
        );
    }
}
