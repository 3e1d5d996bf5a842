//! Twilio client against a wiremock Twilio: the exact requests it makes and how it
//! reads every kind of answer.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use nextal_providers::webhooks::{DeliveryReport, InboundSms, ReportedState};
use nextal_providers::{
    AccountSummary, ClientOptions, HistoryPage, HistoryRecord, OutboundSms, ProviderError,
    RegisteredWebhooks, SendOutcome, SmsProvider, TwilioClient, WebhookUrls,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_string, body_string_contains, header, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "tw-secret-token-456";
/// `Basic base64("AC0123…cdef:tw-secret-token-456")`, written out so the test checks it.
const AUTHORIZATION: &str =
    "Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1zZWNyZXQtdG9rZW4tNDU2";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
const FROM: &str = "+15005550001";
const TO: &str = "+15005550006";

fn twilio_at(server: &MockServer) -> TwilioClient {
    twilio_with_timeout(server, Duration::from_secs(5))
}

fn twilio_with_timeout(server: &MockServer, timeout: Duration) -> TwilioClient {
    TwilioClient::new(
        reqwest::Client::new(),
        &server.uri(),
        SID.to_owned(),
        SecretString::from(TOKEN),
        ClientOptions { timeout },
    )
}

fn sms(reference: &str, to: &str) -> OutboundSms {
    OutboundSms {
        reference: reference.to_owned(),
        to: to.to_owned(),
        from: FROM.to_owned(),
        body: "Hello there!".to_owned(),
        status_callback: None,
    }
}

fn message_resource(sid: &str, num_segments: &str, price: Value) -> Value {
    json!({
        "sid": sid,
        "account_sid": SID,
        "to": TO,
        "from": FROM,
        "body": "Hello there!",
        "status": "queued",
        "num_segments": num_segments,
        "num_media": "0",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "price": price,
        "price_unit": "USD",
        "error_code": null,
        "error_message": null,
        "date_created": "Fri, 31 Oct 2014 03:39:29 +0000",
        "uri": format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
    })
}

fn twilio_error(code: u32, message: &str, status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status
    }))
}

/// Answers every message post with `response`.
async fn answer_messages(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(response)
        .mount(server)
        .await;
}

async fn send_one(server: &MockServer) -> SendOutcome {
    let mut outcomes = twilio_at(server)
        .send(&[sms("msg-1", TO)])
        .await
        .expect("Twilio send never fails as a whole");
    assert_eq!(outcomes.len(), 1);
    outcomes.remove(0)
}

// ---------------------------------------------------------------- send

#[tokio::test]
async fn send_posts_the_form_with_basic_auth_and_idempotency_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(header("authorization", AUTHORIZATION))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("i-twilio-idempotency-token", "msg-1"))
        .and(body_string(
            "To=%2B15005550006&From=%2B15005550001&Body=Hello+there%21\
             &StatusCallback=https%3A%2F%2Fsms.example.com%2Fhooks%2Ftwilio%2Fstatus%3Fm%3Dmsg-1",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_resource(
            "SM00000000000000000000000000000001",
            "2",
            Value::Null,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let message = OutboundSms {
        status_callback: Some("https://sms.example.com/hooks/twilio/status?m=msg-1".into()),
        ..sms("msg-1", TO)
    };

    let outcomes = twilio_at(&server).send(&[message]).await.unwrap();

    assert_eq!(
        outcomes,
        [SendOutcome::Accepted {
            provider_message_id: "SM00000000000000000000000000000001".into(),
            parts: Some(2),
            price: None,
        }]
    );
}

#[tokio::test]
async fn send_without_status_callback_omits_it_and_keeps_twilios_price() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(body_string(
            "To=%2B15005550006&From=%2B15005550001&Body=Hello+there%21",
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_resource(
            "SM2",
            "0",
            json!("-0.00750"),
        )))
        .expect(1)
        .mount(&server)
        .await;

    let outcome = send_one(&server).await;

    assert_eq!(
        outcome,
        SendOutcome::Accepted {
            provider_message_id: "SM2".into(),
            // "0" means not counted yet.
            parts: None,
            price: Some("-0.00750".into()),
        }
    );
}

#[tokio::test]
async fn send_maps_invalid_and_unsubscribed_recipients_to_rejected_in_order() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(body_string_contains("To=123"))
        .respond_with(twilio_error(
            21211,
            "The 'To' number 123 is not a valid phone number.",
            400,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(body_string_contains("To=%2B15005550009"))
        .respond_with(twilio_error(
            21610,
            "Attempt to send to unsubscribed recipient",
            400,
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(body_string_contains("To=%2B15005550006"))
        .respond_with(ResponseTemplate::new(201).set_body_json(message_resource(
            "SM3",
            "1",
            Value::Null,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let outcomes = twilio_at(&server)
        .send(&[sms("a", "123"), sms("b", "+15005550009"), sms("c", TO)])
        .await
        .unwrap();

    assert_eq!(
        outcomes,
        [
            SendOutcome::Rejected {
                code: "21211".into(),
                reason: "The 'To' number 123 is not a valid phone number.".into(),
            },
            SendOutcome::Rejected {
                code: "21610".into(),
                reason: "Attempt to send to unsubscribed recipient".into(),
            },
            SendOutcome::Accepted {
                provider_message_id: "SM3".into(),
                parts: Some(1),
                price: None,
            },
        ]
    );
}

#[tokio::test]
async fn send_401_with_20003_fails_as_unauthorized() {
    let server = MockServer::start().await;
    answer_messages(&server, twilio_error(20003, "Authenticate", 401)).await;

    let outcome = send_one(&server).await;

    assert_eq!(
        outcome,
        SendOutcome::Failed(ProviderError::Unauthorized("Authenticate".into()))
    );
}

#[tokio::test]
async fn send_429_fails_as_rate_limited_with_retry_after() {
    let server = MockServer::start().await;
    answer_messages(
        &server,
        twilio_error(20429, "Too Many Requests", 429).insert_header("Retry-After", "7"),
    )
    .await;

    let outcome = send_one(&server).await;

    assert_eq!(
        outcome,
        SendOutcome::Failed(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        })
    );
}

#[tokio::test]
async fn send_500_fails_as_unavailable() {
    let server = MockServer::start().await;
    answer_messages(&server, ResponseTemplate::new(500).set_body_string("oops")).await;

    let outcome = send_one(&server).await;

    assert_eq!(
        outcome,
        SendOutcome::Failed(ProviderError::Unavailable(
            "Twilio answered HTTP 500".into()
        ))
    );
}

#[tokio::test]
async fn send_beyond_the_timeout_fails_as_unavailable() {
    let server = MockServer::start().await;
    answer_messages(
        &server,
        ResponseTemplate::new(201)
            .set_body_json(message_resource("SM4", "1", Value::Null))
            .set_delay(Duration::from_secs(2)),
    )
    .await;

    let outcomes = twilio_with_timeout(&server, Duration::from_millis(200))
        .send(&[sms("msg-1", TO)])
        .await
        .unwrap();

    assert!(
        matches!(
            outcomes[..],
            [SendOutcome::Failed(ProviderError::Unavailable(_))]
        ),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn send_a_4xx_without_a_twilio_code_fails_as_rejected_request() {
    let server = MockServer::start().await;
    answer_messages(
        &server,
        ResponseTemplate::new(404).set_body_string("not here"),
    )
    .await;

    let outcome = send_one(&server).await;

    assert_eq!(
        outcome,
        SendOutcome::Failed(ProviderError::Rejected {
            code: "404".into(),
            reason: "HTTP 404".into()
        })
    );
}

#[tokio::test]
async fn send_a_201_without_sid_fails_as_unreadable() {
    let server = MockServer::start().await;
    answer_messages(
        &server,
        ResponseTemplate::new(201).set_body_string("created"),
    )
    .await;

    let outcome = send_one(&server).await;

    assert!(
        matches!(outcome, SendOutcome::Failed(ProviderError::Unreadable(_))),
        "{outcome:?}"
    );
}

/// Answers each message with a sid derived from its `To`, after a delay that shrinks
/// along the batch, so answers arrive in a different order from the input.
struct EchoSid;

impl wiremock::Respond for EchoSid {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let to = form_field(request, "To");
        let index: u64 = to
            .trim_start_matches("+1500555")
            .parse()
            .expect("numbers made by the test");
        ResponseTemplate::new(201)
            .set_body_json(message_resource(&format!("SM-{to}"), "1", Value::Null))
            .set_delay(Duration::from_millis(160 - index * 10))
    }
}

/// One field of a form body (values here need only `%2B` decoded).
fn form_field(request: &Request, name: &str) -> String {
    let body = String::from_utf8_lossy(&request.body).into_owned();
    body.split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")).map(str::to_owned))
        .unwrap_or_default()
        .replace("%2B", "+")
}

#[tokio::test]
async fn send_keeps_input_order_across_concurrent_requests() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(EchoSid)
        .expect(16)
        .mount(&server)
        .await;
    let messages: Vec<_> = (0..16)
        .map(|i| sms(&format!("msg-{i}"), &format!("+1500555{i:04}")))
        .collect();

    let outcomes = twilio_at(&server).send(&messages).await.unwrap();

    let ids: Vec<_> = outcomes
        .iter()
        .map(|o| match o {
            SendOutcome::Accepted {
                provider_message_id,
                ..
            } => provider_message_id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected: Vec<_> = messages.iter().map(|m| format!("SM-{}", m.to)).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn send_of_nothing_makes_no_request() {
    let server = MockServer::start().await;
    answer_messages(&server, ResponseTemplate::new(500)).await;

    let outcomes = twilio_at(&server).send(&[]).await.unwrap();

    assert!(outcomes.is_empty());
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------- verify

async fn answer_account(server: &MockServer, status: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": SID,
            "friendly_name": "Example Clinic",
            "status": status,
            "type": "Full",
            "owner_account_sid": SID
        })))
        .expect(1)
        .mount(server)
        .await;
}

async fn answer_balance(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Balance.json")))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn verify_reads_the_friendly_name_and_balance() {
    let server = MockServer::start().await;
    answer_account(&server, "active").await;
    answer_balance(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({
            "account_sid": SID, "balance": "12.34", "currency": "USD"
        })),
    )
    .await;

    let account = twilio_at(&server).verify().await.unwrap();

    assert_eq!(
        account,
        AccountSummary {
            name: "Example Clinic".into(),
            balance: Some("12.34".into()),
            currency: Some("USD".into()),
        }
    );
}

#[tokio::test]
async fn verify_without_a_balance_still_succeeds() {
    let server = MockServer::start().await;
    answer_account(&server, "active").await;
    answer_balance(
        &server,
        twilio_error(20404, "The requested resource was not found", 404),
    )
    .await;

    let account = twilio_at(&server).verify().await.unwrap();

    assert_eq!(
        account,
        AccountSummary {
            name: "Example Clinic".into(),
            balance: None,
            currency: None,
        }
    );
}

#[tokio::test]
async fn verify_fails_when_the_balance_refuses_the_credentials() {
    let server = MockServer::start().await;
    answer_account(&server, "active").await;
    answer_balance(&server, twilio_error(20003, "Authenticate", 401)).await;

    let error = twilio_at(&server).verify().await.unwrap_err();

    assert_eq!(error, ProviderError::Unauthorized("Authenticate".into()));
}

#[tokio::test]
async fn verify_rejects_a_suspended_account() {
    let server = MockServer::start().await;
    answer_account(&server, "suspended").await;

    let error = twilio_at(&server).verify().await.unwrap_err();

    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "suspended".into(),
            reason: "the Twilio account is suspended".into()
        }
    );
}

#[tokio::test]
async fn verify_with_wrong_credentials_is_unauthorized() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{SID}.json")))
        .respond_with(twilio_error(20003, "Authenticate", 401))
        .mount(&server)
        .await;

    let error = twilio_at(&server).verify().await.unwrap_err();

    assert_eq!(error, ProviderError::Unauthorized("Authenticate".into()));
    assert!(!format!("{error:?}").contains(TOKEN));
}

// ---------------------------------------------------------------- register_webhooks

fn urls() -> WebhookUrls {
    WebhookUrls {
        inbound: "https://sms.example.com/hooks/twilio/inbound".into(),
        status: "https://sms.example.com/hooks/twilio/status".into(),
    }
}

/// Checks that the raw query carries the number with its `+` percent-encoded.
struct RawQueryIs(&'static str);

impl Match for RawQueryIs {
    fn matches(&self, request: &Request) -> bool {
        request.url.query() == Some(self.0)
    }
}

#[tokio::test]
async fn register_webhooks_points_the_numbers_sms_url_at_us() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
        )))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("PhoneNumber", TO))
        .and(RawQueryIs("PhoneNumber=%2B15005550006"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [
                {"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": TO,
                 "sms_url": "https://old.example.com", "sms_method": "POST"}
            ],
            "page": 0, "page_size": 50
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json"
        )))
        .and(header("authorization", AUTHORIZATION))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(
            "SmsUrl=https%3A%2F%2Fsms.example.com%2Fhooks%2Ftwilio%2Finbound&SmsMethod=POST",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "sid": "PN0123456789abcdef0123456789abcdef",
            "sms_url": "https://sms.example.com/hooks/twilio/inbound"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let registered = twilio_at(&server)
        .register_webhooks(TO, &urls())
        .await
        .unwrap();

    assert_eq!(
        registered,
        RegisteredWebhooks {
            inbound_id: "PN0123456789abcdef0123456789abcdef".into(),
            status_id: None,
        }
    );
}

#[tokio::test]
async fn register_webhooks_rejects_a_number_the_account_does_not_own() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"incoming_phone_numbers": []})),
        )
        .mount(&server)
        .await;

    let error = twilio_at(&server)
        .register_webhooks(TO, &urls())
        .await
        .unwrap_err();

    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "number_not_found".into(),
            reason: "+15005550006 is not a phone number of this Twilio account".into()
        }
    );
}

#[tokio::test]
async fn register_webhooks_maps_a_refused_update() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [{"sid": "PN1", "phone_number": TO}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/IncomingPhoneNumbers/PN1.json"
        )))
        .respond_with(twilio_error(21502, "Invalid callback url", 400))
        .mount(&server)
        .await;

    let error = twilio_at(&server)
        .register_webhooks(TO, &urls())
        .await
        .unwrap_err();

    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "21502".into(),
            reason: "Invalid callback url".into()
        }
    );
}

// ---------------------------------------------------------------- history

/// 2026-12-07T09:00:00.750Z: the filter is written to the second, rounded down.
fn since() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap() + chrono::TimeDelta::milliseconds(750)
}

/// A Message resource as the list returns it.
fn listed(sid: &str, direction: &str, status: &str) -> Value {
    json!({
        "sid": sid,
        "account_sid": SID,
        "from": FROM,
        "to": TO,
        "body": "Hello there!",
        "status": status,
        "direction": direction,
        "num_segments": "1",
        "error_code": null,
        "error_message": null,
        "date_sent": "Mon, 07 Dec 2026 09:00:05 +0000",
    })
}

fn report(sid: &str, state: ReportedState, raw_status: &str) -> DeliveryReport {
    DeliveryReport {
        message_id: sid.to_owned(),
        reference: None,
        state,
        raw_status: raw_status.to_owned(),
        error_code: None,
        error_text: None,
    }
}

#[tokio::test]
async fn history_asks_for_messages_sent_since_and_reads_both_directions() {
    let server = MockServer::start().await;
    let next = format!(
        "{MESSAGES_PATH}?DateSent%3E=2026-12-07T09%3A00%3A00Z&PageSize=100&Page=1&PageToken=PASM2"
    );
    let mut undelivered = listed("SM3", "outbound-reply", "undelivered");
    undelivered["error_code"] = json!(30003);
    undelivered["error_message"] = json!("Unreachable destination handset");
    let mut zero_code = listed("SM4", "outbound-call", "delivered");
    zero_code["error_code"] = json!("0");
    let mut no_from = listed("SM9", "inbound", "received");
    no_from["from"] = Value::Null;
    let mut no_sid = listed("", "outbound-api", "sent");
    no_sid["sid"] = Value::Null;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("DateSent>", "2026-12-07T09:00:00Z"))
        .and(query_param("PageSize", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [
                {
                    "sid": "SM1", "direction": "inbound", "status": "received",
                    "from": TO, "to": FROM, "body": " Yes ", "error_code": null
                },
                listed("SM2", "outbound-api", "delivered"),
                undelivered,
                zero_code,
                listed("SM5", "outbound-api", "queued"),
                listed("SM6", "outbound-api", "received"),
                listed("SM7", "outbound-api", "teleported"),
                listed("SM8", "trunking-originating", "delivered"),
                no_from,
                no_sid,
                "not a message"
            ],
            "next_page_uri": next,
            "page": 0,
            "page_size": 100,
            "uri": format!("{MESSAGES_PATH}?DateSent%3E=2026-12-07T09%3A00%3A00Z&PageSize=100&Page=0")
        })))
        .expect(1)
        .mount(&server)
        .await;

    let page = twilio_at(&server).history(since(), None).await.unwrap();

    assert_eq!(
        page,
        HistoryPage {
            records: vec![
                HistoryRecord::Inbound(InboundSms {
                    message_id: "SM1".into(),
                    from: TO.into(),
                    to: FROM.into(),
                    body: " Yes ".into(),
                    sent_at: None,
                    original_message_id: None,
                }),
                HistoryRecord::Outbound(report("SM2", ReportedState::Delivered, "delivered")),
                HistoryRecord::Outbound(DeliveryReport {
                    error_code: Some("30003".into()),
                    error_text: Some("Unreachable destination handset".into()),
                    ..report("SM3", ReportedState::Undelivered, "undelivered")
                }),
                HistoryRecord::Outbound(report("SM4", ReportedState::Delivered, "delivered")),
                HistoryRecord::Outbound(report("SM5", ReportedState::Sent, "queued")),
            ],
            next: Some(next),
        }
    );
}

#[tokio::test]
async fn history_follows_next_page_uri_as_it_is_until_it_is_null() {
    let server = MockServer::start().await;
    let next = format!(
        "{MESSAGES_PATH}?DateSent%3E=2026-12-07T09%3A00%3A00Z&PageSize=100&Page=1&PageToken=PASM2"
    );
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("PageToken", "PASM2"))
        .and(query_param("Page", "1"))
        .and(query_param("DateSent>", "2026-12-07T09:00:00Z"))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [listed("SM2", "outbound-api", "failed")],
            "next_page_uri": null
        })))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("PageSize", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": [listed("SM1", "outbound-api", "sent")],
            "next_page_uri": next
        })))
        .expect(1)
        .mount(&server)
        .await;

    let client = twilio_at(&server);
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..3 {
        let page = client.history(since(), cursor.as_deref()).await.unwrap();
        records.extend(page.records);
        cursor = page.next;
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(cursor, None);
    assert_eq!(
        records,
        [
            HistoryRecord::Outbound(report("SM1", ReportedState::Sent, "sent")),
            HistoryRecord::Outbound(report("SM2", ReportedState::Failed, "failed")),
        ]
    );
}

#[tokio::test]
async fn history_refuses_a_cursor_that_is_not_a_path() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;

    for cursor in [
        "https://attacker.example.com/2010-04-01/Messages.json",
        ".attacker.example.com/x",
    ] {
        let error = twilio_at(&server)
            .history(since(), Some(cursor))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Rejected { code, .. } if code == "invalid_cursor"),
            "{error:?}"
        );
    }
}

#[tokio::test]
async fn history_fails_on_errors_and_on_an_answer_without_a_message_list() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .and(query_param("PageToken", "broken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"page": 0})))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let client = twilio_at(&server);

    let error = client.history(since(), None).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    let error = client
        .history(since(), Some(&format!("{MESSAGES_PATH}?PageToken=broken")))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unreadable(_)), "{error:?}");
}

// ---------------------------------------------------------------- status_of

const MESSAGE_SID: &str = "SM00000000000000000000000000000001";

async fn answer_message(server: &MockServer, message_path: &str, response: ResponseTemplate) {
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{SID}/Messages/{message_path}"
        )))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn status_of_reads_the_message_status_and_error() {
    let server = MockServer::start().await;
    let mut message = listed(MESSAGE_SID, "outbound-api", "undelivered");
    message["error_code"] = json!(30005);
    message["error_message"] = json!("Unknown destination handset");
    answer_message(
        &server,
        &format!("{MESSAGE_SID}.json"),
        ResponseTemplate::new(200).set_body_json(message),
    )
    .await;

    let report = twilio_at(&server).status_of(MESSAGE_SID).await.unwrap();

    assert_eq!(
        report,
        Some(DeliveryReport {
            error_code: Some("30005".into()),
            error_text: Some("Unknown destination handset".into()),
            ..self::report(MESSAGE_SID, ReportedState::Undelivered, "undelivered")
        })
    );
}

#[tokio::test]
async fn status_of_reports_queued_and_unfamiliar_statuses_as_sent() {
    for raw in ["queued", "accepted", "sending", "teleported"] {
        let server = MockServer::start().await;
        answer_message(
            &server,
            &format!("{MESSAGE_SID}.json"),
            ResponseTemplate::new(200).set_body_json(listed(MESSAGE_SID, "outbound-api", raw)),
        )
        .await;

        let report = twilio_at(&server).status_of(MESSAGE_SID).await.unwrap();

        assert_eq!(
            report,
            Some(self::report(MESSAGE_SID, ReportedState::Sent, raw)),
            "{raw}"
        );
    }
}

#[tokio::test]
async fn status_of_encodes_the_sid() {
    let server = MockServer::start().await;
    answer_message(
        &server,
        "SM%2F..%2Fx%3F.json",
        ResponseTemplate::new(200).set_body_json(listed("SM/../x?", "outbound-api", "sent")),
    )
    .await;

    let report = twilio_at(&server).status_of("SM/../x?").await.unwrap();

    assert_eq!(report.map(|r| r.message_id), Some("SM/../x?".to_owned()));
}

#[tokio::test]
async fn status_of_an_unknown_sid_is_none() {
    let server = MockServer::start().await;
    answer_message(
        &server,
        &format!("{MESSAGE_SID}.json"),
        twilio_error(
            20404,
            "The requested resource /2010-04-01/Accounts/AC…/Messages/SM….json was not found",
            404,
        ),
    )
    .await;

    assert_eq!(
        twilio_at(&server).status_of(MESSAGE_SID).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn status_of_fails_on_5xx_and_refused_credentials() {
    let server = MockServer::start().await;
    answer_message(&server, "SM500.json", ResponseTemplate::new(500)).await;
    answer_message(
        &server,
        "SM401.json",
        twilio_error(20003, "Authenticate", 401),
    )
    .await;
    let client = twilio_at(&server);

    let error = client.status_of("SM500").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    let error = client.status_of("SM401").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error:?}");
}

#[test]
fn max_batch_is_a_hundred_and_debug_hides_the_token() {
    let client = TwilioClient::new(
        reqwest::Client::new(),
        "https://api.twilio.com",
        SID.into(),
        SecretString::from(TOKEN),
        ClientOptions::default(),
    );
    assert_eq!(client.max_batch(), 100);
    assert!(!format!("{client:?}").contains(TOKEN));
}
