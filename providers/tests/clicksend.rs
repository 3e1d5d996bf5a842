//! ClickSend client against a wiremock ClickSend: the exact requests it makes and how it
//! reads every kind of answer.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};
use nextal_providers::webhooks::{DeliveryReport, InboundSms, ReportedState};
use nextal_providers::{
    AccountSummary, ClickSendClient, ClientOptions, HistoryPage, HistoryRecord, OutboundSms,
    ProviderError, RegisteredWebhooks, SendOutcome, SentRecord, SmsProvider, WebhookUrls,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

const USERNAME: &str = "alice";
const API_KEY: &str = "ck-secret-key-123";
/// `Basic base64("alice:ck-secret-key-123")`, written out so the test checks the encoding.
const AUTHORIZATION: &str = "Basic YWxpY2U6Y2stc2VjcmV0LWtleS0xMjM=";
const NUMBER: &str = "+61411111111";

fn clicksend_at(server: &MockServer) -> ClickSendClient {
    clicksend_with_timeout(server, Duration::from_secs(5))
}

fn clicksend_with_timeout(server: &MockServer, timeout: Duration) -> ClickSendClient {
    // A trailing slash on the base URL must not double up in paths.
    ClickSendClient::new(
        reqwest::Client::new(),
        &format!("{}/", server.uri()),
        USERNAME.to_owned(),
        SecretString::from(API_KEY),
        ClientOptions { timeout },
    )
}

fn sms(reference: &str, to: &str) -> OutboundSms {
    OutboundSms {
        reference: reference.to_owned(),
        to: to.to_owned(),
        from: "+61400000000".to_owned(),
        body: "Your appointment is tomorrow at 10:00".to_owned(),
        status_callback: None,
    }
}

fn sent_json(message: &OutboundSms) -> Value {
    json!({
        "to": message.to,
        "body": message.body,
        "from": message.from,
        "source": "nextal-sms",
        "custom_string": message.reference,
    })
}

fn urls() -> WebhookUrls {
    WebhookUrls {
        inbound: "https://sms.example.com/hooks/clicksend/s3cr3t/inbound".to_owned(),
        status: "https://sms.example.com/hooks/clicksend/s3cr3t/receipts".to_owned(),
    }
}

fn envelope(data: Value) -> Value {
    json!({"http_code": 200, "response_code": "SUCCESS", "response_msg": "Here you go.", "data": data})
}

/// Mounts one `POST /v3/sms/send` answer.
async fn answer_send(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(response)
        .expect(1)
        .mount(server)
        .await;
}

async fn send_error(server: &MockServer, response: ResponseTemplate) -> ProviderError {
    answer_send(server, response).await;
    clicksend_at(server)
        .send(&[sms("ref-1", NUMBER)])
        .await
        .expect_err("the whole request should fail")
}

// ---------------------------------------------------------------- send

#[tokio::test]
async fn send_posts_the_batch_as_json_with_basic_auth_and_reads_each_status() {
    let server = MockServer::start().await;
    let messages = [sms("ref-1", NUMBER), sms("ref-2", "+61400")];
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .and(header("authorization", AUTHORIZATION))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({
            "messages": [sent_json(&messages[0]), sent_json(&messages[1])]
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200,
            "response_code": "SUCCESS",
            "response_msg": "Messages queued for delivery.",
            "data": {
                "total_price": 0.0792,
                "total_count": 2,
                "queued_count": 1,
                "blocked_count": 0,
                "messages": [
                    {
                        "direction": "out",
                        "date": 1721099039,
                        "to": NUMBER,
                        "body": "Your appointment is tomorrow at 10:00",
                        "from": "+61400000000",
                        "schedule": 0,
                        "message_id": "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0",
                        "message_parts": 1,
                        "message_price": "0.0792",
                        "custom_string": "ref-1",
                        "user_id": 1,
                        "subaccount_id": 1,
                        "is_shared_system_number": false,
                        "country": "AU",
                        "carrier": "Telstra",
                        "status": "SUCCESS"
                    },
                    {
                        "to": "+61400",
                        "body": "Your appointment is tomorrow at 10:00",
                        "from": "+61400000000",
                        "schedule": "",
                        "message_id": "2DEF3200-C38C-6308-BE4B-C7C51D01DCF0",
                        "custom_string": "ref-2",
                        "is_shared_system_number": false,
                        "status": "INVALID_RECIPIENT"
                    }
                ],
                "_currency": {"currency_name_short": "AUD", "currency_prefix_d": "$"}
            }
        })))
        .expect(1)
        .mount(&server)
        .await;

    let outcomes = clicksend_at(&server).send(&messages).await.unwrap();

    assert_eq!(
        outcomes,
        [
            SendOutcome::Accepted {
                provider_message_id: "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0".into(),
                parts: Some(1),
                price: Some("0.0792".into()),
            },
            SendOutcome::Rejected {
                code: "INVALID_RECIPIENT".into(),
                reason: "the recipient number is not valid".into(),
            },
        ]
    );
}

#[tokio::test]
async fn send_reads_numbers_as_strings_and_matches_answers_by_custom_string() {
    let server = MockServer::start().await;
    let messages = [
        sms("ref-1", NUMBER),
        sms("ref-2", "+61422222222"),
        sms("ref-3", "+61433333333"),
    ];
    // Answers out of order, numbers as strings, a number where a string is usual, an
    // unknown status, and nothing at all for ref-2.
    answer_send(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({
            "http_code": "200",
            "response_code": "SUCCESS",
            "response_msg": "Messages queued for delivery.",
            "data": {
                "total_price": 0,
                "total_count": "3",
                "messages": [
                    {"custom_string": "ref-3", "status": "COUNTRY_NOT_ENABLED",
                     "message_id": "C3", "message_price": "0.0000", "message_parts": 0,
                     "schedule": "", "date": "1721099039,"},
                    {"custom_string": "ref-1", "status": "SUCCESS", "message_id": "A1",
                     "message_parts": "2", "message_price": 0.07, "schedule": "1715660441",
                     "date": "1721099039,", "user_id": "5", "list_id": null},
                    {"custom_string": "someone-else", "status": "SUCCESS", "message_id": "Z9"}
                ],
                "_currency": null
            }
        })),
    )
    .await;

    let outcomes = clicksend_at(&server).send(&messages).await.unwrap();

    assert_eq!(
        outcomes[0],
        SendOutcome::Accepted {
            provider_message_id: "A1".into(),
            parts: Some(2),
            price: Some("0.07".into()),
        }
    );
    assert!(
        matches!(
            &outcomes[1],
            SendOutcome::Failed(ProviderError::Unreadable(_))
        ),
        "{:?}",
        outcomes[1]
    );
    assert_eq!(
        outcomes[2],
        SendOutcome::Rejected {
            code: "COUNTRY_NOT_ENABLED".into(),
            reason: "sending to this country is not enabled on the ClickSend account".into(),
        }
    );
}

#[tokio::test]
async fn send_matches_by_position_when_custom_string_is_absent() {
    let server = MockServer::start().await;
    answer_send(
        &server,
        ResponseTemplate::new(200).set_body_json(envelope(json!({"messages": [
            {"status": "SUCCESS", "message_id": "FIRST", "custom_string": ""},
            {"status": "SOMETHING_NEW", "message_id": "SECOND"}
        ]}))),
    )
    .await;

    let outcomes = clicksend_at(&server)
        .send(&[sms("ref-1", NUMBER), sms("ref-2", NUMBER)])
        .await
        .unwrap();

    assert_eq!(
        outcomes,
        [
            SendOutcome::Accepted {
                provider_message_id: "FIRST".into(),
                parts: None,
                price: None,
            },
            // Unknown codes are kept as they came.
            SendOutcome::Rejected {
                code: "SOMETHING_NEW".into(),
                reason: "SOMETHING_NEW".into(),
            },
        ]
    );
}

#[tokio::test]
async fn send_401_is_unauthorized_with_clicksends_message() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(401).set_body_json(json!({
            "http_code": 401,
            "response_code": "UNAUTHORIZED",
            "response_msg": "Authorization failed.",
            "data": null
        })),
    )
    .await;

    assert_eq!(
        error,
        ProviderError::Unauthorized("Authorization failed.".into())
    );
}

#[tokio::test]
async fn a_401_without_a_body_is_unauthorized() {
    let server = MockServer::start().await;

    let error = send_error(&server, ResponseTemplate::new(401)).await;

    assert_eq!(error, ProviderError::Unauthorized("HTTP 401".into()));
}

#[tokio::test]
async fn a_200_whose_body_says_401_is_unauthorized() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 401,
            "response_code": "INVALID_CREDENTIALS",
            "response_msg": "Invalid credentials.",
            "data": null
        })),
    )
    .await;

    assert_eq!(
        error,
        ProviderError::Unauthorized("Invalid credentials.".into())
    );
}

#[tokio::test]
async fn send_429_is_rate_limited_with_retry_after() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "7")
            .set_body_json(json!({
                "http_code": 429,
                "response_code": "HTTP_TOO_MANY_REQUESTS",
                "response_msg": "Too many attempts.",
                "data": null
            })),
    )
    .await;

    assert_eq!(
        error,
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn send_429_without_retry_after_has_no_wait() {
    let server = MockServer::start().await;

    let error = send_error(&server, ResponseTemplate::new(429)).await;

    assert_eq!(error, ProviderError::RateLimited { retry_after: None });
}

#[tokio::test]
async fn send_500_is_unavailable_without_the_body() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(500)
            .set_body_string("<html>stack trace: db=prod password=hunter2</html>"),
    )
    .await;

    assert_eq!(
        error,
        ProviderError::Unavailable("ClickSend answered HTTP 500".into())
    );
    assert!(error.is_retryable());
}

#[tokio::test]
async fn send_beyond_the_timeout_is_unavailable() {
    let server = MockServer::start().await;
    answer_send(
        &server,
        ResponseTemplate::new(200)
            .set_body_json(envelope(json!({"messages": []})))
            .set_delay(Duration::from_secs(2)),
    )
    .await;
    let client = clicksend_with_timeout(&server, Duration::from_millis(200));

    let started = std::time::Instant::now();
    let error = client.send(&[sms("ref-1", NUMBER)]).await.unwrap_err();

    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    // A port that was free a moment ago; wiremock pools its servers, so dropping one
    // would not close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = ClickSendClient::new(
        reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}"),
        USERNAME.to_owned(),
        SecretString::from(API_KEY),
        ClientOptions::default(),
    );

    let error = client.send(&[sms("ref-1", NUMBER)]).await.unwrap_err();

    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn send_400_is_rejected_with_clicksends_code_and_message() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({
            "http_code": 400,
            "response_code": "BAD_REQUEST",
            "response_msg": "Invalid input.",
            "data": {"messages": "The messages field is required."}
        })),
    )
    .await;

    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "BAD_REQUEST".into(),
            reason: "Invalid input.".into()
        }
    );
}

#[tokio::test]
async fn a_4xx_without_an_envelope_is_rejected_with_the_status() {
    let server = MockServer::start().await;

    let error = send_error(&server, ResponseTemplate::new(404).set_body_string("nope")).await;

    assert_eq!(
        error,
        ProviderError::Rejected {
            code: "404".into(),
            reason: "HTTP 404".into()
        }
    );
}

#[tokio::test]
async fn an_undecodable_200_is_unreadable() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(200).set_body_string("<html>ok</html>"),
    )
    .await;

    assert!(matches!(error, ProviderError::Unreadable(_)), "{error:?}");
}

#[tokio::test]
async fn a_200_without_a_message_list_is_unreadable() {
    let server = MockServer::start().await;

    let error = send_error(
        &server,
        ResponseTemplate::new(200).set_body_json(envelope(json!("{}"))),
    )
    .await;

    assert!(matches!(error, ProviderError::Unreadable(_)), "{error:?}");
}

// ---------------------------------------------------------------- verify

fn account_body() -> Value {
    envelope(json!({
        "user_id": 1,
        "username": "alice",
        "user_email": "alice@example.com",
        "balance": "4.998000",
        "account_name": "Example Clinic",
        "active": 1,
        "banned": 0,
        "_currency": {"currency_name_short": "AUD", "currency_prefix_d": "$"},
        "_subaccount": {"subaccount_id": 1, "api_username": "alice", "api_key": "SUBACCOUNT-KEY-999"}
    }))
}

#[tokio::test]
async fn verify_reads_account_name_balance_and_currency() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(account_body()))
        .expect(1)
        .mount(&server)
        .await;

    let account = clicksend_at(&server).verify().await.unwrap();

    assert_eq!(
        account,
        AccountSummary {
            name: "Example Clinic".into(),
            balance: Some("4.998000".into()),
            currency: Some("AUD".into()),
        }
    );
}

#[tokio::test]
async fn verify_falls_back_to_username_and_reads_a_numeric_balance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "username": "alice-api",
            "account_name": "",
            "balance": 12.5,
        }))))
        .mount(&server)
        .await;

    let account = clicksend_at(&server).verify().await.unwrap();

    assert_eq!(
        account,
        AccountSummary {
            name: "alice-api".into(),
            balance: Some("12.5".into()),
            currency: None,
        }
    );
}

#[tokio::test]
async fn verify_errors_never_carry_the_account_body_or_the_keys() {
    // Bodies that contain the sub-account API key, answered in ways that fail.
    let mut truncated = account_body().to_string();
    truncated.truncate(truncated.len() - 20);
    let mut refused = account_body();
    refused["http_code"] = json!(403);
    refused["response_code"] = json!("FORBIDDEN");
    refused["response_msg"] = json!("Forbidden.");
    let answers = [
        ResponseTemplate::new(200).set_body_string(truncated.clone()),
        ResponseTemplate::new(500).set_body_json(account_body()),
        ResponseTemplate::new(403).set_body_json(refused.clone()),
        ResponseTemplate::new(200).set_body_json(refused),
        ResponseTemplate::new(401).set_body_string(truncated),
    ];

    for answer in answers {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/v3/account"))
            .respond_with(answer)
            .mount(&server)
            .await;

        let error = clicksend_at(&server).verify().await.unwrap_err();

        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains("SUBACCOUNT-KEY-999"), "{shown}");
            assert!(!shown.contains(API_KEY), "{shown}");
            assert!(!shown.contains("alice@example.com"), "{shown}");
        }
    }
}

// ---------------------------------------------------------------- register_webhooks

fn inbound_rule_body() -> Value {
    json!({
        "dedicated_number": NUMBER,
        "rule_name": "Nextal SMS replies",
        "message_search_type": 0,
        "message_search_term": "",
        "action": "URL",
        "action_address": urls().inbound,
        "webhook_type": "json",
        "enabled": 1
    })
}

fn receipt_rule_body() -> Value {
    json!({
        "rule_name": "Nextal SMS delivery receipts",
        "match_type": 0,
        "action": "URL",
        "action_address": urls().status,
        "enabled": 1
    })
}

async fn list_rules(server: &MockServer, rules_path: &str, page: u32, data: Value) {
    Mock::given(method("GET"))
        .and(path(rules_path))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("page", page.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(data)))
        .expect(1)
        .mount(server)
        .await;
}

async fn expect_no(server: &MockServer, verb: &str) {
    Mock::given(method(verb))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named(format!("no {verb}"))
        .mount(server)
        .await;
}

#[tokio::test]
async fn register_webhooks_creates_both_rules_when_absent() {
    let server = MockServer::start().await;
    list_rules(
        &server,
        "/v3/automations/sms/inbound",
        1,
        json!({"total": 1, "per_page": 100, "current_page": 1, "last_page": 1, "data": [
            {"sms_inbound_rule_id": 5, "rule_name": "Forward to email", "dedicated_number": NUMBER}
        ]}),
    )
    .await;
    list_rules(&server, "/v3/automations/sms/receipts", 1, json!([])).await;
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/inbound"))
        .and(header("authorization", AUTHORIZATION))
        .and(body_json(inbound_rule_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "inbound_rule_id": 123, "rule_name": "Nextal SMS replies"
        }))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/receipts"))
        .and(header("authorization", AUTHORIZATION))
        .and(body_json(receipt_rule_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "receipt_rule_id": "456", "rule_name": "Nextal SMS delivery receipts"
        }))))
        .expect(1)
        .mount(&server)
        .await;
    expect_no(&server, "PUT").await;

    let registered = clicksend_at(&server)
        .register_webhooks(NUMBER, &urls())
        .await
        .unwrap();

    assert_eq!(
        registered,
        RegisteredWebhooks {
            inbound_id: "123".into(),
            status_id: Some("456".into()),
        }
    );
}

#[tokio::test]
async fn register_webhooks_updates_our_existing_rules_with_put() {
    let server = MockServer::start().await;
    // Our inbound rule sits on the second page, under the list's id key.
    list_rules(
        &server,
        "/v3/automations/sms/inbound",
        1,
        json!({"current_page": 1, "last_page": 2, "data": [
            {"sms_inbound_rule_id": 5, "rule_name": "Forward to email"}
        ]}),
    )
    .await;
    list_rules(
        &server,
        "/v3/automations/sms/inbound",
        2,
        json!({"current_page": 2, "last_page": 2, "data": [
            {"sms_inbound_rule_id": "77", "rule_name": "Nextal SMS replies",
             "dedicated_number": NUMBER, "action": "URL", "action_address": "https://old.example.com"}
        ]}),
    )
    .await;
    list_rules(
        &server,
        "/v3/automations/sms/receipts",
        1,
        json!({"current_page": 1, "last_page": 1, "data": [
            {"receipt_rule_id": 88, "rule_name": "Nextal SMS delivery receipts"}
        ]}),
    )
    .await;
    Mock::given(method("PUT"))
        .and(path("/v3/automations/sms/inbound/77"))
        .and(header("authorization", AUTHORIZATION))
        .and(body_json(inbound_rule_body()))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "inbound_rule_id": 77
        }))))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v3/automations/sms/receipts/88"))
        .and(body_json(receipt_rule_body()))
        // An answer without the id still names the rule we updated.
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(Value::Null)))
        .expect(1)
        .mount(&server)
        .await;
    expect_no(&server, "POST").await;

    let registered = clicksend_at(&server)
        .register_webhooks(NUMBER, &urls())
        .await
        .unwrap();

    assert_eq!(
        registered,
        RegisteredWebhooks {
            inbound_id: "77".into(),
            status_id: Some("88".into()),
        }
    );
}

#[tokio::test]
async fn register_webhooks_leaves_our_rule_for_another_number_alone() {
    let server = MockServer::start().await;
    list_rules(
        &server,
        "/v3/automations/sms/inbound",
        1,
        json!({"current_page": 1, "last_page": 1, "data": [
            {"inbound_rule_id": 70, "rule_name": "Nextal SMS replies", "dedicated_number": "+61499999999"}
        ]}),
    )
    .await;
    list_rules(
        &server,
        "/v3/automations/sms/receipts",
        1,
        json!({"data": [{"receipt_rule_id": 88, "rule_name": "Nextal SMS delivery receipts"}]}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/inbound"))
        .and(body_json(inbound_rule_body()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(envelope(json!({"inbound_rule_id": 71}))),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/v3/automations/sms/receipts/88"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(envelope(json!({"receipt_rule_id": 88}))),
        )
        .expect(1)
        .mount(&server)
        .await;

    let registered = clicksend_at(&server)
        .register_webhooks(NUMBER, &urls())
        .await
        .unwrap();

    assert_eq!(registered.inbound_id, "71");
    assert_eq!(registered.status_id.as_deref(), Some("88"));
}

#[tokio::test]
async fn register_webhooks_fails_when_the_created_rule_has_no_id() {
    let server = MockServer::start().await;
    list_rules(
        &server,
        "/v3/automations/sms/inbound",
        1,
        json!({"data": []}),
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/inbound"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({}))))
        .mount(&server)
        .await;

    let error = clicksend_at(&server)
        .register_webhooks(NUMBER, &urls())
        .await
        .unwrap_err();

    assert!(matches!(error, ProviderError::Unreadable(_)), "{error:?}");
}

// ---------------------------------------------------------------- sent_history

/// Matches `date_to` within a minute of now, so the test does not race the clock.
struct DateToIsNow;

impl Match for DateToIsNow {
    fn matches(&self, request: &Request) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        request
            .url
            .query_pairs()
            .find(|(k, _)| k == "date_to")
            .and_then(|(_, v)| v.parse::<i64>().ok())
            .is_some_and(|to| (now - to).abs() <= 60)
    }
}

#[tokio::test]
async fn sent_history_reads_a_page_object_and_keeps_referenced_messages() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("date_from", "1700000000"))
        .and(query_param("page", "2"))
        .and(query_param("limit", "100"))
        .and(DateToIsNow)
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "total": 250, "per_page": 100, "current_page": "2", "last_page": 3,
            "next_page_url": "https://rest.clicksend.com/v3/sms/history?page=3",
            "data": [
                {"direction": "out", "message_id": "AAA-1", "custom_string": "ref-1",
                 "status": "Completed", "status_code": "201", "schedule": "1715660441"},
                {"direction": "out", "message_id": "AAA-2", "custom_string": "", "status": "Sent"},
                {"direction": "out", "message_id": "AAA-3", "custom_string": null, "status": "Sent"},
                {"direction": "in", "message_id": "AAA-4", "custom_string": "ref-x", "status": "Received"},
                {"direction": "out", "message_id": "AAA-5", "custom_string": "ref-5", "status": "Failed"}
            ]
        }))))
        .expect(1)
        .mount(&server)
        .await;

    let (records, more) = clicksend_at(&server)
        .sent_history(1_700_000_000, 2)
        .await
        .unwrap();

    assert_eq!(
        records,
        [
            SentRecord {
                reference: "ref-1".into(),
                provider_message_id: "AAA-1".into(),
                status: "Completed".into(),
            },
            SentRecord {
                reference: "ref-5".into(),
                provider_message_id: "AAA-5".into(),
                status: "Failed".into(),
            },
        ]
    );
    assert!(more);
}

#[tokio::test]
async fn sent_history_reads_a_bare_array() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": 200,
            "response_code": "SUCCESS",
            "response_msg": "Here are your data.",
            "data": [{"message_id": "BBB-1", "custom_string": "ref-9", "status": "Queued"}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let (records, more) = clicksend_at(&server)
        .sent_history(1_700_000_000, 1)
        .await
        .unwrap();

    assert_eq!(
        records,
        [SentRecord {
            reference: "ref-9".into(),
            provider_message_id: "BBB-1".into(),
            status: "Queued".into(),
        }]
    );
    assert!(!more);
}

#[tokio::test]
async fn sent_history_maps_errors_like_every_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;

    let error = clicksend_at(&server).sent_history(0, 1).await.unwrap_err();

    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
}

// ---------------------------------------------------------------- history

/// 2023-11-14T22:13:20Z, with a fraction that the Unix-seconds query drops.
fn since() -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000, 250_000_000).unwrap()
}

fn delivered(message_id: &str, reference: Option<&str>, raw_status: &str) -> HistoryRecord {
    HistoryRecord::Outbound(DeliveryReport {
        message_id: message_id.to_owned(),
        reference: reference.map(str::to_owned),
        state: ReportedState::Delivered,
        raw_status: raw_status.to_owned(),
        error_code: None,
        error_text: None,
    })
}

#[tokio::test]
async fn history_reads_both_directions_leniently_and_skips_unreadable_entries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("date_from", "1700000000"))
        .and(query_param("page", "1"))
        .and(query_param("limit", "100"))
        .and(DateToIsNow)
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "total": "150", "per_page": "100", "current_page": "1", "last_page": "2",
            "data": [
                {"direction": "in", "date": "1700000100", "to": "+61400000000",
                 "from": NUMBER, "body": " Yes, see you then ", "status": "Received",
                 "message_id": "IN-1", "custom_string": "", "status_code": null},
                {"direction": "out", "date": 1700000050, "message_id": "OUT-1",
                 "custom_string": "ref-1", "status": "Completed", "status_code": "201",
                 "status_text": "Success: Message received on handset.",
                 "error_code": "", "error_text": null},
                {"direction": "OUT", "message_id": "OUT-2", "custom_string": "",
                 "status": "Completed"},
                {"direction": "out", "message_id": "OUT-3", "custom_string": "ref-3",
                 "status": "Failed", "status_code": 301, "status_text": "Failed",
                 "error_code": "7", "error_text": "Unknown subscriber"},
                {"direction": "out", "message_id": "OUT-4", "custom_string": "ref-4",
                 "status": "Sent", "error_code": 0},
                {"direction": "out", "message_id": "OUT-5", "status": "CancelledAfterReview"},
                {"direction": "out", "message_id": "BAD-CODE", "status_code": "202",
                 "status": "Completed"},
                {"direction": "out", "message_id": "BAD-WORD", "status": "Teleported"},
                {"direction": "out", "custom_string": "ref-x", "status_code": "201"},
                {"direction": "in", "message_id": "IN-NO-FROM", "body": "hi"},
                {"message_id": "NO-DIRECTION", "status_code": "201"},
                "not an entry",
                {"direction": "in", "date": "1700000200,", "from": "+61422222222",
                 "message_id": "IN-2", "body": 42}
            ]
        }))))
        .expect(1)
        .mount(&server)
        .await;

    let page = clicksend_at(&server).history(since(), None).await.unwrap();

    assert_eq!(
        page,
        HistoryPage {
            records: vec![
                HistoryRecord::Inbound(InboundSms {
                    message_id: "IN-1".into(),
                    from: NUMBER.into(),
                    to: "+61400000000".into(),
                    body: " Yes, see you then ".into(),
                    sent_at: Some(1_700_000_100),
                    original_message_id: None,
                }),
                delivered("OUT-1", Some("ref-1"), "201"),
                delivered("OUT-2", None, "Completed"),
                HistoryRecord::Outbound(DeliveryReport {
                    message_id: "OUT-3".into(),
                    reference: Some("ref-3".into()),
                    state: ReportedState::Undelivered,
                    raw_status: "301".into(),
                    error_code: Some("7".into()),
                    error_text: Some("Unknown subscriber".into()),
                }),
                HistoryRecord::Outbound(DeliveryReport {
                    message_id: "OUT-4".into(),
                    reference: Some("ref-4".into()),
                    state: ReportedState::Sent,
                    raw_status: "Sent".into(),
                    error_code: None,
                    error_text: None,
                }),
                HistoryRecord::Outbound(DeliveryReport {
                    message_id: "OUT-5".into(),
                    reference: None,
                    state: ReportedState::Cancelled,
                    raw_status: "CancelledAfterReview".into(),
                    error_code: None,
                    error_text: None,
                }),
                HistoryRecord::Inbound(InboundSms {
                    message_id: "IN-2".into(),
                    from: "+61422222222".into(),
                    to: String::new(),
                    body: String::new(),
                    sent_at: Some(1_700_000_200),
                    original_message_id: None,
                }),
            ],
            next: Some("2".into()),
        }
    );
}

#[tokio::test]
async fn history_walks_pages_by_number_until_a_short_bare_array() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "current_page": 1, "last_page": 2,
            "next_page_url": "https://rest.clicksend.com/v3/sms/history?page=2",
            "data": [{"direction": "out", "message_id": "P1", "status_code": 201}]
        }))))
        .expect(1)
        .mount(&server)
        .await;
    // The v2 example's shape: `status` instead of `http_code`, a bare array for `data`.
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(header("authorization", AUTHORIZATION))
        .and(query_param("date_from", "1700000000"))
        .and(query_param("page", "2"))
        .and(query_param("limit", "100"))
        .and(DateToIsNow)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": 200,
            "response_code": "SUCCESS",
            "response_msg": "Here are your data.",
            "data": [{"direction": "out", "message_id": "P2", "status_code": "201.0",
                      "custom_string": "ref-2"}]
        })))
        .expect(1)
        .mount(&server)
        .await;

    let client = clicksend_at(&server);
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
            delivered("P1", None, "201"),
            delivered("P2", Some("ref-2"), "201.0")
        ]
    );
}

#[tokio::test]
async fn history_refuses_a_cursor_that_is_not_a_page_number() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;

    let error = clicksend_at(&server)
        .history(since(), Some("/v3/sms/history?page=2"))
        .await
        .unwrap_err();

    assert!(
        matches!(&error, ProviderError::Rejected { code, .. } if code == "invalid_cursor"),
        "{error:?}"
    );
}

#[tokio::test]
async fn history_maps_errors_like_every_call() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "http_code": 401, "response_code": "UNAUTHORIZED",
            "response_msg": "Authorization failed.", "data": null
        })))
        .mount(&server)
        .await;
    let client = clicksend_at(&server);

    let error = client.history(since(), None).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    let error = client.history(since(), Some("2")).await.unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error:?}");
}

// ---------------------------------------------------------------- status_of

const RECEIPT_ID: &str = "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0";

#[tokio::test]
async fn status_of_reads_the_receipt_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/sms/receipts/{RECEIPT_ID}")))
        .and(header("authorization", AUTHORIZATION))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "timestamp_send": "1700000050", "timestamp": "1700000060",
            "message_id": RECEIPT_ID, "status_code": "301", "status_text": "Failed",
            "error_code": "12", "error_text": "Absent subscriber", "custom_string": "ref-1",
            "subaccount_id": 1, "message_type": "sms", "digits": null
        }))))
        .expect(1)
        .mount(&server)
        .await;

    let report = clicksend_at(&server).status_of(RECEIPT_ID).await.unwrap();

    assert_eq!(
        report,
        Some(DeliveryReport {
            message_id: RECEIPT_ID.into(),
            reference: Some("ref-1".into()),
            state: ReportedState::Undelivered,
            raw_status: "301".into(),
            error_code: Some("12".into()),
            error_text: Some("Absent subscriber".into()),
        })
    );
}

#[tokio::test]
async fn status_of_encodes_the_id_and_keeps_it_when_the_receipt_omits_it() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/receipts/a%2Fb%20c"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(json!({
            "status_code": 201, "status_text": "Success: Message received on handset.",
            "error_code": null, "custom_string": null
        }))))
        .expect(1)
        .mount(&server)
        .await;

    let report = clicksend_at(&server).status_of("a/b c").await.unwrap();

    assert_eq!(
        report,
        Some(DeliveryReport {
            message_id: "a/b c".into(),
            reference: None,
            state: ReportedState::Delivered,
            raw_status: "201".into(),
            error_code: None,
            error_text: None,
        })
    );
}

#[tokio::test]
async fn status_of_is_none_when_clicksend_has_no_receipt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/sms/receipts/{RECEIPT_ID}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "http_code": 404, "response_code": "NOT_FOUND",
            "response_msg": "Receipt record not found.", "data": null
        })))
        .expect(1)
        .mount(&server)
        .await;

    assert_eq!(
        clicksend_at(&server).status_of(RECEIPT_ID).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn status_of_fails_on_5xx_and_on_a_receipt_without_a_known_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/receipts/DOWN"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/receipts/ODD"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(envelope(json!({"message_id": "ODD", "status_code": "999"}))),
        )
        .mount(&server)
        .await;
    let client = clicksend_at(&server);

    let error = client.status_of("DOWN").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unavailable(_)), "{error:?}");
    let error = client.status_of("ODD").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unreadable(_)), "{error:?}");
}

#[test]
fn max_batch_is_a_thousand() {
    let client = ClickSendClient::new(
        reqwest::Client::new(),
        "https://rest.clicksend.com",
        USERNAME.into(),
        SecretString::from(API_KEY),
        ClientOptions::default(),
    );
    assert_eq!(client.max_batch(), 1000);
    assert!(!format!("{client:?}").contains(API_KEY));
}
