//! Sending through the outbox: single, bulk and scheduled sends, retries, settlement of
//! unknown outcomes, idempotency and deactivation, against fake providers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use nextal_tests::fakes::ClickSendAccepts;
use nextal_tests::{AppOptions, NewCandidate, TestApp, problem, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";

pub(crate) async fn accept_everything(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&app.clicksend)
        .await;
}

/// Saves the ClickSend card switched off: a deactivation.
pub(crate) async fn deactivate_clicksend(app: &TestApp, admin: &str) -> reqwest::Response {
    app.put(
        "/integrations/clicksend",
        Some(admin),
        &json!({"active": false, "phone_number": "+61411111111", "username": "ops"}),
    )
    .await
}

pub(crate) async fn activate_clicksend(app: &TestApp, admin: &str) {
    let response = app
        .put(
            "/integrations/clicksend",
            Some(admin),
            &json!({"active": true, "phone_number": "+61411111111", "username": "ops"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .put(
            "/integrations/clicksend/api-key",
            Some(admin),
            &json!({"api_key": "key-for-tests"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Every message ClickSend was asked to send, request by request.
pub(crate) async fn clicksend_sends(app: &TestApp) -> Vec<Vec<Value>> {
    app.clicksend
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v3/sms/send")
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["messages"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect()
}

pub(crate) fn phone(n: usize) -> String {
    format!("+614{:08}", 10_000_000 + n)
}

/// One reachable candidate, Ann, at `phone(1)`; returns her id.
pub(crate) async fn ann(app: &TestApp, admin: &str) -> String {
    let organization = app.organization_id(admin).await;
    let ids = app
        .insert_candidates(&organization, vec![NewCandidate::new("Ann", &phone(1))])
        .await;
    ids[0].clone()
}

/// Schedules a reminder to `candidate_id` at `at`; returns the message.
async fn schedule_reminder(
    app: &TestApp,
    admin: &str,
    candidate_id: &str,
    at: chrono::DateTime<Utc>,
) -> Value {
    let response = app
        .post(
            "/sms/messages",
            Some(admin),
            &json!({"candidate_id": candidate_id, "body": "Reminder", "send_at": at}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

pub(crate) async fn message(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/sms/messages/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap()
}

pub(crate) async fn send_one(app: &TestApp, token: &str, candidate_id: &str, text: &str) -> Value {
    let response = app
        .post(
            "/sms/messages",
            Some(token),
            &json!({"candidate_id": candidate_id, "body": text}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_bulk_send_to_2500_candidates_makes_exactly_three_provider_requests() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..2500)
                .map(|n| NewCandidate::new(&format!("Cand{n}"), &phone(n)))
                .collect(),
        )
        .await;

    let response = app
        .post("/sms/bulk", Some(&admin), &json!({"candidate_ids": ids, "body": "Hi {{candidate.first_name}}, from {{recruiter.first_name}}"}))
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["accepted"], 2500);
    assert_eq!(accepted["skipped"], json!([]));
    let report = app.drain_at(Utc::now()).await;
    assert_eq!(report.sent, 2500);
    let sends = clicksend_sends(&app).await;
    assert_eq!(
        sends.iter().map(Vec::len).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    let first = &sends[0][0];
    assert_eq!(first["from"], "+61411111111");
    assert!(first["to"].as_str().unwrap().starts_with("+614"));
    let bodies: std::collections::HashSet<&str> = sends
        .iter()
        .flatten()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies.len(),
        2500,
        "each candidate gets their own merge fields"
    );
    assert!(bodies.contains("Hi Cand0, from Admin") && bodies.contains("Hi Cand2499, from Admin"));
    let batch: Value = app
        .get(
            &format!("/sms/batches/{}", accepted["batch_id"].as_str().unwrap()),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(batch["statuses"], json!({"sent": 2500}));
}

#[tokio::test]
async fn bulk_skips_who_cannot_be_texted_and_says_why() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            vec![
                NewCandidate::new("Ann", &phone(1)),
                NewCandidate {
                    first_name: "Bob".into(),
                    phone: None,
                    opted_out: false,
                },
                NewCandidate {
                    first_name: "Cy".into(),
                    phone: Some(phone(3)),
                    opted_out: true,
                },
                NewCandidate::new("Di", &phone(1)),
            ],
        )
        .await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let mut requested = ids.clone();
    requested.push(unknown.clone());

    let accepted: Value = app
        .post(
            "/sms/bulk",
            Some(&admin),
            &json!({"candidate_ids": requested, "body": "Hello"}),
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(accepted["accepted"], 1);
    assert_eq!(
        accepted["skipped"],
        json!([
            {"candidate_id": ids[1], "reason": "no_phone"},
            {"candidate_id": ids[2], "reason": "opted_out"},
            {"candidate_id": ids[3], "reason": "duplicate_number"},
            {"candidate_id": unknown, "reason": "not_found"},
        ])
    );
}

#[tokio::test]
async fn sending_needs_an_active_provider_with_its_secret() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ids = [ann(&app, &admin).await];

    let none = problem(
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "Hi"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    app.put(
        "/integrations/twilio",
        Some(&admin),
        &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
    )
    .await;
    let keyless = problem(
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "Hi"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(
        none["type"],
        "https://nextal.app/problems/no-active-provider"
    );
    assert_eq!(
        keyless["type"],
        "https://nextal.app/problems/provider-credential-missing"
    );
}

#[tokio::test]
async fn an_opted_out_candidate_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            vec![NewCandidate {
                first_name: "Cy".into(),
                phone: Some(phone(3)),
                opted_out: true,
            }],
        )
        .await;

    let body = problem(
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "Hi"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    assert_eq!(body["errors"][0]["field"], "candidate_id");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("opted out")
    );
}

#[tokio::test]
async fn an_unknown_merge_field_or_a_too_long_text_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];

    let unknown = problem(
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "Hi {{candidate.phone}}"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let long = problem(
        app.post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "x".repeat(919)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    assert!(
        unknown["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("{{candidate.first_name}}")
    );
    assert!(
        long["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("6 segments")
    );
}

#[tokio::test]
async fn errors_then_success_send_the_message_exactly_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"http_code": 500, "response_code": "INTERNAL_SERVER_ERROR"})),
        )
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "30")
                .set_body_json(json!({"http_code": 429, "response_code": "TOO_MANY_REQUESTS"})),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .with_priority(3)
        .mount(&app.clicksend)
        .await;
    // The history knows nothing of the failed attempts.
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"http_code": 200, "response_code": "SUCCESS",
            "data": {"total": 0, "current_page": 1, "last_page": 1, "data": []}})),
        )
        .mount(&app.clicksend)
        .await;
    let queued = send_one(&app, &admin, &ids[0], "Hello Ann").await;

    let mut now = Utc::now();
    for _ in 0..10 {
        app.drain_at(now).await;
        now += TimeDelta::minutes(10);
    }

    let sent = message(&app, &admin, queued["id"].as_str().unwrap()).await;
    assert_eq!(sent["status"], "sent");
    assert_eq!(
        sent["provider_message_id"],
        format!("CS-{}", queued["id"].as_str().unwrap())
    );
    let sends = clicksend_sends(&app).await;
    assert_eq!(sends.len(), 4, "500, 500, 429, then the send that worked");
    let history: Vec<&str> = sent["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history.first(), Some(&"queued"));
    assert_eq!(history.last(), Some(&"sent"));
    assert_eq!(history.iter().filter(|s| **s == "sent").count(), 1);
}

#[tokio::test]
async fn a_timeout_after_the_provider_accepted_is_settled_not_resent() {
    let app = spawn_app_with(AppOptions {
        provider_timeout_secs: Some(1),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        // Accepted, but the answer comes after our 1 s timeout.
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&app.clicksend)
        .await;
    let queued = send_one(&app, &admin, &ids[0], "Hello Ann").await;
    let id = queued["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET")).and(path("/v3/sms/history"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"http_code": 200, "response_code": "SUCCESS",
            "data": {"total": 1, "current_page": 1, "last_page": 1, "data": [
                {"direction": "out", "message_id": "CS-ACCEPTED-1", "custom_string": id, "status": "Sent", "to": phone(1)}]}})))
        .mount(&app.clicksend).await;
    let now = Utc::now();

    // In doubt once the request times out (1 s), looked up 5 s later
    // (NEXTAL_SETTLE_DELAY_SECS).
    let first = app.dispatch_at(now).await;
    let early = app.dispatch_at(now + TimeDelta::seconds(4)).await;
    let settled = app.dispatch_at(now + TimeDelta::seconds(8)).await;
    let later = app.drain_at(now + TimeDelta::minutes(30)).await;

    assert_eq!(
        (
            first.in_doubt,
            early.settled,
            settled.settled,
            later.provider_requests
        ),
        (1, 0, 1, 0)
    );
    let sent = message(&app, &admin, &id).await;
    assert_eq!(sent["status"], "sent");
    assert_eq!(sent["provider_message_id"], "CS-ACCEPTED-1");
    assert_eq!(
        clicksend_sends(&app).await.len(),
        1,
        "never handed over twice"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_replays_the_first_answer_and_sends_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let ids = [ann(&app, &admin).await];
    let request = json!({"candidate_id": ids[0], "body": "Interview at 10?"});
    let send = |body: Value| {
        app.client
            .post(app.url("/sms/messages"))
            .bearer_auth(&admin)
            .header("idempotency-key", "abc-123")
            .json(&body)
            .send()
    };

    let first = send(request.clone()).await.unwrap();
    let second = send(request.clone()).await.unwrap();
    let different = send(json!({"candidate_id": ids[0], "body": "Something else"}))
        .await
        .unwrap();

    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(
        second
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let (first, second): (Value, Value) =
        (first.json().await.unwrap(), second.json().await.unwrap());
    assert_eq!(first, second);
    problem(different, StatusCode::CONFLICT).await;
    let report = app.drain_at(Utc::now()).await;
    assert_eq!(report.sent, 1);
}

#[tokio::test]
async fn a_scheduled_message_goes_out_at_its_time_and_not_before() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let ids = [ann(&app, &admin).await];
    let at = Utc::now() + TimeDelta::hours(1);

    let scheduled = schedule_reminder(&app, &admin, &ids[0], at).await;
    let before = app.drain_at(at - TimeDelta::seconds(1)).await;
    let after = app.drain_at(at + TimeDelta::seconds(1)).await;

    assert_eq!(scheduled["status"], "scheduled");
    assert_eq!((before.provider_requests, after.provider_requests), (0, 1));
    let sent = message(&app, &admin, scheduled["id"].as_str().unwrap()).await;
    assert_eq!(sent["status"], "sent");
}

#[tokio::test]
async fn a_scheduled_message_can_be_cancelled_until_it_goes_out() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let ids = [ann(&app, &admin).await];
    let at = Utc::now() + TimeDelta::hours(1);
    let scheduled = schedule_reminder(&app, &admin, &ids[0], at).await;
    let id = scheduled["id"].as_str().unwrap();

    let cancelled: Value = app
        .post(
            &format!("/sms/messages/{id}/cancel"),
            Some(&admin),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let later = app.drain_at(at + TimeDelta::minutes(1)).await;
    let sent = send_one(&app, &admin, &ids[0], "Now").await;
    app.drain_at(Utc::now()).await;
    let too_late = app
        .post(
            &format!("/sms/messages/{}/cancel", sent["id"].as_str().unwrap()),
            Some(&admin),
            &json!({}),
        )
        .await;

    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(later.provider_requests, 0);
    problem(too_late, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn deactivation_during_a_bulk_send_stops_every_later_hand_over() {
    let app = spawn_app_with(AppOptions {
        dispatch_batch: Some(1000),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let (batch_id, _) = accepted_bulk_send_to_2500(&app, &admin).await;
    let first_round = app.dispatch_at(Utc::now()).await;

    let response = deactivate_clicksend(&app, &admin).await;
    assert_eq!(response.status(), StatusCode::OK);
    let after = app.drain_at(Utc::now() + TimeDelta::minutes(5)).await;

    assert_eq!(
        (first_round.provider_requests, after.provider_requests),
        (1, 0)
    );
    assert_eq!(clicksend_sends(&app).await.len(), 1);
    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"sent": 1000, "cancelled": 1500})
    );
}

/// 2,500 candidates of the organization, ClickSend active and accepting, and a bulk send
/// to them accepted: the batch's id and the candidates'.
async fn accepted_bulk_send_to_2500(app: &TestApp, admin: &str) -> (String, Vec<String>) {
    activate_clicksend(app, admin).await;
    accept_everything(app).await;
    let organization = app.organization_id(admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..2500)
                .map(|n| NewCandidate::new("C", &phone(n)))
                .collect(),
        )
        .await;
    let response = app
        .post(
            "/sms/bulk",
            Some(admin),
            &json!({"candidate_ids": ids, "body": "Hi"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: Value = response.json().await.unwrap();
    (accepted["batch_id"].as_str().unwrap().to_owned(), ids)
}

async fn batch_statuses(app: &TestApp, admin: &str, batch_id: &str) -> Value {
    app.get_json(&format!("/sms/batches/{batch_id}"), admin)
        .await["statuses"]
        .clone()
}

#[tokio::test]
async fn a_bulk_send_answers_before_its_messages_are_written_and_the_outbox_writes_each_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (batch_id, _) = accepted_bulk_send_to_2500(&app, &admin).await;

    // Answered: the batch shows every message queued before any row is written.
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sms_messages").await, 0);
    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"queued": 2500})
    );

    let written = app.write_bulk_messages().await;
    let again = app.write_bulk_messages().await;

    assert_eq!((written, again), (2500, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sms_threads").await,
        2500
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sms_message_events e \
             JOIN sms_messages m ON m.id = e.message_id WHERE e.status = 'queued'"
        )
        .await,
        2500
    );
    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"queued": 2500})
    );
    assert_eq!(app.drain_at(Utc::now()).await.sent, 2500);
    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"sent": 2500})
    );
}

#[tokio::test]
async fn a_bulk_chunk_the_database_refuses_to_write_waits_whole_and_is_written_later() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (batch_id, _) = accepted_bulk_send_to_2500(&app, &admin).await;
    // The events are written last: threads and messages are already in the
    // transaction when it fails.
    app.refuse_inserts("sms_message_events", "NEW.id IS NOT NULL")
        .await;

    let refused = app.dispatcher.write_waiting_chunks().await;

    assert!(refused.is_err());
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sms_messages").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sms_threads").await, 0);
    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"queued": 2500})
    );
    app.accept_inserts("sms_message_events").await;
    assert_eq!(app.write_bulk_messages().await, 2500);
    assert_eq!(app.drain_at(Utc::now()).await.sent, 2500);
}

#[tokio::test]
async fn a_message_sent_right_after_a_bulk_send_goes_after_the_bulk_sends_message() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, ids) = accepted_bulk_send_to_2500(&app, &admin).await;

    // Before the outbox has written the batch's messages.
    let follow_up = send_one(&app, &admin, &ids[0], "And one more thing").await;

    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sms_messages").await,
        2501,
        "the send wrote the waiting batch first"
    );
    let thread_id = follow_up["thread_id"].as_str().unwrap();
    let thread = app
        .get_json(&format!("/sms/threads/{thread_id}/messages"), &admin)
        .await;
    let bodies: Vec<&str> = thread["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["And one more thing", "Hi"], "newest first");
    assert_eq!(app.drain_at(Utc::now()).await.sent, 2501);
    let sends = clicksend_sends(&app).await;
    let to_first: Vec<&str> = sends
        .iter()
        .flatten()
        .filter(|sent| sent["to"] == phone(0))
        .map(|sent| sent["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        to_first,
        ["Hi", "And one more thing"],
        "handed over in that order"
    );
}

#[tokio::test]
async fn a_bulk_chunk_that_cannot_be_written_holds_up_no_other_send() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, ids) = accepted_bulk_send_to_2500(&app, &admin).await;
    // The first batch's messages ("Hi") are refused, as a constraint would refuse them.
    app.refuse_inserts("sms_messages", "NEW.body = 'Hi'").await;
    let second = app
        .post(
            "/sms/bulk",
            Some(&admin),
            &json!({"candidate_ids": ids[..10], "body": "Hello"}),
        )
        .await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);

    let refused = app.dispatcher.write_waiting_chunks().await;
    let single = app
        .post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[0], "body": "Still here"}),
        )
        .await;

    assert!(refused.is_err(), "the first batch's chunks failed");
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sms_messages WHERE body = 'Hello'")
            .await,
        10,
        "the later batch was written all the same"
    );
    assert_eq!(single.status(), StatusCode::ACCEPTED);
    app.accept_inserts("sms_messages").await;
    assert_eq!(app.write_bulk_messages().await, 2500);
    assert_eq!(app.drain_at(Utc::now()).await.sent, 2511);
}

#[tokio::test]
async fn deactivating_before_a_bulk_sends_messages_are_written_cancels_them_all() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (batch_id, _) = accepted_bulk_send_to_2500(&app, &admin).await;

    let response = deactivate_clicksend(&app, &admin).await;
    assert_eq!(response.status(), StatusCode::OK);

    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"cancelled": 2500})
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sms_messages \
             WHERE status = 'cancelled' AND status_reason = 'clicksend was deactivated'"
        )
        .await,
        2500
    );
    assert_eq!(app.write_bulk_messages().await, 0);
    assert_eq!(app.drain_at(Utc::now()).await.provider_requests, 0);
    assert!(clicksend_sends(&app).await.is_empty());
}

#[tokio::test]
async fn a_bulk_sends_messages_written_after_their_provider_went_inactive_are_cancelled() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (batch_id, _) = accepted_bulk_send_to_2500(&app, &admin).await;
    // Inactive without a deactivation's own cancelling, as a replica that wrote the
    // chunks a moment after a deactivation committed would find it.
    app.execute_sql("UPDATE integrations SET active = FALSE")
        .await;

    assert_eq!(app.write_bulk_messages().await, 2500);

    assert_eq!(
        batch_statuses(&app, &admin, &batch_id).await,
        json!({"cancelled": 2500})
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sms_message_events WHERE status = 'cancelled' \
             AND detail = 'clicksend was deactivated'"
        )
        .await,
        2500
    );
}

#[tokio::test]
async fn a_deactivation_waits_for_a_hand_over_in_flight_and_none_starts_after_it() {
    let app = spawn_app_with(AppOptions {
        dispatch_batch: Some(1000),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let calls = accept_slowly_counting(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..2000)
                .map(|n| NewCandidate::new("C", &phone(n)))
                .collect(),
        )
        .await;
    app.post(
        "/sms/bulk",
        Some(&admin),
        &json!({"candidate_ids": ids, "body": "Hi"}),
    )
    .await;

    let dispatcher = app.dispatcher.clone();
    let round = tokio::spawn(async move { dispatcher.run_once(Utc::now()).await });
    let deactivated = deactivate_clicksend(&app, &admin).await;
    let calls_at_deactivation = calls.load(Ordering::SeqCst);
    round.await.unwrap().unwrap();
    app.drain_at(Utc::now() + TimeDelta::minutes(5)).await;

    assert_eq!(deactivated.status(), StatusCode::OK);
    assert!(calls_at_deactivation <= 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        calls_at_deactivation,
        "no hand-over after the deactivation"
    );
}

/// ClickSend accepts every message after a short delay ([`CountingAccepts`]); the
/// count of its requests.
pub(crate) async fn accept_slowly_counting(app: &TestApp) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(CountingAccepts(calls.clone()))
        .mount(&app.clicksend)
        .await;
    calls
}

/// Accepts like [`ClickSendAccepts`], counting requests, after a short delay.
struct CountingAccepts(Arc<AtomicUsize>);

impl Respond for CountingAccepts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.0.fetch_add(1, Ordering::SeqCst);
        ClickSendAccepts
            .respond(request)
            .set_delay(Duration::from_millis(200))
    }
}

#[tokio::test]
async fn twilio_gets_one_request_per_message_with_an_idempotency_token_and_status_url() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.put(
        "/integrations/twilio",
        Some(&admin),
        &json!({"active": true, "phone_number": "+14155550100", "account_sid": TWILIO_SID}),
    )
    .await;
    app.put(
        "/integrations/twilio/auth-token",
        Some(&admin),
        &json!({"auth_token": "twilio-token-1"}),
    )
    .await;
    let sids = Arc::new(AtomicUsize::new(0));
    let counter = sids.clone();
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(move |_: &Request| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            ResponseTemplate::new(201).set_body_json(
                json!({"sid": format!("SM{n:032}"), "status": "queued", "num_segments": "1"}),
            )
        })
        .mount(&app.twilio)
        .await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..3)
                .map(|n| NewCandidate::new("C", &format!("+1415555{:04}", 200 + n)))
                .collect(),
        )
        .await;
    let card: Value = app
        .get("/integrations/twilio", Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    app.post(
        "/sms/bulk",
        Some(&admin),
        &json!({"candidate_ids": ids, "body": "Hi"}),
    )
    .await;
    let report = app.drain_at(Utc::now()).await;

    assert_eq!((report.sent, report.provider_requests), (3, 3));
    // The card's status URL, with the connection overrides that make Twilio retry a
    // callback we could not take.
    let status_url = card["webhooks"]["status_url"].as_str().unwrap();
    assert!(
        status_url.starts_with(&format!("{}/webhooks/twilio/", app.settings.public_url))
            && status_url.ends_with("/status#rc=5&rp=ct,rt,5xx"),
        "{status_url}"
    );
    let requests = app.twilio.received_requests().await.unwrap();
    let mut tokens = std::collections::HashSet::new();
    for request in &requests {
        let token = request
            .headers
            .get("i-twilio-idempotency-token")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(uuid::Uuid::parse_str(&token).is_ok());
        tokens.insert(token);
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
        let callbacks: Vec<&str> = form
            .iter()
            .filter(|(name, _)| name == "StatusCallback")
            .map(|(_, value)| value.as_str())
            .collect();
        assert_eq!(callbacks, [status_url], "{form:?}");
    }
    assert_eq!(tokens.len(), 3);
}

#[tokio::test]
async fn a_reply_goes_to_the_threads_number() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(&organization, vec![NewCandidate::new("Ann", &phone(7))])
        .await;
    let first = send_one(&app, &admin, &ids[0], "Hello").await;
    let thread = first["thread_id"].as_str().unwrap();

    let response = app
        .post(
            &format!("/sms/threads/{thread}/messages"),
            Some(&admin),
            &json!({"body": "Hi again {{candidate.first_name}}"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["thread_id"], first["thread_id"]);
    assert_eq!(reply["to_number"], phone(7));
    assert_eq!(reply["body"], "Hi again Ann");
    let other = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    problem(
        app.post(
            &format!("/sms/threads/{thread}/messages"),
            Some(&other),
            &json!({"body": "x"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(
            &format!("/sms/messages/{}", reply["id"].as_str().unwrap()),
            Some(&other),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn two_dispatchers_on_one_postgres_never_send_a_message_twice() {
    let app = spawn_app_with(AppOptions {
        dispatch_batch: Some(300),
        ..AppOptions::default()
    })
    .await;
    if app.database.sqlite_folder().is_some() {
        return; // Several replicas share a PostgreSQL database only.
    }
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    accept_everything(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            (0..2500)
                .map(|n| NewCandidate::new("C", &phone(n)))
                .collect(),
        )
        .await;
    app.post(
        "/sms/bulk",
        Some(&admin),
        &json!({"candidate_ids": ids, "body": "Hi"}),
    )
    .await;
    let replica = nextal_api::Application::build(&app.settings).await.unwrap();
    let (one, two) = (app.dispatcher.clone(), replica.dispatcher());

    let now = Utc::now();
    let drain = |dispatcher: nextal_api::dispatcher::Dispatcher| async move {
        let mut sent = 0;
        loop {
            let round = dispatcher.run_once(now).await.unwrap();
            sent += round.sent;
            if round.claimed == 0 {
                return sent;
            }
        }
    };
    let (a, b) = tokio::join!(drain(one), drain(two));

    assert_eq!(a + b, 2500);
    let references: Vec<String> = clicksend_sends(&app)
        .await
        .into_iter()
        .flatten()
        .map(|m| m["custom_string"].as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::HashSet<&String> = references.iter().collect();
    assert_eq!((references.len(), distinct.len()), (2500, 2500));
}

#[tokio::test]
async fn a_throttled_message_is_retried_not_failed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS",
            "data": {"messages": [{"to": phone(1), "status": "THROTTLED", "message_id": "T1"}]}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .with_priority(2)
        .mount(&app.clicksend)
        .await;
    let queued = send_one(&app, &admin, &ids[0], "Hello").await;
    let now = Utc::now();

    let first = app.dispatch_at(now).await;
    let second = app.drain_at(now + TimeDelta::minutes(1)).await;

    assert_eq!((first.retried, second.sent), (1, 1));
    assert_eq!(
        message(&app, &admin, queued["id"].as_str().unwrap()).await["status"],
        "sent"
    );
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_not_sent_by_its_late_owner() {
    use nextal_persistence::repo::messages;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];
    send_one(&app, &admin, &ids[0], "Hello").await;
    // At the microsecond, as both databases store times.
    let now = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .unwrap()
        .naive_utc();
    let at = |seconds| now + TimeDelta::seconds(seconds);
    let mut conn = app.db.conn().await.unwrap();
    let claimed = messages::claim_due(&mut conn, now, at(15), 10)
        .await
        .unwrap();
    let id = [claimed[0].id.clone()];

    // Renewed in time under the claim's lease; then the owner stalls past the renewal.
    let renewed = messages::refresh_lease(&mut conn, &id, &[at(15)], at(10), at(25))
        .await
        .unwrap();
    let ours = [at(15), at(25)];
    let too_late = messages::refresh_lease(&mut conn, &id, &ours, at(26), at(41))
        .await
        .unwrap();
    // Another replica takes it for settlement; the late owner, whose clock may lag,
    // finds it under a lease that is not one of its own and leaves it alone.
    let settling = messages::claim_in_doubt(&mut conn, at(26), at(41), 10)
        .await
        .unwrap();
    let late_renewal = messages::refresh_lease(&mut conn, &id, &ours, at(20), at(35))
        .await
        .unwrap();
    let late_hand_back = messages::hand_back(&mut conn, &id, &ours, at(30), "late", at(20))
        .await
        .unwrap();
    let late_end = messages::end_claim(&mut conn, &id, &ours, at(20))
        .await
        .unwrap();
    let settler_renewal = messages::refresh_lease(&mut conn, &id, &[at(41)], at(30), at(45))
        .await
        .unwrap();

    assert_eq!(renewed, id);
    assert!(too_late.is_empty(), "another replica may hold it by now");
    assert_eq!(settling.len(), 1);
    assert!(late_renewal.is_empty());
    assert_eq!((late_hand_back, late_end), (0, 0));
    assert_eq!(
        settler_renewal, id,
        "the settling replica's lease is its token"
    );
}

#[tokio::test]
async fn a_claim_handed_back_is_queued_again_without_an_attempt() {
    use nextal_persistence::repo::messages;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let ids = [ann(&app, &admin).await];
    let queued = send_one(&app, &admin, &ids[0], "Hello").await;
    // At the microsecond, as both databases store times.
    let now = chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros())
        .unwrap()
        .naive_utc();
    let at = |seconds| now + TimeDelta::seconds(seconds);
    let mut conn = app.db.conn().await.unwrap();
    let claimed = messages::claim_due(&mut conn, now, at(15), 10)
        .await
        .unwrap();
    let id = [claimed[0].id.clone()];
    messages::refresh_lease(&mut conn, &id, &[at(15)], at(5), at(20))
        .await
        .unwrap();

    // Any lease the holder gave it is its token, the renewed one included.
    let handed_back = messages::hand_back(&mut conn, &id, &[at(15), at(20)], at(12), "held", at(6))
        .await
        .unwrap();

    assert_eq!((claimed[0].attempts, handed_back), (1, 1));
    let stored = messages::find_many(&mut conn, &id).await.unwrap();
    assert_eq!(
        (
            stored[0].status.as_str(),
            stored[0].attempts,
            stored[0].next_attempt_at,
            stored[0].lease_expires_at,
            stored[0].status_reason.as_deref(),
        ),
        ("queued", 0, at(12), None, Some("held"))
    );
    assert_eq!(
        message(&app, &admin, queued["id"].as_str().unwrap()).await["status"],
        "queued"
    );
}
