//! Property tests of webhook reading: `Params::read` on query strings, form and JSON
//! bodies, the ClickSend and Twilio readers on top of it, and the `X-Twilio-Signature`
//! checks.
//!
//! Each property runs a small default number of cases so that the whole file stays
//! within seconds in a debug build. proptest's own knob sets every property's count
//! instead, for a longer hunt:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test -p nextal-providers --test properties
//! ```
//!
//! A failure prints the shrunk input; once fixed, keep it as a plain `#[test]` beside
//! the code it broke (failures are not saved to proptest-regressions files).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use nextal_providers::webhooks::{
    self, DeliveryReport, InboundSms, ParamSource, Params, ReportedState, WebhookError,
    verify_twilio_form, verify_twilio_json,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Number, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The cases of one property: `PROPTEST_CASES` when set, otherwise `default`.
fn config(default: u32) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        from_env.cases
    } else {
        default
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..from_env
    }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

// ---------------------------------------------------------------------------------------
// Arbitrary input
// ---------------------------------------------------------------------------------------

fn content_type() -> impl Strategy<Value = Option<String>> {
    let known = select(vec![
        FORM,
        "Application/X-WWW-Form-URLEncoded; charset=UTF-8",
        JSON,
        "application/json; charset=utf-8",
        "application/vnd.clicksend+json",
        "application/+json",
        "text/plain",
        "multipart/form-data; boundary=x",
        "",
        ";",
    ])
    .prop_map(str::to_owned);
    prop::option::of(prop_oneof![3 => known, 1 => any::<String>()])
}

/// Bytes that look like a form or a query string: names, `=`, `&`, `+`, percent
/// escapes (some of them not UTF-8 once decoded) and raw bytes that are not UTF-8.
fn form_like() -> impl Strategy<Value = Vec<u8>> {
    let piece = select(vec![
        "a",
        "from",
        "message_id",
        "MessageSid",
        "status_code",
        "=",
        "&",
        "+",
        "%",
        "%2",
        "%2B",
        "%20",
        "%C3",
        "%A9",
        "%C3%A9",
        "%FF",
        "%F0%9F%98%80",
        "%zz",
        "é",
        "\u{0}",
        "\u{FF}",
    ])
    .prop_map(|piece| piece.as_bytes().to_vec());
    let raw = prop::collection::vec(any::<u8>(), 1..3);
    prop::collection::vec(prop_oneof![6 => piece, 1 => raw], 0..30)
        .prop_map(|pieces| pieces.concat())
}

/// A JSON value of any shape, numbers kept to those that print back as they read (a
/// float's last digit may otherwise differ after a round trip through text).
fn json_value() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (any::<i32>(), 0u32..4).prop_map(|(n, shift)| {
            Number::from_f64(f64::from(n) / f64::from(1u32 << shift))
                .unwrap_or_else(|| Number::from(n))
        }),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number.prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// A JSON body: any value's text, or broken text.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|value| serde_json::to_vec(&value).unwrap_or_default()),
        json_value().prop_map(|value| {
            let mut text = serde_json::to_vec(&value).unwrap_or_default();
            text.truncate(text.len() / 2);
            text
        }),
        "[\\[\\]{}\":,0-9a-z \\\\]{0,40}".prop_map(String::into_bytes),
    ]
}

/// Runs every reader on `params`; none may panic, whatever it says.
fn read_all(params: &Params) {
    let _ = webhooks::clicksend::inbound(params);
    let _ = webhooks::clicksend::receipt(params);
    let _ = webhooks::twilio::inbound(params);
    let _ = webhooks::twilio::status(params);
}

proptest! {
    #![proptest_config(config(512))]

    /// Nothing a provider (or anyone else) sends makes reading panic, and what comes
    /// back is either pairs from the right source or an `Unreadable` error.
    #[test]
    fn reading_never_panics(
        content_type in content_type(),
        query in prop_oneof![any::<String>(), form_like().prop_map(|b| String::from_utf8_lossy(&b).into_owned())],
        body in prop_oneof![
            Just(Vec::new()),
            prop::collection::vec(any::<u8>(), 0..200),
            form_like(),
            json_like(),
        ],
    ) {
        match Params::read(content_type.as_deref(), &query, &body) {
            Ok(params) => {
                // The query string counts only when there is no body.
                prop_assert_eq!(params.source() == ParamSource::Query, body.is_empty());
                read_all(&params);
            }
            Err(error) => prop_assert!(matches!(error, WebhookError::Unreadable(_)), "{:?}", error),
        }
    }

    /// Percent escapes that decode to bytes which are not UTF-8 are refused rather
    /// than replaced: the pairs must be what Twilio signed.
    #[test]
    fn form_and_query_reading_never_panics(raw in form_like()) {
        let as_query = String::from_utf8_lossy(&raw);
        for read in [
            Params::read(Some(FORM), "", &raw),
            Params::read(None, &as_query, b""),
        ] {
            match read {
                Ok(params) => read_all(&params),
                Err(error) => prop_assert!(matches!(error, WebhookError::Unreadable(_))),
            }
        }
    }

    /// Any JSON value: an object becomes its scalar members in document order, with
    /// numbers and booleans as text and a NUL as U+FFFD; anything else is "not an
    /// object".
    #[test]
    fn a_json_value_reads_as_its_scalar_members(value in json_value()) {
        let body = serde_json::to_vec(&value).expect("a value serializes");
        let read = Params::read(Some(JSON), "ignored=1", &body);
        match &value {
            Value::Object(members) => {
                let params = read.expect("an object is readable");
                prop_assert_eq!(params.source(), ParamSource::Json);
                let expected = scalar_pairs(members);
                prop_assert_eq!(params.pairs(), expected.as_slice());
                read_all(&params);
            }
            _ => prop_assert_eq!(
                read,
                Err(WebhookError::Unreadable("the JSON body is not an object".to_owned()))
            ),
        }
    }
}

/// What `Params::read` makes of a JSON object, worked out from the value (NUL as U+FFFD).
fn scalar_pairs(members: &Map<String, Value>) -> Vec<(String, String)> {
    members
        .iter()
        .filter_map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => return None,
            };
            Some((
                name.replace('\0', "\u{FFFD}"),
                text.replace('\0', "\u{FFFD}"),
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Round trips: pairs encoded as a provider would, read back
// ---------------------------------------------------------------------------------------

/// Pairs as `application/x-www-form-urlencoded` writes them (`+` for space).
fn form_encoded(pairs: &[(String, String)]) -> String {
    serde_urlencoded::to_string(pairs).expect("string pairs encode")
}

/// Pairs percent-encoded throughout (`%20` for space), as URL builders write queries.
fn percent_encoded(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                urlencoding::encode(name),
                urlencoding::encode(value)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Pairs as a JSON object written member by member, so order and repeats survive.
fn json_object(pairs: &[(String, Value)]) -> Vec<u8> {
    let members: Vec<String> = pairs
        .iter()
        .map(|(name, value)| format!("{}:{}", Value::String(name.clone()), value))
        .collect();
    format!("{{{}}}", members.join(",")).into_bytes()
}

/// The three ways a delivery carrying `pairs` can arrive, read back.
fn delivered(pairs: &[(String, String)]) -> Vec<Params> {
    let json: Vec<(String, Value)> = pairs
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    vec![
        Params::read(Some(FORM), "token=ignored", form_encoded(pairs).as_bytes()),
        Params::read(None, &format!("?{}", percent_encoded(pairs)), b""),
        Params::read(Some(JSON), "", &json_object(&json)),
    ]
    .into_iter()
    .map(|read| read.expect("a well-formed delivery is readable"))
    .collect()
}

/// Any text but NUL, which no delivery may carry.
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|text| text.replace('\0', ""))
}

/// Text with something besides white space at both ends, so trimming leaves it as is.
fn trimmed_text() -> impl Strategy<Value = String> {
    "[^\\s\\x00]([^\\n\\x00]{0,30}[^\\s\\x00])?"
}

/// `trimmed_text` with white space around it, which the readers trim from ids and
/// numbers.
fn padded() -> impl Strategy<Value = (String, String)> {
    ("[ \t]{0,2}", trimmed_text(), "[ \t]{0,2}")
        .prop_map(|(before, text, after)| (text.clone(), format!("{before}{text}{after}")))
}

/// A provider explanation that is already one short line.
fn explanation() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9 ,.:'-]{0,60}[A-Za-z0-9.])?"
}

fn pair(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

proptest! {
    #![proptest_config(config(512))]

    /// Any pairs, form-encoded either way, come back exactly, in order, repeats kept.
    #[test]
    fn form_and_query_pairs_round_trip(
        pairs in prop::collection::vec((text(), text()), 1..8),
        question_mark in any::<bool>(),
    ) {
        let form = Params::read(Some(FORM), "secret=not-a-pair", form_encoded(&pairs).as_bytes())
            .expect("an encoded form is readable");
        prop_assert_eq!(form.source(), ParamSource::Form);
        prop_assert_eq!(form.pairs(), pairs.as_slice());

        let prefix = if question_mark { "?" } else { "" };
        for query in [form_encoded(&pairs), percent_encoded(&pairs)] {
            let read = Params::read(None, &format!("{prefix}{query}"), b"")
                .expect("an encoded query is readable");
            prop_assert_eq!(read.source(), ParamSource::Query);
            prop_assert_eq!(read.pairs(), pairs.as_slice());
        }
    }

    /// A NUL in any name or value, however it is escaped, is read as U+FFFD (no SMS
    /// carries one, and PostgreSQL cannot store one).
    #[test]
    fn a_nul_anywhere_is_read_as_a_replacement_character(
        pairs in prop::collection::vec((text(), text()), 1..6),
        at in any::<Index>(),
        in_name in any::<bool>(),
        offset in any::<Index>(),
    ) {
        let mut pairs = pairs;
        let pair = at.get_mut(&mut pairs);
        let field = if in_name { &mut pair.0 } else { &mut pair.1 };
        let chars: Vec<char> = field.chars().collect();
        let split = offset.index(chars.len() + 1);
        *field = chars[..split].iter().chain(['\0'].iter()).chain(chars[split..].iter()).collect();

        let json: Vec<(String, Value)> = pairs
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(name, value)| (name.replace('\0', "\u{FFFD}"), value.replace('\0', "\u{FFFD}")))
            .collect();
        for read in [
            Params::read(Some(FORM), "", form_encoded(&pairs).as_bytes()),
            Params::read(None, &percent_encoded(&pairs), b""),
            Params::read(Some(JSON), "", &json_object(&json)),
        ] {
            let params = read.expect("a NUL does not make a delivery unreadable");
            prop_assert_eq!(params.pairs(), expected.as_slice());
        }
    }

    /// JSON members come back in document order, repeats kept, scalars as text.
    #[test]
    fn json_members_round_trip(
        members in prop::collection::vec((text(), prop_oneof![
            text().prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
        ]), 0..8),
    ) {
        let params = Params::read(Some(JSON), "", &json_object(&members))
            .expect("an object is readable");
        let expected: Vec<(String, String)> = members
            .iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name.clone(), text.clone()),
                other => (name.clone(), other.to_string()),
            })
            .collect();
        prop_assert_eq!(params.pairs(), expected.as_slice());
    }

    /// A ClickSend reply built from arbitrary field values reads back as those values
    /// (ids and numbers trimmed, the text untouched), however it was sent.
    #[test]
    fn a_clicksend_reply_round_trips(
        (message_id, message_id_sent) in padded(),
        (from, from_sent) in padded(),
        to in prop::option::of(padded()),
        body in text(),
        timestamp in prop::option::of(any::<i64>()),
        original in prop::option::of(padded()),
    ) {
        let mut pairs = vec![pair("message_id", &message_id_sent), pair("from", &from_sent)];
        if let Some((_, sent)) = &to {
            pairs.push(pair("to", sent));
        }
        pairs.push(pair("body", &body));
        if let Some(timestamp) = timestamp {
            pairs.push(pair("timestamp", &timestamp.to_string()));
        }
        if let Some((_, sent)) = &original {
            pairs.push(pair("original_message_id", sent));
        }
        let expected = InboundSms {
            message_id,
            from,
            to: to.map(|(to, _)| to).unwrap_or_default(),
            body,
            sent_at: timestamp,
            original_message_id: original.map(|(id, _)| id),
        };
        for params in delivered(&pairs) {
            prop_assert_eq!(webhooks::clicksend::inbound(&params), Ok(expected.clone()));
        }
        // ClickSend's JSON sends the time as a number.
        let json: Vec<(String, Value)> = pairs
            .iter()
            .map(|(name, value)| match (name.as_str(), timestamp) {
                ("timestamp", Some(timestamp)) => (name.clone(), Value::from(timestamp)),
                _ => (name.clone(), Value::String(value.clone())),
            })
            .collect();
        let params = Params::read(Some(JSON), "", &json_object(&json)).expect("readable");
        prop_assert_eq!(webhooks::clicksend::inbound(&params), Ok(expected));
    }

    /// A ClickSend receipt: the code (number or numeric text) gives the state, the
    /// error code is kept unless 0, the explanation only for states that went wrong.
    #[test]
    fn a_clicksend_receipt_round_trips(
        (message_id, message_id_sent) in padded(),
        code in select(vec![
            (200, ReportedState::Sent),
            (201, ReportedState::Delivered),
            (300, ReportedState::Retrying),
            (301, ReportedState::Undelivered),
        ]),
        reference in prop::option::of(padded()),
        error_code in prop::option::of(0u32..100_000),
        error_text in prop::option::of(explanation()),
        code_as_number in any::<bool>(),
    ) {
        let (status_code, state) = code;
        let mut pairs = vec![
            pair("message_id", &message_id_sent),
            pair("status_code", &status_code.to_string()),
        ];
        if let Some((_, sent)) = &reference {
            pairs.push(pair("custom_string", sent));
        }
        if let Some(error_code) = error_code {
            pairs.push(pair("error_code", &error_code.to_string()));
        }
        if let Some(text) = &error_text {
            pairs.push(pair("error_text", text));
        }
        let went_wrong = !matches!(state, ReportedState::Sent | ReportedState::Delivered);
        let expected = DeliveryReport {
            message_id,
            reference: reference.map(|(reference, _)| reference),
            state,
            raw_status: status_code.to_string(),
            error_code: error_code.filter(|&code| code != 0).map(|code| code.to_string()),
            error_text: error_text.filter(|_| went_wrong),
        };
        for params in delivered(&pairs) {
            prop_assert_eq!(webhooks::clicksend::receipt(&params), Ok(expected.clone()));
        }
        if code_as_number {
            let json: Vec<(String, Value)> = pairs
                .iter()
                .map(|(name, value)| match name.as_str() {
                    "status_code" => (name.clone(), Value::from(status_code)),
                    _ => (name.clone(), Value::String(value.clone())),
                })
                .collect();
            let params = Params::read(Some(JSON), "", &json_object(&json)).expect("readable");
            prop_assert_eq!(webhooks::clicksend::receipt(&params), Ok(expected));
        }
    }

    /// A Twilio reply, under whichever of the three SID names it came.
    #[test]
    fn a_twilio_reply_round_trips(
        (sid, sid_sent) in padded(),
        sid_name in select(vec!["MessageSid", "SmsMessageSid", "SmsSid"]),
        (from, from_sent) in padded(),
        (to, to_sent) in padded(),
        body in prop::option::of(text()),
    ) {
        let mut pairs = vec![
            pair(sid_name, &sid_sent),
            pair("From", &from_sent),
            pair("To", &to_sent),
            pair("ApiVersion", "2010-04-01"),
        ];
        if let Some(body) = &body {
            pairs.push(pair("Body", body));
        }
        let expected = InboundSms {
            message_id: sid,
            from,
            to,
            body: body.unwrap_or_default(),
            sent_at: None,
            original_message_id: None,
        };
        for params in delivered(&pairs) {
            prop_assert_eq!(webhooks::twilio::inbound(&params), Ok(expected.clone()));
        }
    }

    /// A Twilio status callback: every status Twilio documents for an outbound
    /// message, in any letter case, maps to its state.
    #[test]
    fn a_twilio_status_round_trips(
        (sid, sid_sent) in padded(),
        status in select(vec![
            ("queued", ReportedState::Sent),
            ("accepted", ReportedState::Sent),
            ("scheduled", ReportedState::Sent),
            ("sending", ReportedState::Sent),
            ("sent", ReportedState::Sent),
            ("delivered", ReportedState::Delivered),
            ("read", ReportedState::Delivered),
            ("partially_delivered", ReportedState::Delivered),
            ("undelivered", ReportedState::Undelivered),
            ("failed", ReportedState::Failed),
            ("canceled", ReportedState::Cancelled),
        ]),
        upper in prop::collection::vec(any::<bool>(), 20),
        status_field in select(vec!["MessageStatus", "SmsStatus"]),
        error_code in prop::option::of(0u32..100_000),
        error_message in prop::option::of(explanation()),
    ) {
        let (word, state) = status;
        let raw_status: String = word
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
            .collect();
        let mut pairs = vec![pair("MessageSid", &sid_sent), pair(status_field, &raw_status)];
        if let Some(code) = error_code {
            pairs.push(pair("ErrorCode", &code.to_string()));
        }
        if let Some(text) = &error_message {
            pairs.push(pair("ErrorMessage", text));
        }
        let expected = DeliveryReport {
            message_id: sid,
            reference: None,
            state,
            raw_status,
            error_code: error_code.filter(|&code| code != 0).map(|code| code.to_string()),
            error_text: error_message,
        };
        for params in delivered(&pairs) {
            prop_assert_eq!(webhooks::twilio::status(&params), Ok(expected.clone()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// X-Twilio-Signature
// ---------------------------------------------------------------------------------------

/// The signature computed the way Twilio documents it, independently of the code under
/// test: HMAC-SHA1 over the URL, then each distinct pair in order as name + value.
fn twilio_signature(token: &str, url: &str, pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,80}"
}

fn url() -> impl Strategy<Value = String> {
    "https?://[a-z]{1,12}\\.example(:[0-9]{1,5})?(/[A-Za-z0-9_-]{1,10}){0,3}(\\?[A-Za-z0-9_=&%-]{0,30})?"
}

/// Form pairs with distinct, non-empty names, in any order. With distinct names,
/// changing, adding or removing a pair always changes the signed text; (Twilio's text
/// joins names and values without separators, so renaming `ab`=`c` to `a`=`bc` would
/// not, by design of the scheme).
fn signed_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::btree_map("[A-Za-z][A-Za-z0-9]{0,11}", any::<String>(), 1..8)
        .prop_map(|map| map.into_iter().collect::<Vec<_>>())
        .prop_shuffle()
}

/// `text` with the ASCII character at `at` replaced by another visible one.
fn substitute(text: &str, at: Index, with: u8) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let at = at.index(bytes.len());
    let mut replacement = with;
    if replacement == bytes[at] {
        replacement = if replacement == b'~' {
            b'!'
        } else {
            replacement + 1
        };
    }
    bytes[at] = replacement;
    String::from_utf8(bytes).expect("ASCII stays ASCII")
}

/// One change to a correctly signed form delivery.
#[derive(Debug, Clone)]
enum Tamper {
    Token(Index, u8),
    Url(Index, u8),
    Signature(Index, u8),
    Value(Index, String),
    Drop(Index),
    Add(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    let visible = 0x21u8..=0x7e;
    prop_oneof![
        (any::<Index>(), visible.clone()).prop_map(|(at, c)| Tamper::Token(at, c)),
        (any::<Index>(), visible.clone()).prop_map(|(at, c)| Tamper::Url(at, c)),
        (any::<Index>(), visible).prop_map(|(at, c)| Tamper::Signature(at, c)),
        (any::<Index>(), any::<String>()).prop_map(|(at, value)| Tamper::Value(at, value)),
        any::<Index>().prop_map(Tamper::Drop),
        any::<String>().prop_map(Tamper::Add),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    /// A form delivery verifies when signed as Twilio signs it, whatever the order or
    /// repetition of its pairs and with white space around the header value.
    #[test]
    fn a_correctly_signed_form_verifies(
        token in token(),
        url in url(),
        pairs in signed_pairs(),
        repeat in any::<Index>(),
        padding in "[ \t]{0,2}",
    ) {
        let signature = twilio_signature(&token, &url, &pairs);
        prop_assert!(verify_twilio_form(&token, &url, &pairs, &signature));
        let padded = format!("{padding}{signature}{padding}");
        prop_assert!(verify_twilio_form(&token, &url, &pairs, &padded));
        let mut repeated = pairs.clone();
        repeated.push(repeat.get(&pairs).clone());
        repeated.reverse();
        prop_assert!(verify_twilio_form(&token, &url, &repeated, &signature));
        // An empty token never verifies, even with the signature it would give.
        prop_assert!(!verify_twilio_form("", &url, &pairs, &twilio_signature("", &url, &pairs)));
    }

    /// Any single change to the token, the URL, the signature or the pairs is refused.
    #[test]
    fn a_tampered_form_is_refused(
        token in token(),
        url in url(),
        pairs in signed_pairs(),
        tamper in tamper(),
    ) {
        let signature = twilio_signature(&token, &url, &pairs);
        let (mut token, mut url, mut pairs, mut signature) = (token, url, pairs, signature);
        match tamper.clone() {
            Tamper::Token(at, c) => token = substitute(&token, at, c),
            Tamper::Url(at, c) => url = substitute(&url, at, c),
            Tamper::Signature(at, c) => signature = substitute(&signature, at, c),
            Tamper::Value(at, mut value) => {
                let at = at.index(pairs.len());
                if pairs[at].1 == value {
                    value.push('x');
                }
                pairs[at].1 = value;
            }
            Tamper::Drop(at) => {
                pairs.remove(at.index(pairs.len()));
            }
            Tamper::Add(value) => {
                // Longer than every name, so new to the set.
                let name = pairs.iter().map(|(name, _)| name.as_str()).collect::<String>() + "_";
                pairs.push((name, value));
            }
        }
        prop_assert!(!verify_twilio_form(&token, &url, &pairs, &signature), "{:?}", tamper);
    }

    /// Twilio may sign with or without the default port: either verifies the other.
    #[test]
    fn the_default_port_is_tolerated(
        token in token(),
        host in "[a-z]{1,12}\\.example",
        path in "(/[a-z0-9]{1,8}){0,2}(\\?[a-z0-9=&]{0,12})?",
        https in any::<bool>(),
        pairs in signed_pairs(),
    ) {
        let (scheme, port) = if https { ("https", 443) } else { ("http", 80) };
        let bare = format!("{scheme}://{host}{path}");
        let with_port = format!("{scheme}://{host}:{port}{path}");
        prop_assert!(verify_twilio_form(&token, &bare, &pairs, &twilio_signature(&token, &with_port, &pairs)));
        prop_assert!(verify_twilio_form(&token, &with_port, &pairs, &twilio_signature(&token, &bare, &pairs)));
    }

    /// A JSON delivery verifies when its URL carries the body's hash and is signed;
    /// a change to the body, the URL, the token or the signature is refused, and so is
    /// a URL without the hash.
    #[test]
    fn a_json_delivery_verifies_only_as_signed(
        token in token(),
        url in url(),
        body in prop_oneof![json_like(), prop::collection::vec(any::<u8>(), 0..100)],
        flip in (any::<Index>(), 1u8..=255),
        tamper in tamper(),
    ) {
        let hash: String = Sha256::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let separator = if url.contains('?') { '&' } else { '?' };
        let signed_url = format!("{url}{separator}bodySHA256={hash}");
        let signature = twilio_signature(&token, &signed_url, &[]);
        prop_assert!(verify_twilio_json(&token, &signed_url, &body, &signature));

        let mut changed = body.clone();
        if changed.is_empty() {
            changed.push(flip.1);
        } else {
            let at = flip.0.index(changed.len());
            changed[at] ^= flip.1;
        }
        prop_assert!(!verify_twilio_json(&token, &signed_url, &changed, &signature));
        prop_assert!(!verify_twilio_json(&token, &url, &body, &twilio_signature(&token, &url, &[])));
        match tamper {
            Tamper::Token(at, c) => prop_assert!(!verify_twilio_json(&substitute(&token, at, c), &signed_url, &body, &signature)),
            Tamper::Url(at, c) => prop_assert!(!verify_twilio_json(&token, &substitute(&signed_url, at, c), &body, &signature)),
            Tamper::Signature(at, c) => prop_assert!(!verify_twilio_json(&token, &signed_url, &body, &substitute(&signature, at, c))),
            Tamper::Value(..) | Tamper::Drop(_) | Tamper::Add(_) => {}
        }
    }

    /// The checks take whatever a request carries without panicking.
    #[test]
    fn verification_never_panics(
        token in any::<String>(),
        url in prop_oneof![any::<String>(), url(), "[a-z:/@\\[\\]?#&=.0-9]{0,40}"],
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
        signature in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let _ = verify_twilio_form(&token, &url, &pairs, &signature);
        let _ = verify_twilio_json(&token, &url, &body, &signature);
    }
}
