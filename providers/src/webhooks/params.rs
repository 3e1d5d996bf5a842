//! A delivery's parameters as flat name/value pairs, whichever way they came: query
//! string, form body or JSON object.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::WebhookError;
use crate::common::short;

/// Where a delivery's parameters came from. Twilio signs a form body's pairs but not a
/// query string's (that is part of the signed URL) nor a JSON body (hashed instead), so
/// the caller needs this to pick the signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// The URL's query string (the body was empty): ClickSend `get` webhooks, Twilio GET.
    Query,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// An `application/json` body.
    Json,
}

/// A webhook's parameters as flat name/value pairs, in arrival order (names may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
    source: ParamSource,
    /// The names of a JSON body's members that were neither a string nor null (a
    /// number, a boolean, an array, an object): see [`Params::expect_text`].
    not_text: Vec<String>,
}

impl Params {
    /// Wraps pairs already parsed elsewhere (e.g. by a test or another framework).
    pub fn new(source: ParamSource, pairs: Vec<(String, String)>) -> Self {
        Self {
            pairs,
            source,
            not_text: Vec::new(),
        }
    }

    /// Reads a delivery. An empty body means the parameters are in the query string
    /// (ClickSend `get` webhooks, Twilio GET); a leading `?` on `query` is ignored. A
    /// non-empty body is read by its content type, and the query string is then left
    /// out (it may carry our own URL secret, which is no delivery field):
    /// - `application/x-www-form-urlencoded` (any parameters, case-insensitive): form
    ///   pairs; `+` is a space, and a `%` not followed by two hex digits is kept as is,
    ///   as browsers and the WHATWG URL standard do;
    /// - `application/json` or `application/…+json`: a JSON object whose scalar values
    ///   become pairs (strings as-is, numbers and booleans as text); `null`, arrays and
    ///   nested objects are skipped.
    ///
    /// Any other content type (or none) with a non-empty body, a body or decoded value
    /// that is not UTF-8, malformed JSON, or JSON that is not an object is
    /// [`WebhookError::Unreadable`]. A NUL in a decoded name or value becomes U+FFFD.
    pub fn read(
        content_type: Option<&str>,
        query: &str,
        body: &[u8],
    ) -> Result<Params, WebhookError> {
        if body.is_empty() {
            let query = query.strip_prefix('?').unwrap_or(query);
            let pairs = parse_form(query.as_bytes())
                .map_err(|()| unreadable("the query string is not UTF-8"))?;
            return Ok(Self::new(ParamSource::Query, without_nul(pairs)));
        }
        let Some(content_type) = content_type else {
            return Err(unreadable("a body without a content type"));
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        // Checked up front so that both readers fail the same way on bytes that are not
        // text at all.
        if std::str::from_utf8(body).is_err() {
            return Err(unreadable("the body is not UTF-8"));
        }
        if essence == "application/x-www-form-urlencoded" {
            let pairs = parse_form(body).map_err(|()| unreadable("a form value is not UTF-8"))?;
            Ok(Self::new(ParamSource::Form, without_nul(pairs)))
        } else if essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
        {
            let JsonPairs { pairs, not_text } = parse_json(body)?;
            Ok(Self {
                not_text,
                ..Self::new(ParamSource::Json, without_nul(pairs))
            })
        } else {
            Err(WebhookError::Unreadable(format!(
                "unsupported content type `{}`",
                short(&essence)
            )))
        }
    }

    /// The first value of `name` (exact, case-sensitive match).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, value)| value.as_str())
    }

    /// All pairs, in arrival order. For a [`ParamSource::Form`] delivery these are what
    /// [`super::verify_twilio_form`] takes.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Where the pairs came from.
    pub fn source(&self) -> ParamSource {
        self.source
    }

    /// [`WebhookError::Invalid`] naming the first of `names` that a JSON body gave as
    /// something other than a string or null: a payload documented with text there is
    /// malformed with a number, a boolean, an array or an object. Forms and query
    /// strings carry only text.
    pub fn expect_text(&self, names: &[&'static str]) -> Result<(), WebhookError> {
        match names
            .iter()
            .find(|name| self.not_text.iter().any(|other| other == *name))
        {
            Some(name) => Err(WebhookError::Invalid {
                field: name,
                reason: "must be a string".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// The pairs with every NUL (`%00`, `\u0000`) as U+FFFD. PostgreSQL cannot store a NUL:
/// kept, it failed the delivery in the database (503, delivered again and again); refused,
/// the reply would be lost for a character no SMS carries. A Twilio form signed over a
/// NUL no longer verifies, which Twilio, sending UTF-8 text, never signs.
fn without_nul(mut pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    for text in pairs.iter_mut().flat_map(|(name, value)| [name, value]) {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
    pairs
}

fn unreadable(why: &str) -> WebhookError {
    WebhookError::Unreadable(why.to_owned())
}

/// Splits `application/x-www-form-urlencoded` text into decoded pairs. Empty segments
/// (`a=1&&b=2`) are skipped and a segment without `=` is a name with an empty value, as
/// in the WHATWG parser. `Err` when a decoded name or value is not UTF-8: unlike
/// `form_urlencoded`, which would replace the bytes and change what Twilio signed.
pub(super) fn parse_form(input: &[u8]) -> Result<Vec<(String, String)>, ()> {
    input
        .split(|&b| b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|&b| b == b'=') {
                Some(at) => (&segment[..at], &segment[at + 1..]),
                None => (segment, &segment[segment.len()..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

fn decode_component(raw: &[u8]) -> Result<String, ()> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8(urlencoding::decode_binary(&spaced).into_owned()).map_err(|_| ())
}

/// Reads a JSON object's scalar members as pairs in document order (a `Value` map would
/// lose the order unless serde_json's `preserve_order` happened to be on).
fn parse_json(body: &[u8]) -> Result<JsonPairs, WebhookError> {
    match serde_json::from_slice::<JsonPairs>(body) {
        Ok(pairs) => Ok(pairs),
        // serde_json's own text can quote the body, so only its category is used: a
        // data error means well-formed JSON of the wrong shape.
        Err(err) if err.is_data() => Err(unreadable("the JSON body is not an object")),
        Err(_) => Err(unreadable("the JSON body is malformed")),
    }
}

/// A JSON object's string, number and boolean members as pairs, and the names of the
/// members that were not strings (or null).
struct JsonPairs {
    pairs: Vec<(String, String)>,
    not_text: Vec<String>,
}

impl<'de> Deserialize<'de> for JsonPairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(PairsVisitor)
    }
}

struct PairsVisitor;

impl<'de> Visitor<'de> for PairsVisitor {
    type Value = JsonPairs;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        let mut not_text = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            if !matches!(value, Value::String(_) | Value::Null) {
                not_text.push(name.clone());
            }
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => continue,
            };
            pairs.push((name, text));
        }
        Ok(JsonPairs { pairs, not_text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn an_empty_body_reads_the_query_string() {
        let params = Params::read(None, "?from=%2B61411111111&body=Yes+please&x", b"").unwrap();
        assert_eq!(params.source(), ParamSource::Query);
        assert_eq!(
            params.pairs(),
            pairs(&[("from", "+61411111111"), ("body", "Yes please"), ("x", "")])
        );
        // A content type announcing a body that did not come changes nothing.
        let params = Params::read(JSON, "a=1", b"").unwrap();
        assert_eq!(params.get("a"), Some("1"));
        assert!(Params::read(None, "", b"").unwrap().pairs().is_empty());
    }

    #[test]
    fn form_bodies_keep_order_and_repeats_and_skip_the_query() {
        let body = b"Digits=5678&Sid=CA123&Digits=1234&&Note=50%25+off%zz&Emoji=%F0%9F%98%80";
        for content_type in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        ] {
            let params = Params::read(Some(content_type), "secret=abc", body).unwrap();
            assert_eq!(params.source(), ParamSource::Form);
            assert_eq!(
                params.pairs(),
                pairs(&[
                    ("Digits", "5678"),
                    ("Sid", "CA123"),
                    ("Digits", "1234"),
                    ("Note", "50% off%zz"),
                    ("Emoji", "😀"),
                ])
            );
            assert_eq!(params.get("Digits"), Some("5678"));
            assert_eq!(params.get("digits"), None);
            assert_eq!(params.get("secret"), None);
        }
    }

    #[test]
    fn json_objects_become_scalar_pairs_in_document_order() {
        let body = br#"{"z": "last?", "timestamp": 1436174407, "price": 0.07, "ok": true,
            "gone": null, "nested": {"a": 1}, "list": [1, 2], "text": " spaced "}"#;
        for content_type in [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "application/vnd.clicksend+json",
        ] {
            let params = Params::read(Some(content_type), "", body).unwrap();
            assert_eq!(params.source(), ParamSource::Json);
            assert_eq!(
                params.pairs(),
                pairs(&[
                    ("z", "last?"),
                    ("timestamp", "1436174407"),
                    ("price", "0.07"),
                    ("ok", "true"),
                    ("text", " spaced "),
                ])
            );
        }
    }

    #[test]
    fn garbage_is_unreadable_without_echoing_the_body() {
        let secret = "+61411111111";
        let cases: Vec<(Option<&str>, Vec<u8>, &str)> = vec![
            (FORM, b"from=\xff\xfe".to_vec(), "the body is not UTF-8"),
            (JSON, b"\xff".to_vec(), "the body is not UTF-8"),
            (FORM, b"from=%FF".to_vec(), "a form value is not UTF-8"),
            (
                Some("text/plain"),
                secret.as_bytes().to_vec(),
                "unsupported content type `text/plain`",
            ),
            (
                None,
                secret.as_bytes().to_vec(),
                "a body without a content type",
            ),
            (
                JSON,
                format!(r#"["{secret}"]"#).into_bytes(),
                "the JSON body is not an object",
            ),
            (
                JSON,
                format!(r#""{secret}""#).into_bytes(),
                "the JSON body is not an object",
            ),
            (
                JSON,
                format!(r#"{{"from": "{secret}""#).into_bytes(),
                "the JSON body is malformed",
            ),
            (
                JSON,
                format!(r#"{{"from": "{secret}"}} trailing"#).into_bytes(),
                "the JSON body is malformed",
            ),
            (JSON, b"   ".to_vec(), "the JSON body is malformed"),
        ];
        for (content_type, body, why) in cases {
            let err = Params::read(content_type, "", &body).unwrap_err();
            assert_eq!(err, WebhookError::Unreadable(why.to_owned()));
            assert!(!err.to_string().contains(secret));
        }
        assert_eq!(
            Params::read(None, "from=%C3", b"").unwrap_err(),
            WebhookError::Unreadable("the query string is not UTF-8".to_owned())
        );
    }

    #[test]
    fn a_nul_anywhere_is_read_as_a_replacement_character() {
        let read = |content_type, query, body: &[u8]| {
            Params::read(content_type, query, body)
                .expect("readable")
                .pairs()
                .to_vec()
        };
        let pair = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
        assert_eq!(read(None, "body=a%00b", b""), pair("body", "a\u{FFFD}b"));
        assert_eq!(read(FORM, "", b"bo%00dy=a"), pair("bo\u{FFFD}dy", "a"));
        assert_eq!(read(FORM, "", b"body=a\0b"), pair("body", "a\u{FFFD}b"));
        assert_eq!(
            read(JSON, "", br#"{"body": "a\u0000b"}"#),
            pair("body", "a\u{FFFD}b")
        );
        // An escaped backslash before `u0000` is text.
        assert_eq!(
            read(JSON, "", br#"{"body": "\\u0000"}"#),
            pair("body", "\\u0000")
        );
    }
}
