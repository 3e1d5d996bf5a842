//! The Integrations screen: cards, the Edit and secret panels, one active provider,
//! verify, test SMS, webhook registration, the audit log, and secrets kept secret.

use base64::Engine;
use nextal_tests::{TestApp, captured_logs, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const CLICKSEND_USERNAME: &str = "ops@acme.example";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

fn basic(username: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{secret}"))
    )
}

/// A secret no other test uses, so greps find only this test's traces.
fn unique_secret(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn configure_clicksend(app: &TestApp, admin: &str, active: bool) -> String {
    let response = app
        .put(
            "/integrations/clicksend",
            Some(admin),
            &json!({"active": active, "phone_number": "+61411111111", "username": CLICKSEND_USERNAME}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let api_key = unique_secret("cs-key");
    let response = app
        .put(
            "/integrations/clicksend/api-key",
            Some(admin),
            &json!({"api_key": api_key}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    api_key
}

async fn configure_twilio(app: &TestApp, admin: &str, active: bool) -> String {
    let response = app
        .put(
            "/integrations/twilio",
            Some(admin),
            &json!({"active": active, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = unique_secret("tw-token");
    let response = app
        .put(
            "/integrations/twilio/auth-token",
            Some(admin),
            &json!({"auth_token": token}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    token
}

async fn active_providers(app: &TestApp, admin: &str) -> Vec<String> {
    let cards: Value = app
        .get("/integrations", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    cards
        .as_array()
        .unwrap()
        .iter()
        .filter(|card| card["active"] == true)
        .map(|card| card["provider"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_new_organization_sees_two_inactive_cards() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let cards: Value = app
        .get("/integrations", Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    let providers: Vec<&str> = cards
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers, ["clicksend", "twilio"]);
    for card in cards.as_array().unwrap() {
        assert_eq!(card["active"], false);
        assert_eq!(card["credential_set"], false);
    }
}

#[tokio::test]
async fn the_edit_panel_saves_the_number_in_e164_using_the_default_country() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.patch(
        "/organization",
        Some(&admin),
        &json!({"default_country": "AU"}),
    )
    .await;

    let response = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &json!({"active": true, "phone_number": "0411 111 111", "username": CLICKSEND_USERNAME}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["integration"]["phone_number"], "+61411111111");
    assert_eq!(saved["integration"]["active"], true);
    assert_eq!(saved["integration"]["api_key_set"], false);
    assert_eq!(saved["deactivated"], Value::Null);
    let webhooks = &saved["integration"]["webhooks"];
    assert!(
        webhooks["inbound_url"]
            .as_str()
            .unwrap()
            .starts_with("http://localhost:8080/webhooks/clicksend/")
    );
    assert!(
        webhooks["delivery_receipt_url"]
            .as_str()
            .unwrap()
            .ends_with("/receipts")
    );
}

#[tokio::test]
async fn the_edit_panel_refuses_an_api_key_and_points_to_its_own_panel() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &json!({"active": true, "phone_number": "+61411111111", "username": CLICKSEND_USERNAME, "api_key": "sneaky-key-1"}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "api_key");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /integrations/clicksend/api-key")
    );
    assert!(active_providers(&app, &admin).await.is_empty());
    let twilio = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": false, "auth_token": "sneaky-token"}),
        )
        .await;
    let body = problem(twilio, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("PUT /integrations/twilio/auth-token")
    );
}

#[tokio::test]
async fn the_edit_panel_is_saved_whole() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let saved = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &json!({"active": false, "phone_number": "+61411111111", "username": "ops@acme.example"}),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);

    // An omitted field is refused rather than read as "clear it", which Schemathesis
    // found the schema and the service disagreed on; null clears.
    let partial = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &json!({"active": false, "phone_number": "+61411111111"}),
        )
        .await;
    let body = problem(partial, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "username", "{body}");
    let card = app.get("/integrations/clicksend", Some(&admin)).await;
    let card: Value = card.json().await.expect("integration");
    assert_eq!(card["username"], "ops@acme.example");

    let cleared = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &json!({"active": false, "phone_number": "+61411111111", "username": null}),
        )
        .await;
    let cleared: Value = cleared.json().await.expect("saved");
    assert_eq!(cleared["integration"]["username"], Value::Null);
}

#[tokio::test]
async fn activating_needs_a_number_and_a_username() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": true, "phone_number": null, "account_sid": null}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["phone_number", "account_sid"]);
    let bad_sid = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": true, "phone_number": "+14155550100", "account_sid": "nope"}),
        )
        .await;
    problem(bad_sid, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn activating_one_provider_deactivates_the_other_and_says_so() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_clicksend(&app, &admin, true).await;

    let response = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
        )
        .await;

    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["deactivated"], "clicksend");
    assert_eq!(active_providers(&app, &admin).await, ["twilio"]);
    let log: Value = app
        .get("/audit-log", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<(&str, &str)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["target"].as_str().unwrap()))
        .collect();
    assert_eq!(
        &actions[..2],
        [
            ("integration.deactivated", "clicksend"),
            ("integration.updated", "twilio")
        ]
    );
}

#[tokio::test]
async fn deactivating_leaves_no_provider_active() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_clicksend(&app, &admin, true).await;

    app.put(
        "/integrations/clicksend",
        Some(&admin),
        &json!({"active": false, "phone_number": "+61411111111", "username": CLICKSEND_USERNAME}),
    )
    .await;

    assert!(active_providers(&app, &admin).await.is_empty());
}

#[tokio::test]
async fn racing_activations_leave_exactly_one_provider_active() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let clicksend =
        json!({"active": true, "phone_number": "+61411111111", "username": CLICKSEND_USERNAME});
    let twilio = json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID});

    for round in 0..25 {
        let (a, b) = tokio::join!(
            app.put("/integrations/clicksend", Some(&admin), &clicksend),
            app.put("/integrations/twilio", Some(&admin), &twilio),
        );
        assert!(
            a.status().is_success() || a.status() == StatusCode::CONFLICT,
            "round {round}: {}",
            a.status()
        );
        assert!(
            b.status().is_success() || b.status() == StatusCode::CONFLICT,
            "round {round}: {}",
            b.status()
        );

        assert_eq!(
            active_providers(&app, &admin).await.len(),
            1,
            "round {round}"
        );
    }
}

#[tokio::test]
async fn the_api_key_is_write_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.put(
        "/integrations/clicksend",
        Some(&admin),
        &json!({"active": false, "phone_number": "+61411111111", "username": CLICKSEND_USERNAME}),
    )
    .await;
    let api_key = unique_secret("cs-key");

    let response = app
        .put(
            "/integrations/clicksend/api-key",
            Some(&admin),
            &json!({"api_key": api_key}),
        )
        .await;

    let text = response.text().await.unwrap();
    assert!(!text.contains(&api_key));
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["api_key_set"], true);
    assert!(saved["api_key_set_at"].is_string());
    let mut everything = String::new();
    for path in ["/integrations", "/integrations/clicksend", "/audit-log"] {
        everything.push_str(&app.get(path, Some(&admin)).await.text().await.unwrap());
    }
    assert!(everything.contains("integration.secret_set"));
    assert!(!everything.contains(&api_key));
}

#[tokio::test]
async fn secrets_appear_in_no_response_log_or_database_file() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let api_key = configure_clicksend(&app, &admin, true).await;
    let auth_token = configure_twilio(&app, &admin, false).await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        // ClickSend echoes the key in its account body: it must not travel further.
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "ok",
            "data": {"username": CLICKSEND_USERNAME, "account_name": "Acme", "balance": "3.50",
                     "_subaccount": {"api_key": api_key}, "_currency": {"currency_name_short": "AUD"}}
        })))
        .mount(&app.clicksend)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
        .mount(&app.twilio)
        .await;

    let mut responses = String::new();
    for (verb, path) in [
        ("POST", "/integrations/clicksend/verify"),
        ("POST", "/integrations/twilio/verify"),
        ("GET", "/integrations"),
        ("GET", "/integrations/clicksend"),
        ("GET", "/integrations/twilio"),
        ("GET", "/audit-log"),
    ] {
        let request = app
            .client
            .request(verb.parse().unwrap(), app.url(path))
            .bearer_auth(&admin);
        responses.push_str(&request.send().await.unwrap().text().await.unwrap());
    }

    assert!(responses.contains("\"verified\":true") && responses.contains("\"verified\":false"));
    let logs = captured_logs();
    assert!(
        logs.contains("integration secret replaced"),
        "logs are captured"
    );
    for secret in [&api_key, &auth_token] {
        assert!(
            !responses.contains(secret.as_str()),
            "a response shows {secret}"
        );
        assert!(!logs.contains(secret.as_str()), "the logs show {secret}");
        assert!(
            !stored_bytes(&app)
                .await
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        );
    }
}

/// Every byte of the database: the SQLite files, or a pg_dump.
async fn stored_bytes(app: &TestApp) -> Vec<u8> {
    match app.database.sqlite_folder() {
        Some(folder) => std::fs::read_dir(folder)
            .unwrap()
            .flat_map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect(),
        None => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--data-only")
                .arg(app.database.url())
                .output()
                .expect("pg_dump runs");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            assert!(!dump.stdout.is_empty());
            dump.stdout
        }
    }
}

#[tokio::test]
async fn verify_reports_the_account_with_the_exact_credentials() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let api_key = configure_clicksend(&app, &admin, false).await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .and(header("authorization", basic(CLICKSEND_USERNAME, &api_key).as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Here's your account",
            "data": {"username": CLICKSEND_USERNAME, "account_name": "Acme Recruiting", "balance": "24.5100",
                     "_currency": {"currency_name_short": "AUD"}}
        })))
        .expect(1)
        .mount(&app.clicksend)
        .await;

    let report: Value = app
        .post("/integrations/clicksend/verify", Some(&admin), &json!({}))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        report,
        json!({"verified": true, "account_name": "Acme Recruiting", "balance": "24.5100", "currency": "AUD", "reason": null})
    );
}

#[tokio::test]
async fn verify_explains_refused_credentials() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_clicksend(&app, &admin, false).await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "http_code": 401, "response_code": "UNAUTHORIZED", "response_msg": "Authorization failed.", "data": null
        })))
        .mount(&app.clicksend)
        .await;

    let report: Value = app
        .post("/integrations/clicksend/verify", Some(&admin), &json!({}))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(report["verified"], false);
    assert!(
        report["reason"]
            .as_str()
            .unwrap()
            .contains("refused the credentials")
    );
}

#[tokio::test]
async fn provider_calls_need_the_credentials_first() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let body = problem(
        app.post("/integrations/twilio/verify", Some(&admin), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(
        body["type"],
        "https://nextal.app/problems/credential-missing"
    );
}

#[tokio::test]
async fn a_test_sms_goes_straight_to_clicksend() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let api_key = configure_clicksend(&app, &admin, false).await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .and(header("authorization", basic(CLICKSEND_USERNAME, &api_key).as_str()))
        .and(body_partial_json(json!({"messages": [{"to": "+61422222222", "from": "+61411111111", "body": "Hello from the test"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.",
            "data": {"total_price": 0.0792, "total_count": 1, "queued_count": 1, "messages": [{
                "to": "+61422222222", "status": "SUCCESS", "message_id": "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0",
                "message_parts": 1, "message_price": "0.0792"}]}
        })))
        .expect(1)
        .mount(&app.clicksend)
        .await;

    let response = app
        .post(
            "/integrations/clicksend/test-sms",
            Some(&admin),
            &json!({"to": "+61422222222", "body": "Hello from the test"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let sent: Value = response.json().await.unwrap();
    assert_eq!(
        sent,
        json!({"provider_message_id": "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0", "parts": 1, "price": "0.0792"})
    );
}

#[tokio::test]
async fn a_refused_test_recipient_is_reported_with_the_providers_reason() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_clicksend(&app, &admin, false).await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.",
            "data": {"messages": [{"to": "+61422222222", "status": "INVALID_RECIPIENT", "message_id": "X1", "schedule": ""}]}
        })))
        .mount(&app.clicksend)
        .await;

    let body = problem(
        app.post(
            "/integrations/clicksend/test-sms",
            Some(&admin),
            &json!({"to": "+61422222222"}),
        )
        .await,
        StatusCode::BAD_GATEWAY,
    )
    .await;

    assert_eq!(
        body["type"],
        "https://nextal.app/problems/provider-rejected"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("INVALID_RECIPIENT")
    );
}

#[tokio::test]
async fn a_rate_limited_provider_answers_503_with_retry_after() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_twilio(&app, &admin, false).await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .set_body_json(
                    json!({"code": 20429, "message": "Too Many Requests", "status": 429}),
                ),
        )
        .mount(&app.twilio)
        .await;

    let response = app
        .post(
            "/integrations/twilio/test-sms",
            Some(&admin),
            &json!({"to": "+14155550123"}),
        )
        .await;

    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn a_twilio_test_sms_is_a_form_post_with_basic_auth() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let auth_token = configure_twilio(&app, &admin, true).await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")))
        .and(header("authorization", basic(TWILIO_SID, &auth_token).as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued", "num_segments": "1", "price": null
        })))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let response = app
        .post(
            "/integrations/twilio/test-sms",
            Some(&admin),
            &json!({"to": "(415) 555-0123"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let requests = app.twilio.received_requests().await.unwrap();
    let form: Vec<(String, String)> = url_decode(&requests[0].body);
    assert!(form.contains(&("To".into(), "+14155550123".into())));
    assert!(form.contains(&("From".into(), "+14155550100".into())));
    assert!(
        form.iter()
            .any(|(k, v)| k == "Body" && v.contains("Twilio integration works"))
    );
}

fn url_decode(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| {
            let decode = |s: &str| {
                urlencoding::decode(&s.replace('+', " "))
                    .unwrap()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

#[tokio::test]
async fn register_webhooks_creates_both_clicksend_rules_pointing_at_our_urls() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_clicksend(&app, &admin, true).await;
    let card: Value = app
        .get("/integrations/clicksend", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let inbound_url = card["webhooks"]["inbound_url"].as_str().unwrap().to_owned();
    let receipt_url = card["webhooks"]["delivery_receipt_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Twilio's connection overrides are not for ClickSend: its URLs end with the route.
    assert!(inbound_url.ends_with("/inbound"), "{inbound_url}");
    assert!(receipt_url.ends_with("/receipts"), "{receipt_url}");
    let empty_page = json!({"http_code": 200, "response_code": "SUCCESS", "response_msg": "ok",
                            "data": {"total": 0, "current_page": 1, "last_page": 1, "data": []}});
    for rules in [
        "/v3/automations/sms/inbound",
        "/v3/automations/sms/receipts",
    ] {
        Mock::given(method("GET"))
            .and(path(rules))
            .respond_with(ResponseTemplate::new(200).set_body_json(empty_page.clone()))
            .mount(&app.clicksend)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/inbound"))
        .and(body_partial_json(json!({"dedicated_number": "+61411111111", "action": "URL", "action_address": inbound_url, "webhook_type": "json", "enabled": 1})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"http_code": 200, "response_code": "SUCCESS", "data": {"inbound_rule_id": 41}})))
        .expect(1)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/automations/sms/receipts"))
        .and(body_partial_json(json!({"action": "URL", "action_address": receipt_url, "enabled": 1})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"http_code": 200, "response_code": "SUCCESS", "data": {"receipt_rule_id": "42"}})))
        .expect(1)
        .mount(&app.clicksend)
        .await;

    let registered: Value = app
        .post(
            "/integrations/clicksend/register-webhooks",
            Some(&admin),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        registered,
        json!({"inbound_url": inbound_url, "status_url": receipt_url, "inbound_id": "41", "status_id": "42"})
    );
}

#[tokio::test]
async fn register_webhooks_sets_the_twilio_numbers_sms_url() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    configure_twilio(&app, &admin, true).await;
    let card: Value = app
        .get("/integrations/twilio", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let base = format!("{}/webhooks/twilio/", app.settings.public_url);
    let token = card["webhooks"]["inbound_url"]
        .as_str()
        .unwrap()
        .strip_prefix(&base)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    // Both URLs ask Twilio to retry up to 5 times on a failed connection, a timeout or
    // a 5xx; the card shows them so, for an admin who pastes them into the console.
    let inbound_url = format!("{base}{token}/inbound#rc=5&rp=ct,rt,5xx");
    let status_url = format!("{base}{token}/status#rc=5&rp=ct,rt,5xx");
    assert_eq!(card["webhooks"]["inbound_url"], inbound_url.as_str());
    assert_eq!(card["webhooks"]["status_url"], status_url.as_str());
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}/IncomingPhoneNumbers.json")))
        .and(query_param("PhoneNumber", "+14155550100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"incoming_phone_numbers": [{"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": "+14155550100"}]})))
        .mount(&app.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{TWILIO_SID}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": "PN0123456789abcdef0123456789abcdef"})))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let response = app
        .post(
            "/integrations/twilio/register-webhooks",
            Some(&admin),
            &json!({}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let registered: Value = response.json().await.unwrap();
    assert_eq!(
        registered,
        json!({"inbound_url": inbound_url, "status_url": status_url, "inbound_id": "PN0123456789abcdef0123456789abcdef", "status_id": null})
    );
    let requests = app.twilio.received_requests().await.unwrap();
    let update = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .unwrap();
    let form = url_decode(&update.body);
    assert_eq!(
        form,
        [
            ("SmsUrl".to_owned(), inbound_url),
            ("SmsMethod".to_owned(), "POST".to_owned())
        ]
    );
}

#[tokio::test]
async fn rotating_the_webhook_token_changes_the_urls() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before: Value = app
        .get("/integrations/clicksend", Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    let after: Value = app
        .post(
            "/integrations/clicksend/webhook-token",
            Some(&admin),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_ne!(
        before["webhooks"]["inbound_url"],
        after["webhooks"]["inbound_url"]
    );
    let again: Value = app
        .get("/integrations/clicksend", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["webhooks"], after["webhooks"]);
}

#[tokio::test]
async fn a_recruiter_is_refused_every_integration_endpoint() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;

    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let mut checked = 0;
    for (route, operations) in served["paths"].as_object().unwrap() {
        if !(route.starts_with("/integrations") || route == "/audit-log") {
            continue;
        }
        for verb in operations.as_object().unwrap().keys() {
            let response = app
                .client
                .request(verb.to_uppercase().parse().unwrap(), app.url(route))
                .bearer_auth(&recruiter)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{verb} {route}");
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}

#[tokio::test]
async fn a_secret_copied_to_another_organization_does_not_decrypt() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    configure_clicksend(&app, &acme, false).await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    app.put(
        "/integrations/clicksend",
        Some(&globex),
        &json!({"active": false, "phone_number": "+61411111111", "username": "globex"}),
    )
    .await;

    let copied = app
        .execute_sql(
            "UPDATE integrations SET secret = (SELECT i.secret FROM integrations i \
             JOIN users u ON u.organization_id = i.organization_id \
             WHERE u.email = 'admin@acme.test' AND i.provider = 'clicksend') \
             WHERE provider = 'clicksend' AND organization_id = \
             (SELECT organization_id FROM users WHERE email = 'admin@globex.test')",
        )
        .await;

    assert_eq!(copied, 1);
    let body = problem(
        app.post("/integrations/clicksend/verify", Some(&globex), &json!({}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/secret-unreadable"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("ClickSend API key")
    );
}

#[tokio::test]
async fn a_blank_setting_is_refused_and_null_clears_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let blank = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &serde_json::json!({"active": false, "phone_number": " ", "username": "ops"}),
        )
        .await;
    let cleared = app
        .put(
            "/integrations/clicksend",
            Some(&admin),
            &serde_json::json!({"active": false, "phone_number": null, "username": "ops"}),
        )
        .await;

    let refused = problem(blank, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["errors"][0]["field"], "phone_number");
    assert_eq!(cleared.status(), StatusCode::OK);
}
