//! Reconciliation with the providers' records: replies and receipts whose webhook never
//! came are read back from ClickSend's history and Twilio's message list and applied
//! once; a webhook arriving afterwards changes nothing twice.

use chrono::{TimeDelta, Utc};
use nextal_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_contains};
use wiremock::{Mock, ResponseTemplate};

use crate::failures::failure_of;
use crate::messaging::{message, phone};
use crate::webhooks::{
    TWILIO_MESSAGE_SID, TWILIO_SID, clicksend_inbox, count, receipt, reply_form, sent_to_ann,
    sent_to_cy_through_twilio, threads, twilio_inbox, twilio_post, twilio_reply, twilio_signature,
};

const CLICKSEND_REPLY_ID: &str = "5E1F0A7C-3B1D-4C8E-9A2B-1C2D3E4F5A6B";
const TWILIO_REPLY_SID: &str = "SM99999999999999999999999999999999";
const TWILIO_SENT_SID: &str = "SM44444444444444444444444444444444";

/// ClickSend's history as one page of `records`, for any `date_from`.
async fn clicksend_history(app: &TestApp, records: Value) {
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param_contains("date_from", ""))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Here is your history.",
            "data": {"total": 1, "per_page": 100, "current_page": 1, "last_page": 1,
                     "next_page_url": null, "prev_page_url": null, "from": 1, "to": 1,
                     "data": records}
        })))
        .with_priority(1)
        .mount(&app.clicksend)
        .await;
}

/// Twilio's message list as one page of `messages`.
async fn twilio_list(app: &TestApp, messages: Value) {
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messages": messages, "next_page_uri": null, "page": 0, "page_size": 100
        })))
        .mount(&app.twilio)
        .await;
}

async fn inbound_messages(app: &TestApp) -> i64 {
    count(app, "sms_messages WHERE direction = 'inbound'").await
}

/// The statuses a message went through.
async fn statuses(app: &TestApp, admin: &str, id: &str) -> Vec<String> {
    message(app, admin, id).await["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap().to_owned())
        .collect()
}

/// ClickSend's answer to `GET /v3/sms/receipts/{provider_id}`: the receipt `record`.
fn clicksend_receipt_record(provider_id: &str, record: Value) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!("/v3/sms/receipts/{provider_id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Receipt found.",
            "data": record
        })))
}

/// Twilio's answer to fetching message `sid`: `record`, asked for exactly once.
fn twilio_message_record(sid: &str, record: Value) -> Mock {
    Mock::given(method("GET"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(record))
        .expect(1)
}

/// Message `id` as its thread's message list shows it.
async fn in_its_thread(app: &TestApp, admin: &str, id: &str) -> Value {
    let thread = message(app, admin, id).await["thread_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = app
        .get_json(&format!("/sms/threads/{thread}/messages"), admin)
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id)
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_clicksend_reply_whose_webhook_never_came_is_stored_once_and_its_late_webhook_is_a_duplicate()
 {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let now = Utc::now();
    clicksend_history(
        &app,
        json!([
            {"direction": "in", "date": now.timestamp().to_string(), "to": "+61411111111",
             "from": phone(7), "body": "Yes, 10 works", "status": "Received",
             "message_id": CLICKSEND_REPLY_ID, "custom_string": ""},
            // Another number of the same account: not ours to thread.
            {"direction": "in", "date": now.timestamp(), "to": "+61499999999",
             "from": phone(8), "body": "Wrong number", "message_id": "OTHER-NUMBER-REPLY"}
        ]),
    )
    .await;

    let first = app.reconcile_at(now).await;
    let again = app.reconcile_at(now + TimeDelta::minutes(1)).await;
    let late = reply_form(
        &app,
        &inbound,
        CLICKSEND_REPLY_ID,
        &phone(7),
        "Yes, 10 works",
    )
    .await;

    assert_eq!((first.replies_found, first.replies_applied), (1, 1));
    assert_eq!((again.replies_found, again.replies_applied), (0, 0));
    assert_eq!(late["outcome"], "duplicate");
    assert_eq!(inbound_messages(&app).await, 1);
    let page = threads(&app, &admin).await;
    assert_eq!(page["items"][0]["phone"], phone(7));
    assert_eq!(page["items"][0]["unread_count"], 1);
    assert_eq!(page["unread_total"], 1);
    assert_eq!(
        count(
            &app,
            "webhook_deliveries WHERE payload LIKE '%reconciliation%'"
        )
        .await,
        1,
        "the reply read back is kept in the raw log like a webhook"
    );
}

#[tokio::test]
async fn a_clicksend_receipt_whose_webhook_never_came_is_applied_once_and_its_late_webhook_is_stale()
 {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    let now = Utc::now();
    clicksend_history(
        &app,
        json!([{"direction": "out", "date": now.timestamp(), "to": phone(1),
                "from": "+61411111111", "body": "Interview at 10?", "status": "Completed",
                "status_code": "201", "status_text": "Success: Message received on handset.",
                "error_code": null, "error_text": null, "message_id": provider_id,
                "custom_string": id}]),
    )
    .await;

    let first = app.reconcile_at(now).await;
    let again = app.reconcile_at(now + TimeDelta::minutes(1)).await;
    let late = receipt(
        &app,
        &receipts,
        &[
            ("message_id", &provider_id),
            ("status_code", "201"),
            ("custom_string", &id),
        ],
    )
    .await;

    assert_eq!((first.receipts_found, first.receipts_applied), (1, 1));
    assert_eq!(again.receipts_found, 0);
    assert_eq!(late["outcome"], "stale");
    assert_eq!(
        statuses(&app, &admin, &id).await,
        ["queued", "sent", "delivered"]
    );
}

#[tokio::test]
async fn a_twilio_reply_and_status_whose_webhooks_never_came_are_applied_once() {
    let app = spawn_app().await;
    let (admin, inbound, status) = twilio_inbox(&app).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": TWILIO_SENT_SID, "status": "queued", "num_segments": "1"}),
        ))
        .mount(&app.twilio)
        .await;
    let candidate = crate::messaging::ann(&app, &admin).await;
    let id = crate::messaging::send_one(&app, &admin, &candidate, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_at(Utc::now()).await;
    twilio_list(
        &app,
        json!([
            {"sid": TWILIO_REPLY_SID, "direction": "inbound", "from": phone(1),
             "to": "+14155550100", "body": "See you then", "status": "received",
             "error_code": null, "error_message": null,
             "date_sent": "Mon, 07 Dec 2026 09:00:00 +0000"},
            {"sid": TWILIO_SENT_SID, "direction": "outbound-api", "from": "+14155550100",
             "to": phone(1), "body": "Hello", "status": "delivered",
             "error_code": null, "error_message": null,
             "date_sent": "Mon, 07 Dec 2026 08:59:00 +0000"}
        ]),
    )
    .await;

    let now = Utc::now();
    let first = app.reconcile_at(now).await;
    let again = app.reconcile_at(now + TimeDelta::minutes(1)).await;
    let reply = twilio_reply(TWILIO_REPLY_SID, &phone(1), "See you then");
    let reply: Vec<(&str, &str)> = reply.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let inbound_url = format!("{}{inbound}", app.settings.public_url);
    let late_reply = twilio_post(
        &app,
        &inbound,
        &reply,
        &twilio_signature(&inbound_url, &reply),
    )
    .await;
    let callback = [
        ("MessageSid", TWILIO_SENT_SID),
        ("AccountSid", TWILIO_SID),
        ("From", "+14155550100"),
        ("MessageStatus", "delivered"),
    ];
    let status_url = format!("{}{status}", app.settings.public_url);
    let late_status = twilio_post(
        &app,
        &status,
        &callback,
        &twilio_signature(&status_url, &callback),
    )
    .await;

    assert_eq!((first.replies_found, first.replies_applied), (1, 1));
    assert_eq!((first.receipts_found, first.receipts_applied), (1, 1));
    assert_eq!((again.replies_found, again.receipts_found), (0, 0));
    assert_eq!(late_reply.status(), StatusCode::OK);
    assert_eq!(late_status.status(), StatusCode::OK);
    assert_eq!(inbound_messages(&app).await, 1);
    assert_eq!(
        statuses(&app, &admin, &id).await,
        ["queued", "sent", "delivered"]
    );
    let outcomes = app
        .count(
            "SELECT COUNT(*) AS n FROM webhook_deliveries \
             WHERE outcome IN ('duplicate', 'stale') AND payload NOT LIKE '%reconciliation%'",
        )
        .await;
    assert_eq!(outcomes, 2, "both late webhooks changed nothing");
    let threads = threads(&app, &admin).await;
    assert_eq!(threads["unread_total"], 1);
}

#[tokio::test]
async fn a_message_left_sent_has_its_status_asked_of_clicksend_and_not_again_soon() {
    let app = spawn_app().await;
    let (admin, _, _) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    clicksend_history(&app, json!([])).await;
    clicksend_receipt_record(
        &provider_id,
        json!({"timestamp_send": 1764199990, "timestamp": 1764200000,
               "message_id": provider_id, "status_code": "301",
               "status_text": "Failed: Absent subscriber", "error_code": "9",
               "error_text": "Absent subscriber", "custom_string": id,
               "message_type": "sms"}),
    )
    .expect(1)
    .mount(&app.clicksend)
    .await;
    let now = Utc::now();

    let early = app.reconcile_at(now + TimeDelta::minutes(5)).await;
    let due = app.reconcile_at(now + TimeDelta::minutes(20)).await;
    let soon_after = app.reconcile_at(now + TimeDelta::minutes(25)).await;

    assert_eq!(
        early.statuses_checked, 0,
        "a receipt may still come by webhook"
    );
    assert_eq!((due.statuses_checked, due.receipts_applied), (1, 1));
    assert_eq!(
        soon_after.statuses_checked, 0,
        "no longer sent: nothing to ask"
    );
    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "undelivered");
    assert!(
        stored["status_reason"]
            .as_str()
            .unwrap()
            .contains("Absent subscriber"),
        "{stored}"
    );
    // ClickSend's words win over a gateway code whose numbering changed; the code is kept.
    assert_eq!(
        (&stored["failure_reason"], &stored["provider_error_code"]),
        (&json!("unreachable"), &json!("9"))
    );
}

#[tokio::test]
async fn a_failure_clicksend_reports_when_asked_shows_its_reason_and_code_in_the_thread() {
    let app = spawn_app().await;
    let (admin, _, _) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    clicksend_history(&app, json!([])).await;
    // Words that name nothing (no `error_text`): the gateway code decides.
    clicksend_receipt_record(
        &provider_id,
        json!({"timestamp_send": 1764199990, "timestamp": 1764200000,
               "message_id": provider_id, "status_code": 301, "status_text": "Failed",
               "error_code": 11, "error_text": null, "custom_string": id,
               "message_type": "sms"}),
    )
    .mount(&app.clicksend)
    .await;

    let due = app.reconcile_at(Utc::now() + TimeDelta::minutes(20)).await;

    assert_eq!((due.statuses_checked, due.receipts_applied), (1, 1));
    let failed = in_its_thread(&app, &admin, &id).await;
    assert_eq!(failure_of(&failed), ("undelivered", "not_mobile", "11"));
    let candidate = failed["candidate_id"].as_str().unwrap();
    assert_eq!(
        app.get_json(&format!("/candidates/{candidate}"), &admin)
            .await["phone_not_mobile"],
        true
    );
}

#[tokio::test]
async fn a_message_still_without_a_receipt_is_asked_about_again_only_after_a_while() {
    let app = spawn_app().await;
    let (admin, _, _) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    clicksend_history(&app, json!([])).await;
    Mock::given(method("GET"))
        .and(path(format!("/v3/sms/receipts/{provider_id}")))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "http_code": 404, "response_code": "NOT_FOUND",
            "response_msg": "Receipt record not found.", "data": null
        })))
        .mount(&app.clicksend)
        .await;
    let now = Utc::now();

    let first = app.reconcile_at(now + TimeDelta::minutes(20)).await;
    let soon = app.reconcile_at(now + TimeDelta::minutes(30)).await;
    let later = app.reconcile_at(now + TimeDelta::minutes(51)).await;

    assert_eq!(first.statuses_checked, 1);
    assert_eq!(soon.statuses_checked, 0);
    assert_eq!(later.statuses_checked, 1);
    assert_eq!(message(&app, &admin, &id).await["status"], "sent");
}

#[tokio::test]
async fn a_twilio_message_left_sent_has_its_status_fetched() {
    let app = spawn_app().await;
    let (admin, _, _) = twilio_inbox(&app).await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": TWILIO_SENT_SID, "status": "queued", "num_segments": "1"}),
        ))
        .mount(&app.twilio)
        .await;
    twilio_list(&app, json!([])).await;
    twilio_message_record(
        TWILIO_SENT_SID,
        json!({
            "sid": TWILIO_SENT_SID, "direction": "outbound-api", "status": "delivered",
            "error_code": null, "error_message": null
        }),
    )
    .mount(&app.twilio)
    .await;
    let candidate = crate::messaging::ann(&app, &admin).await;
    let id = crate::messaging::send_one(&app, &admin, &candidate, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.drain_at(Utc::now()).await;

    let report = app.reconcile_at(Utc::now() + TimeDelta::minutes(20)).await;

    assert_eq!((report.statuses_checked, report.receipts_applied), (1, 1));
    assert_eq!(message(&app, &admin, &id).await["status"], "delivered");
}

#[tokio::test]
async fn a_failure_twilio_reports_when_fetched_shows_its_reason_and_code_in_the_thread() {
    let app = spawn_app().await;
    let (admin, _, _, id) = sent_to_cy_through_twilio(&app).await;
    twilio_list(&app, json!([])).await;
    twilio_message_record(
        TWILIO_MESSAGE_SID,
        json!({
            "sid": TWILIO_MESSAGE_SID, "direction": "outbound-api", "status": "undelivered",
            "error_code": 30003, "error_message": "Unreachable destination handset"
        }),
    )
    .mount(&app.twilio)
    .await;

    let report = app.reconcile_at(Utc::now() + TimeDelta::minutes(20)).await;

    assert_eq!((report.statuses_checked, report.receipts_applied), (1, 1));
    let failed = in_its_thread(&app, &admin, &id).await;
    assert_eq!(failure_of(&failed), ("undelivered", "unreachable", "30003"));
    assert!(
        failed["status_reason"]
            .as_str()
            .unwrap()
            .contains("Unreachable destination handset"),
        "{failed}"
    );
}

#[tokio::test]
async fn the_history_is_read_from_where_the_last_round_ended_less_an_overlap() {
    let app = spawn_app().await;
    clicksend_inbox(&app).await;
    clicksend_history(&app, json!([])).await;
    let start = Utc::now();

    app.reconcile_at(start).await;
    app.reconcile_at(start + TimeDelta::hours(1)).await;

    let froms: Vec<i64> = app
        .clicksend
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == "/v3/sms/history")
        .map(|request| {
            request
                .url
                .query_pairs()
                .find(|(name, _)| name == "date_from")
                .unwrap()
                .1
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    let first_lookback = start.timestamp() - froms[0];
    assert!(
        (86_400 - 1..=86_400 + 1).contains(&first_lookback),
        "{first_lookback}"
    );
    let overlap = start.timestamp() - froms[1];
    assert!((600 - 1..=600 + 1).contains(&overlap), "{overlap}");
}

#[tokio::test]
async fn a_provider_that_cannot_be_read_fails_the_round_for_it_and_the_next_round_starts_from_the_same_place()
 {
    let app = spawn_app().await;
    clicksend_inbox(&app).await;
    Mock::given(method("GET"))
        .and(path("/v3/sms/history"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&app.clicksend)
        .await;
    clicksend_history(&app, json!([])).await;
    let start = Utc::now();

    let failed = app.reconcile_at(start).await;
    let next = app.reconcile_at(start + TimeDelta::minutes(1)).await;

    assert_eq!(failed.failed, 1);
    assert_eq!((next.failed, next.integrations), (0, 1));
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("nextal_reconcile_failures_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_reply_kept_aside_while_its_provider_was_inactive_is_not_threaded_by_reconciliation() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let settings =
        |active: bool| json!({"active": active, "phone_number": "+61411111111", "username": "ops"});
    app.put("/integrations/clicksend", Some(&admin), &settings(false))
        .await;
    let kept = reply_form(&app, &inbound, CLICKSEND_REPLY_ID, &phone(7), "While off").await;
    app.put("/integrations/clicksend", Some(&admin), &settings(true))
        .await;
    clicksend_history(
        &app,
        json!([{"direction": "in", "date": Utc::now().timestamp(), "to": "+61411111111",
                "from": phone(7), "body": "While off",
                "message_id": CLICKSEND_REPLY_ID.to_ascii_lowercase()}]),
    )
    .await;

    let report = app.reconcile_at(Utc::now()).await;

    assert_eq!(kept["outcome"], "provider_inactive");
    assert_eq!(report.replies_found, 0);
    assert_eq!(inbound_messages(&app).await, 0);
}
