//! Replies and delivery receipts by webhook, shaped as ClickSend and Twilio send them.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use nextal_tests::{NewCandidate, TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::messaging::{
    accept_everything, activate_clicksend, ann, deactivate_clicksend, message, phone, send_one,
};

pub(crate) const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_AUTH_TOKEN: &str = "twilio-auth-token-for-tests";
const FORM: &str = "application/x-www-form-urlencoded";

/// The path part of a webhook URL the service gave out.
fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(app.settings.public_url.trim_end_matches('/'))
        .unwrap()
        .to_owned()
}

/// ClickSend active; returns (admin token, inbound path, receipts path).
pub(crate) async fn clicksend_inbox(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token().await;
    activate_clicksend(app, &admin).await;
    let card: Value = app
        .get("/integrations/clicksend", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let inbound = path_of(app, card["webhooks"]["inbound_url"].as_str().unwrap());
    let receipts = path_of(
        app,
        card["webhooks"]["delivery_receipt_url"].as_str().unwrap(),
    );
    (admin, inbound, receipts)
}

pub(crate) async fn post_form(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", FORM)
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A ClickSend inbound SMS as its `post` webhook sends it, legacy duplicates included.
pub(crate) fn clicksend_reply_form(
    message_id: &str,
    from: &str,
    body: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("originalsenderid", "+61411111111".to_owned()),
        ("body", body.to_owned()),
        ("message", body.to_owned()),
        ("sms", from.to_owned()),
        ("custom_string", String::new()),
        ("customstring", String::new()),
        ("to", "+61411111111".to_owned()),
        ("original_message_id", String::new()),
        ("originalmessageid", String::new()),
        ("from", from.to_owned()),
        ("user_id", "1".to_owned()),
        ("subaccount_id", "1".to_owned()),
        ("original_body", String::new()),
        ("timestamp", "1764200000".to_owned()),
        ("message_id", message_id.to_owned()),
    ]
}

pub(crate) async fn reply_form(
    app: &TestApp,
    inbound: &str,
    message_id: &str,
    from: &str,
    body: &str,
) -> Value {
    let fields = clicksend_reply_form(message_id, from, body);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = post_form(app, inbound, &fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A ClickSend inbound SMS as its `json` webhook sends it (ClickSend's own sample shape).
fn clicksend_reply_json(message_id: &str, from: &str, body: &str) -> Value {
    json!({
        "originalsenderid": "+61411111111", "body": body, "message": body, "sms": from,
        "from": from, "to": "+61411111111", "timestamp": 1764200000,
        "message_id": message_id, "original_message_id": "", "original_body": "",
        "user_id": 1, "subaccount_id": 1, "custom_string": ""
    })
}

pub(crate) async fn threads(app: &TestApp, token: &str) -> Value {
    let response = app.get("/sms/threads", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub(crate) async fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .await
}

#[tokio::test]
async fn a_clicksend_form_reply_lands_in_the_candidates_thread_unread_until_read() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let candidate = ann(&app, &admin).await;

    let accepted = reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000001",
        &phone(1),
        "Yes, Tuesday works",
    )
    .await;

    assert_eq!(accepted["outcome"], "applied");
    let listed = threads(&app, &admin).await;
    let thread = &listed["items"][0];
    assert_eq!(thread["candidate_id"], candidate.as_str());
    assert_eq!(thread["phone"], phone(1));
    assert_eq!(thread["unread_count"], 1);
    assert_eq!(thread["last_message_preview"], "Yes, Tuesday works");
    assert_eq!(listed["unread_total"], 1);
    let id = thread["id"].as_str().unwrap();
    let messages: Value = app
        .get(&format!("/sms/threads/{id}/messages"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let reply = &messages["items"][0];
    assert_eq!(reply["direction"], "inbound");
    assert_eq!(reply["status"], "received");
    assert_eq!(reply["provider"], "clicksend");
    assert_eq!(reply["from_number"], phone(1));

    let read = app
        .post(&format!("/sms/threads/{id}/read"), Some(&admin), &json!({}))
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let listed = threads(&app, &admin).await;
    assert_eq!(listed["items"][0]["unread_count"], 0);
    assert_eq!(listed["unread_total"], 0);
}

#[tokio::test]
async fn the_same_json_reply_three_times_is_one_message() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let reply = clicksend_reply_json(
        "A1B2C3D4-0000-4000-8000-000000000002",
        &phone(1),
        "On my way",
    );

    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let response = post_json(&app, &inbound, &reply).await;
        assert_eq!(response.status(), StatusCode::OK);
        outcomes.push(response.json::<Value>().await.unwrap()["outcome"].clone());
    }

    assert_eq!(
        outcomes,
        [json!("applied"), json!("duplicate"), json!("duplicate")]
    );
    assert_eq!(count(&app, "sms_messages").await, 1);
    assert_eq!(count(&app, "webhook_deliveries").await, 3);
    assert_eq!(threads(&app, &admin).await["items"][0]["unread_count"], 1);
}

#[tokio::test]
async fn concurrent_repeats_of_one_reply_store_it_once() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let reply = clicksend_reply_json("A1B2C3D4-0000-4000-8000-000000000003", &phone(1), "Hello");

    let responses =
        futures_util::future::join_all((0..10).map(|_| post_json(&app, &inbound, &reply))).await;

    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));
    assert_eq!(count(&app, "sms_messages").await, 1);
    assert_eq!(threads(&app, &admin).await["items"][0]["unread_count"], 1);
}

#[tokio::test]
async fn a_reply_the_database_refuses_costs_only_itself_not_the_replies_written_with_it() {
    // Webhooks that arrive together are written in one transaction; when it fails, each
    // is written on its own. A trigger refuses one reply, as a constraint would.
    let app = spawn_app().await;
    let (_admin, inbound, _) = clicksend_inbox(&app).await;
    app.refuse_inserts("sms_messages", "NEW.body = 'poison'")
        .await;
    let replies: Vec<Value> = (0..12)
        .map(|n| {
            clicksend_reply_json(
                &format!("A1B2C3D4-0000-4000-8000-0000000001{n:02}"),
                &phone(n),
                if n == 5 { "poison" } else { "Hello" },
            )
        })
        .collect();

    let responses = futures_util::future::join_all(
        replies.iter().map(|reply| post_json(&app, &inbound, reply)),
    )
    .await;

    let statuses: Vec<StatusCode> = responses.iter().map(reqwest::Response::status).collect();
    for (n, status) in statuses.iter().enumerate() {
        let wanted = if n == 5 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, wanted, "reply {n}: {statuses:?}");
    }
    assert_eq!(count(&app, "sms_messages").await, 11);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'applied'")
            .await,
        11
    );
    // The refused one is kept raw for inspection; its provider delivers it again.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'failed' AND payload LIKE '%poison%'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_query_string_reply_is_read_like_a_form() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let fields = clicksend_reply_form("A1B2C3D4-0000-4000-8000-000000000004", &phone(1), "Via GET");
    let query = serde_urlencoded::to_string(&fields).unwrap();

    let response = app
        .client
        .get(app.url(&format!("{inbound}?{query}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        threads(&app, &admin).await["items"][0]["last_message_preview"],
        "Via GET"
    );
}

#[tokio::test]
async fn a_reply_from_an_unknown_number_opens_a_thread_without_a_candidate() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;

    // ClickSend sometimes leaves out the `+`.
    let accepted = reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000005",
        "61499999999",
        "Who is this?",
    )
    .await;

    assert_eq!(accepted["outcome"], "applied");
    let thread = &threads(&app, &admin).await["items"][0];
    assert_eq!(thread["candidate_id"], Value::Null);
    assert_eq!(thread["phone"], "+61499999999");
    assert_eq!(thread["unread_count"], 1);
}

#[tokio::test]
async fn a_number_shared_by_two_candidates_links_the_one_most_recently_messaged_and_is_flagged() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    accept_everything(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            vec![
                NewCandidate::new("Ann", &phone(7)),
                NewCandidate::new("Bob", &phone(7)),
            ],
        )
        .await;
    send_one(&app, &admin, &ids[0], "For Ann").await;
    send_one(&app, &admin, &ids[1], "For Bob").await;

    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000006",
        &phone(7),
        "Hi",
    )
    .await;

    let thread = &threads(&app, &admin).await["items"][0];
    assert_eq!(thread["candidate_id"], ids[1].as_str());
    assert_eq!(thread["candidate_ambiguous"], true);
}

#[tokio::test]
async fn a_forged_token_is_404_and_stores_nothing() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let forged = inbound.replace("/inbound", "x/inbound");
    let fields = clicksend_reply_form("A1B2C3D4-0000-4000-8000-000000000007", &phone(1), "Hi");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let response = post_form(&app, &forged, &fields).await;
    let twilio_path = post_form(&app, &inbound.replace("/clicksend/", "/twilio/"), &fields).await;

    problem(response, StatusCode::NOT_FOUND).await;
    problem(twilio_path, StatusCode::NOT_FOUND).await;
    assert_eq!(count(&app, "webhook_deliveries").await, 0);
    assert_eq!(count(&app, "sms_messages").await, 0);
}

#[tokio::test]
async fn a_garbage_body_is_400_kept_raw_and_adds_nothing_to_threads() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;

    let garbage = app
        .client
        .post(app.url(&inbound))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let no_id = post_form(&app, &inbound, &[("from", &phone(1)), ("body", "Hi")]).await;

    problem(garbage, StatusCode::BAD_REQUEST).await;
    let no_id = problem(no_id, StatusCode::BAD_REQUEST).await;
    assert!(
        no_id["detail"].as_str().unwrap().contains("message_id"),
        "{no_id}"
    );
    assert_eq!(count(&app, "sms_messages").await, 0);
    assert_eq!(count(&app, "sms_threads").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'unreadable'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_json_delivery_with_a_number_where_the_contract_says_text_is_400() {
    let app = spawn_app().await;
    let (admin, inbound, receipts) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;

    // The contract documents `message_id`, `to`, `body` and `status_text` as strings.
    let numeric_id = post_json(
        &app,
        &inbound,
        &json!({"message_id": 12345, "from": phone(1), "body": "Hi"}),
    )
    .await;
    let list_body = post_json(
        &app,
        &inbound,
        &json!({"message_id": "CS-1", "from": phone(1), "body": ["Hi"]}),
    )
    .await;
    let numeric_text = post_json(
        &app,
        &receipts,
        &json!({"message_id": "CS-2", "status_code": 201, "status_text": 7}),
    )
    .await;

    for (response, field) in [
        (numeric_id, "message_id"),
        (list_body, "body"),
        (numeric_text, "status_text"),
    ] {
        let body = problem(response, StatusCode::BAD_REQUEST).await;
        assert!(body["detail"].as_str().unwrap().contains(field), "{body}");
    }
    assert_eq!(count(&app, "sms_messages").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'unreadable'")
            .await,
        3
    );

    // Numbers stay welcome where the contract allows them, and null is absent.
    let fine = post_json(
        &app,
        &inbound,
        &json!({"message_id": "CS-3", "from": phone(1), "body": "Hi", "to": null,
                "timestamp": 1764200000, "user_id": 5}),
    )
    .await;
    assert_eq!(fine.status(), StatusCode::OK);
    assert_eq!(count(&app, "sms_messages").await, 1);
}

#[tokio::test]
async fn a_reply_while_its_provider_is_inactive_is_kept_raw_only() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    deactivate_clicksend(&app, &admin).await;

    let accepted = reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000008",
        &phone(1),
        "Late",
    )
    .await;

    assert_eq!(accepted["outcome"], "provider_inactive");
    assert_eq!(count(&app, "sms_messages").await, 0);
    assert_eq!(count(&app, "sms_threads").await, 0);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'provider_inactive'"
        )
        .await,
        1
    );
}

/// Sends one message to Ann through ClickSend; returns (our id, ClickSend's id).
pub(crate) async fn sent_to_ann(app: &TestApp, admin: &str) -> (String, String) {
    accept_everything(app).await;
    let candidate = ann(app, admin).await;
    let queued = send_one(app, admin, &candidate, "Interview at 10?").await;
    app.drain_at(Utc::now()).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let sent = message(app, admin, &id).await;
    assert_eq!(sent["status"], "sent");
    (id, sent["provider_message_id"].as_str().unwrap().to_owned())
}

pub(crate) async fn receipt(app: &TestApp, receipts: &str, fields: &[(&str, &str)]) -> Value {
    let response = post_form(app, receipts, fields).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn delivered_then_a_stale_receipt_stays_delivered() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;

    let delivered = receipt(
        &app,
        &receipts,
        &[
            ("message_id", &provider_id),
            ("status_code", "201"),
            ("status_text", "Success: Message received on handset."),
            ("error_code", ""),
            ("error_text", ""),
            ("custom_string", &id),
            ("timestamp", "1764200000"),
            ("timestamp_send", "1764199990"),
            ("message_type", "sms"),
        ],
    )
    .await;
    let stale = receipt(
        &app,
        &receipts,
        &[
            ("message_id", &provider_id),
            ("status_code", "200"),
            ("status_text", "Sent"),
            ("custom_string", &id),
        ],
    )
    .await;
    let repeated = receipt(
        &app,
        &receipts,
        &[("message_id", &provider_id), ("status_code", "201")],
    )
    .await;

    assert_eq!(delivered["outcome"], "applied");
    assert_eq!(stale["outcome"], "stale");
    assert_eq!(repeated["outcome"], "stale");
    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "delivered");
    let statuses: Vec<&str> = stored["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "sent", "delivered"]);
}

#[tokio::test]
async fn a_failed_receipt_keeps_clicksends_error_code_and_text() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;

    let response = post_json(
        &app,
        &receipts,
        &json!({"message_id": provider_id, "status_code": 301, "status_text": "Failed", "error_code": 9, "error_text": "Absent subscriber", "custom_string": id, "timestamp": 1764200000}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "undelivered");
    let reason = stored["status_reason"].as_str().unwrap();
    assert!(
        reason.contains('9') && reason.contains("Absent subscriber"),
        "{reason}"
    );
}

#[tokio::test]
async fn receipts_for_messages_sent_before_a_provider_switch_still_apply() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    let switched = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
        )
        .await;
    assert_eq!(switched.status(), StatusCode::OK);

    let delivered = receipt(
        &app,
        &receipts,
        &[("message_id", &provider_id), ("status_code", "201")],
    )
    .await;

    assert_eq!(delivered["outcome"], "applied");
    assert_eq!(message(&app, &admin, &id).await["status"], "delivered");
}

async fn candidate_opted_out(app: &TestApp, token: &str, id: &str) -> bool {
    let candidate: Value = app
        .get(&format!("/candidates/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    candidate["sms_opted_out"].as_bool().unwrap()
}

#[tokio::test]
async fn stop_opts_the_candidate_out_and_start_opts_them_back_in() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let candidate = ann(&app, &admin).await;

    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000010",
        &phone(1),
        "  Stop ",
    )
    .await;

    assert!(candidate_opted_out(&app, &admin, &candidate).await);
    let refused = app
        .post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": candidate, "body": "Hi"}),
        )
        .await;
    problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    // A keyword inside a sentence is a message, not a command.
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000011",
        &phone(1),
        "start again please",
    )
    .await;
    assert!(candidate_opted_out(&app, &admin, &candidate).await);

    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000012",
        &phone(1),
        "START",
    )
    .await;

    assert!(!candidate_opted_out(&app, &admin, &candidate).await);
    let organization = app.organization_id(&admin).await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM consent_events WHERE organization_id = '{organization}' AND source = 'reply_keyword'"
        ))
        .await,
        2
    );
    // Every reply is still in the thread.
    assert_eq!(count(&app, "sms_messages").await, 3);
}

/// Twilio active with an auth token; returns (admin token, inbound path, status path).
pub(crate) async fn twilio_inbox(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_token().await;
    let response = app
        .put(
            "/integrations/twilio",
            Some(&admin),
            &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .put(
            "/integrations/twilio/auth-token",
            Some(&admin),
            &json!({"auth_token": TWILIO_AUTH_TOKEN}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let card: Value = app
        .get("/integrations/twilio", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let inbound = twilio_request_path(app, &card["webhooks"]["inbound_url"]);
    let status = twilio_request_path(app, &card["webhooks"]["status_url"]);
    (admin, inbound, status)
}

/// The path Twilio requests (and signs) for a URL of the Twilio card: the URL carries
/// Twilio's connection overrides as a fragment, which Twilio neither sends nor signs.
fn twilio_request_path(app: &TestApp, url: &Value) -> String {
    let url = url.as_str().unwrap();
    let (requested, overrides) = url.split_once('#').unwrap();
    assert_eq!(overrides, "rc=5&rp=ct,rt,5xx", "{url}");
    path_of(app, requested)
}

/// X-Twilio-Signature, computed the way Twilio does: over the public URL and the
/// parameters sorted by name.
pub(crate) fn twilio_signature(url: &str, fields: &[(&str, &str)]) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort();
    let mut signed = url.to_owned();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(TWILIO_AUTH_TOKEN.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

pub(crate) async fn twilio_post(
    app: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    signature: &str,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", FORM)
        .header("x-twilio-signature", signature)
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap()
}

pub(crate) fn twilio_reply(sid: &str, from: &str, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ToCountry", "US".to_owned()),
        ("SmsMessageSid", sid.to_owned()),
        ("NumMedia", "0".to_owned()),
        ("SmsSid", sid.to_owned()),
        ("SmsStatus", "received".to_owned()),
        ("Body", body.to_owned()),
        ("To", "+14155550100".to_owned()),
        ("NumSegments", "1".to_owned()),
        ("MessageSid", sid.to_owned()),
        ("AccountSid", TWILIO_SID.to_owned()),
        ("From", from.to_owned()),
        ("ApiVersion", "2010-04-01".to_owned()),
    ]
}

#[tokio::test]
async fn a_signed_twilio_reply_is_stored_and_answered_with_empty_twiml() {
    let app = spawn_app().await;
    let (admin, inbound, _) = twilio_inbox(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(&organization, vec![NewCandidate::new("Cy", "+14155550123")])
        .await;
    let fields = twilio_reply(
        "SM11111111111111111111111111111111",
        "+14155550123",
        "Sounds good",
    );
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{}{inbound}", app.settings.public_url);

    let response = twilio_post(&app, &inbound, &fields, &twilio_signature(&url, &fields)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
            || response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/xml")
    );
    assert_eq!(
        response.text().await.unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>"
    );
    let thread = &threads(&app, &admin).await["items"][0];
    assert_eq!(thread["candidate_id"], ids[0].as_str());
    assert_eq!(thread["last_message_preview"], "Sounds good");
}

#[tokio::test]
async fn a_twilio_reply_with_a_bad_or_missing_signature_is_403_and_stores_nothing() {
    let app = spawn_app().await;
    let (_, inbound, _) = twilio_inbox(&app).await;
    let fields = twilio_reply("SM22222222222222222222222222222222", "+14155550123", "Hi");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = format!("{}{inbound}", app.settings.public_url);
    let mut tampered = fields.clone();
    tampered[5] = ("Body", "Hi, changed");

    let forged = twilio_post(&app, &inbound, &fields, "RSOYDt4T1cUTdK1PDd93/VVr8B8=").await;
    let altered = twilio_post(&app, &inbound, &tampered, &twilio_signature(&url, &fields)).await;
    let unsigned = app
        .client
        .post(app.url(&inbound))
        .header("content-type", FORM)
        .body(serde_urlencoded::to_string(&fields).unwrap())
        .send()
        .await
        .unwrap();
    // Signed for a URL built from a spoofed Host header: we sign with NEXTAL_PUBLIC_URL.
    let spoofed = twilio_post(
        &app,
        &inbound,
        &fields,
        &twilio_signature(&format!("https://evil.example{inbound}"), &fields),
    )
    .await;

    for response in [forged, altered, unsigned, spoofed] {
        problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(count(&app, "webhook_deliveries").await, 0);
    assert_eq!(count(&app, "sms_messages").await, 0);
}

#[tokio::test]
async fn a_twilio_json_delivery_is_checked_by_its_body_hash() {
    let app = spawn_app().await;
    let (admin, inbound, _) = twilio_inbox(&app).await;
    let body = json!({"MessageSid": "SM33333333333333333333333333333333", "From": "+14155550123", "To": "+14155550100", "Body": "JSON hello"}).to_string();
    let hash = hex(&Sha256::digest(body.as_bytes()));
    let path = format!("{inbound}?bodySHA256={hash}");
    let url = format!("{}{path}", app.settings.public_url);
    let send = |signature: String, body: String| {
        app.client
            .post(app.url(&path))
            .header("content-type", "application/json")
            .header("x-twilio-signature", signature)
            .body(body)
            .send()
    };

    let tampered = send(twilio_signature(&url, &[]), body.replace("hello", "bye"))
        .await
        .unwrap();
    let valid = send(twilio_signature(&url, &[]), body).await.unwrap();

    problem(tampered, StatusCode::FORBIDDEN).await;
    assert_eq!(valid.status(), StatusCode::OK);
    assert_eq!(
        threads(&app, &admin).await["items"][0]["last_message_preview"],
        "JSON hello"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) const TWILIO_MESSAGE_SID: &str = "SM55555555555555555555555555555555";
pub(crate) const CY: &str = "+14155550123";

/// Twilio active and taking every message as `TWILIO_MESSAGE_SID`; one message sent
/// to Cy. Returns (admin token, status path, Cy's id, our message id).
pub(crate) async fn sent_to_cy_through_twilio(app: &TestApp) -> (String, String, String, String) {
    let (admin, _, status) = twilio_inbox(app).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": TWILIO_MESSAGE_SID, "status": "queued", "num_segments": "1"}),
        ))
        .mount(&app.twilio)
        .await;
    let organization = app.organization_id(&admin).await;
    let cy = app
        .insert_candidates(&organization, vec![NewCandidate::new("Cy", CY)])
        .await
        .remove(0);
    let id = send_one(app, &admin, &cy, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_at(Utc::now()).await;
    assert_eq!(message(app, &admin, &id).await["status"], "sent");
    (admin, status, cy, id)
}

/// Posts Twilio's signed status callback for `TWILIO_MESSAGE_SID`: `state`, with
/// `error_code` and Twilio's `ErrorMessage` when there is one.
pub(crate) async fn twilio_callback(
    app: &TestApp,
    status: &str,
    state: &str,
    error_code: Option<&str>,
) {
    let url = format!("{}{status}", app.settings.public_url);
    let mut fields = vec![
        ("MessageSid", TWILIO_MESSAGE_SID),
        ("SmsSid", TWILIO_MESSAGE_SID),
        ("AccountSid", TWILIO_SID),
        ("From", "+14155550100"),
        ("To", CY),
        ("MessageStatus", state),
        ("SmsStatus", state),
        ("ApiVersion", "2010-04-01"),
    ];
    if let Some(code) = error_code {
        fields.extend([
            ("ErrorCode", code),
            ("ErrorMessage", "Twilio's explanation"),
        ]);
    }
    let response = twilio_post(app, status, &fields, &twilio_signature(&url, &fields)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn twilio_status_callbacks_move_a_message_forward_only() {
    let app = spawn_app().await;
    let (admin, status, _, id) = sent_to_cy_through_twilio(&app).await;

    for state in ["sent", "delivered", "sent"] {
        twilio_callback(&app, &status, state, None).await;
    }

    assert_eq!(message(&app, &admin, &id).await["status"], "delivered");
}

/// Twilio active and refusing every send with HTTP 400 and error `code` (`text` its
/// message); one message sent to Cy and handed over. Returns (admin token, Cy's id, our
/// message id).
pub(crate) async fn refused_by_twilio(
    app: &TestApp,
    code: u32,
    text: &str,
) -> (String, String, String) {
    let (admin, _, _) = twilio_inbox(app).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": code, "message": text,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": 400
        })))
        .mount(&app.twilio)
        .await;
    let organization = app.organization_id(&admin).await;
    let cy = app
        .insert_candidates(&organization, vec![NewCandidate::new("Cy", CY)])
        .await
        .remove(0);
    let id = send_one(app, &admin, &cy, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_at(Utc::now()).await;
    (admin, cy, id)
}

#[tokio::test]
async fn twilio_refusing_an_unsubscribed_recipient_opts_the_candidate_out() {
    let app = spawn_app().await;
    let (admin, cy, id) =
        refused_by_twilio(&app, 21610, "Attempt to send to unsubscribed recipient").await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["failure_reason"], "opted_out");
    assert_eq!(stored["provider_error_code"], "21610");
    assert!(candidate_opted_out(&app, &admin, &cy).await);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM consent_events WHERE source = 'provider_refusal'")
            .await,
        1
    );
}

/// The open event stream at `url` (`GET /sms/events` of a replica) for `token`, past
/// its `: connected` greeting.
pub(crate) async fn event_stream(
    app: &TestApp,
    url: String,
    token: &str,
) -> impl futures_util::Stream<Item = reqwest::Result<impl AsRef<[u8]>>> + Unpin {
    let stream = app.client.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut chunks = stream.bytes_stream();
    let hello = chunks.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&hello).starts_with(": connected"));
    chunks
}

/// What the stream sends until a complete event containing `wanted`; fails after a
/// second.
pub(crate) async fn read_until<B: AsRef<[u8]>>(
    chunks: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    wanted: &str,
) -> String {
    let mut received = String::new();
    tokio::time::timeout(Duration::from_secs(1), async {
        while !received.contains(wanted) || !received.ends_with("\n\n") {
            let chunk = chunks.next().await.unwrap().unwrap();
            received.push_str(&String::from_utf8_lossy(chunk.as_ref()));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("`{wanted}` within a second; got {received:?}"));
    received
}

#[tokio::test]
async fn the_event_stream_announces_a_reply_within_a_second() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let mut chunks = event_stream(&app, app.url("/sms/events"), &admin).await;

    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000013",
        &phone(1),
        "Live!",
    )
    .await;

    let received = read_until(&mut chunks, "message.received").await;
    assert!(received.contains("event: message.received"), "{received}");
    let thread_id = threads(&app, &admin).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(received.contains(&thread_id), "{received}");

    app.post(
        &format!("/sms/threads/{thread_id}/read"),
        Some(&admin),
        &json!({}),
    )
    .await;

    let read = read_until(&mut chunks, "thread.read").await;
    assert!(read.contains(&thread_id), "{read}");
}

#[tokio::test]
async fn the_event_stream_needs_a_session() {
    let app = spawn_app().await;

    let response = app.get("/sms/events", None).await;

    problem(response, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_reply_received_by_one_replica_reaches_event_streams_on_another() {
    if nextal_tests::backend_name() != "postgres" {
        // Replicas share a database only on PostgreSQL.
        return;
    }
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    ann(&app, &admin).await;
    let replica = nextal_api::Application::build(&app.settings).await.unwrap();
    let replica_address = format!("http://127.0.0.1:{}", replica.port());
    tokio::spawn(replica.run_until_stopped());
    let mut chunks = event_stream(&app, format!("{replica_address}/sms/events"), &admin).await;

    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000014",
        &phone(1),
        "Across",
    )
    .await;

    read_until(&mut chunks, "message.received").await;
}

#[tokio::test]
async fn a_receipt_that_overtakes_our_record_of_the_send_keeps_the_message_delivered() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(|request: &wiremock::Request| {
            // ClickSend answers slowly; its receipt arrives in the meantime.
            wiremock::Respond::respond(&nextal_tests::fakes::ClickSendAccepts, request)
                .set_delay(Duration::from_millis(800))
        })
        .mount(&app.clicksend)
        .await;
    let candidate = ann(&app, &admin).await;
    let id = send_one(&app, &admin, &candidate, "Quick one").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider_id = format!("CS-{id}");

    let overtake = async {
        while app.clicksend.received_requests().await.unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        receipt(
            &app,
            &receipts,
            &[
                ("message_id", &provider_id),
                ("status_code", "201"),
                ("custom_string", &id),
            ],
        )
        .await
    };
    let (report, delivered) = tokio::join!(app.drain_at(Utc::now()), overtake);

    assert_eq!(report.provider_requests, 1);
    assert_eq!(delivered["outcome"], "applied");
    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(stored["provider_message_id"], provider_id.as_str());
    assert_eq!(stored["price"], "0.0700");
    let statuses: Vec<&str> = stored["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["queued", "delivered"]);
}
