//! A JSON body extractor that tells malformed JSON (400) from refused fields (422) and
//! names the refused field by its path.

use std::future::Future;
use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, mime};
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, DeserializeSeed};

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body of type `T`; types used with it set `deny_unknown_fields`.
///
/// Extraction itself never fails: actix-web runs a handler's extractors together, and a
/// body error must not answer before the caller is authenticated and authorized (a
/// recruiter gets 403, not a report on the body). The handler calls
/// [`ApiJson::into_inner`] once it has checked who is calling.
#[derive(Debug)]
pub struct ApiJson<T>(Result<T, ApiError>);

impl<T> ApiJson<T> {
    /// The body, or why it was refused (400, 413, 415 or 422).
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Exactly one Content-Type: with two, which one describes the body is a guess
        // (the first used to win, so `application/json` then `text/plain` was read).
        let mut content_types = request.headers().get_all(header::CONTENT_TYPE);
        let is_json = match (content_types.next(), content_types.next()) {
            (Some(value), None) => value
                .to_str()
                .ok()
                .and_then(|value| value.parse::<mime::Mime>().ok())
                .is_some_and(|mime| {
                    mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON)
                }),
            _ => false,
        };
        let limit = request
            .app_data::<Data<AppState>>()
            .map_or(PAYLOAD_DEFAULT_LIMIT, |state| state.max_body_bytes);
        let body = Bytes::from_request(request, payload);
        Box::pin(async move {
            if !is_json {
                return Ok(ApiJson(Err(ApiError::UnsupportedMediaType)));
            }
            Ok(ApiJson(match body.await {
                Ok(bytes) => parse(&bytes),
                Err(error) => Err(payload_error(error, limit)),
            }))
        })
    }
}

/// actix-web's own default body cap, in force when the app registers no state.
const PAYLOAD_DEFAULT_LIMIT: usize = 262_144;

fn payload_error(error: actix_web::Error, limit: usize) -> ApiError {
    match error.as_error::<PayloadError>() {
        Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
        _ => ApiError::Malformed("The request body could not be read.".to_owned()),
    }
}

/// Deserializes `bytes`: syntax errors are malformed (400), anything else is a refused
/// field (422) named by its path, or `body` for an escaped NUL character, which is valid
/// JSON that no field accepts.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    parse_seed(bytes, PhantomData::<T>)
}

/// [`parse`] for a body whose shape is known only at run time (a provider's panel,
/// whose field names its descriptor gives), read through `seed`.
pub fn parse_seed<T, S>(bytes: &[u8], seed: S) -> Result<T, ApiError>
where
    S: for<'de> DeserializeSeed<'de, Value = T>,
{
    if has_escaped_nul(bytes) {
        return Err(ApiError::invalid_field(
            "body",
            "contains a NUL character (\\u0000), which no field accepts",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(bytes);
    let mut track = serde_path_to_error::Track::new();
    let parsed = seed.deserialize(serde_path_to_error::Deserializer::new(
        deserializer,
        &mut track,
    ));
    parsed.map_err(|inner| {
        let error = serde_path_to_error::Error::new(track.path(), inner);
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                // The path of an unknown field already ends with its name; that of a
                // missing field stops at its parent.
                let field = match missing_field(&message) {
                    Some(name) if path == "." => name.to_owned(),
                    Some(name) => format!("{path}.{name}"),
                    None if path == "." => "body".to_owned(),
                    None => path,
                };
                ApiError::invalid_field(&field, message)
            }
            _ => ApiError::Malformed(format!(
                "The request body is not valid JSON: {}",
                strip_position(&inner.to_string())
            )),
        }
    })
}

/// Whether a JSON text holds the escape `\u0000` (a raw NUL is no JSON at all). No field
/// takes a NUL and PostgreSQL cannot store one: a sign-in, a template or an SMS body
/// with one reached the database and failed there with 500.
fn has_escaped_nul(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        let escape = &rest[at + 1..];
        if escape.starts_with(b"u0000") {
            return true;
        }
        // Skip the escaped character, so that `\\u0000` (a backslash, then text) does
        // not count.
        rest = escape.get(1..).unwrap_or_default();
    }
    false
}

/// serde_json appends " at line L column C"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The field a "missing field `x`" message names.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    fn field_of(error: ApiError) -> String {
        match error {
            ApiError::Validation(errors) => errors.0[0].field.clone(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_are_malformed() {
        assert!(matches!(
            parse::<Body>(b"{\"name\": "),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            parse::<Body>(b"not json"),
            Err(ApiError::Malformed(_))
        ));
    }

    #[test]
    fn an_escaped_nul_is_refused_wherever_it_is() {
        for body in [
            br#"{"name": "a\u0000b"}"#.as_slice(),
            br#"{"name\u0000": "a"}"#,
            br#"{"name": "a", "nested": {"count": "\u0000"}}"#,
            br#"{"name": "\\\u0000"}"#,
        ] {
            assert!(
                matches!(parse::<Body>(body), Err(ApiError::Validation(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // An escaped backslash followed by the text `u0000`, and other escapes, are text.
        assert!(parse::<Body>(br#"{"name": "a\\u0000 \u0041 \n"}"#).is_ok());
    }

    #[test]
    fn refused_fields_are_named_by_path() {
        assert_eq!(
            field_of(parse::<Body>(b"{\"name\":\"a\",\"extra\":1}").unwrap_err()),
            "extra"
        );
        assert_eq!(
            field_of(parse::<Body>(b"{\"name\":1}").unwrap_err()),
            "name"
        );
        assert_eq!(
            field_of(parse::<Body>(b"{\"name\":\"a\",\"nested\":{\"count\":-1}}").unwrap_err()),
            "nested.count"
        );
        assert_eq!(
            field_of(
                parse::<Body>(b"{\"name\":\"a\",\"nested\":{\"count\":1,\"x\":2}}").unwrap_err()
            ),
            "nested.x"
        );
        assert_eq!(field_of(parse::<Body>(b"{}").unwrap_err()), "name");
        assert_eq!(field_of(parse::<Body>(b"[]").unwrap_err()), "body");
    }
}
