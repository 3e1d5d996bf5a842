//! Delivery quality: every failed or undelivered message says why, from a closed set a
//! recruiter can act on, beside the provider's own code; what a failure says about the
//! candidate (opted out, a number that cannot take SMS) is kept on the candidate.

use chrono::Utc;
use nextal_tests::{NewCandidate, TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::messaging::{message, phone, send_one};
use crate::webhooks::{
    clicksend_inbox, receipt, refused_by_twilio, sent_to_ann, sent_to_cy_through_twilio,
    twilio_callback,
};

async fn candidate(app: &TestApp, token: &str, id: &str) -> Value {
    app.get(&format!("/candidates/{id}"), Some(token))
        .await
        .json()
        .await
        .unwrap()
}

async fn bulk(app: &TestApp, token: &str, candidate_ids: &[&str]) -> Value {
    let response = app
        .post(
            "/sms/bulk",
            Some(token),
            &json!({"candidate_ids": candidate_ids, "body": "Still interested?"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_undelivered_twilio_message_says_unreachable_with_twilios_code() {
    let app = spawn_app().await;
    let (admin, status, _, id) = sent_to_cy_through_twilio(&app).await;

    twilio_callback(&app, &status, "undelivered", Some("30003")).await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(failure_of(&stored), ("undelivered", "unreachable", "30003"));
    assert!(
        stored["status_reason"]
            .as_str()
            .unwrap()
            .contains("Twilio's explanation"),
        "{stored}"
    );
}

#[tokio::test]
async fn a_carrier_opt_out_in_a_status_callback_opts_the_candidate_out() {
    let app = spawn_app().await;
    let (admin, status, cy, id) = sent_to_cy_through_twilio(&app).await;
    assert_eq!(candidate(&app, &admin, &cy).await["sms_opted_out"], false);

    twilio_callback(&app, &status, "failed", Some("21610")).await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["failure_reason"], "opted_out");
    assert_eq!(candidate(&app, &admin, &cy).await["sms_opted_out"], true);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM consent_events WHERE source = 'provider_refusal'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_landline_is_flagged_and_skipped_by_bulk_until_its_number_changes() {
    let app = spawn_app().await;
    let (admin, status, cy, id) = sent_to_cy_through_twilio(&app).await;
    let organization = app.organization_id(&admin).await;
    let dee = app
        .insert_candidates(&organization, vec![NewCandidate::new("Dee", &phone(7))])
        .await
        .remove(0);

    twilio_callback(&app, &status, "undelivered", Some("30006")).await;

    assert_eq!(
        message(&app, &admin, &id).await["failure_reason"],
        "not_mobile"
    );
    assert_eq!(candidate(&app, &admin, &cy).await["phone_not_mobile"], true);
    assert_eq!(
        candidate(&app, &admin, &dee).await["phone_not_mobile"],
        false
    );
    let accepted = bulk(&app, &admin, &[&cy, &dee]).await;
    assert_eq!(accepted["accepted"], 1);
    assert_eq!(
        accepted["skipped"],
        json!([{"candidate_id": cy, "reason": "not_mobile"}])
    );

    let response = app
        .patch(
            &format!("/candidates/{cy}"),
            Some(&admin),
            &json!({"phone": "+14155550124"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        candidate(&app, &admin, &cy).await["phone_not_mobile"],
        false
    );
    assert_eq!(bulk(&app, &admin, &[&cy]).await["accepted"], 1);
}

#[tokio::test]
async fn a_twilio_refusal_keeps_its_code_and_reason() {
    let app = spawn_app().await;
    let (admin, cy, id) = refused_by_twilio(
        &app,
        21211,
        "The 'To' number +14155550123 is not a valid phone number.",
    )
    .await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(failure_of(&stored), ("failed", "invalid_number", "21211"));
    assert_eq!(candidate(&app, &admin, &cy).await["sms_opted_out"], false);
    assert_eq!(
        candidate(&app, &admin, &cy).await["phone_not_mobile"],
        false
    );
}

#[tokio::test]
async fn twilio_refusing_a_number_that_is_not_mobile_flags_the_candidate_for_bulk() {
    let app = spawn_app().await;
    let (admin, cy, id) = refused_by_twilio(
        &app,
        21614,
        "'To' number +14155550123 is not a mobile number",
    )
    .await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(failure_of(&stored), ("failed", "not_mobile", "21614"));
    let flagged = candidate(&app, &admin, &cy).await;
    assert_eq!(
        (&flagged["phone_not_mobile"], &flagged["sms_opted_out"]),
        (&json!(true), &json!(false))
    );
    let accepted = bulk(&app, &admin, &[&cy]).await;
    assert_eq!(accepted["accepted"], 0);
    assert_eq!(
        accepted["skipped"],
        json!([{"candidate_id": cy, "reason": "not_mobile"}])
    );
}

/// A failed message's status, failure reason and provider code, as the API shows them.
pub(crate) fn failure_of(message: &Value) -> (&str, &str, &str) {
    let text = |field: &str| message[field].as_str().unwrap_or_default();
    (
        text("status"),
        text("failure_reason"),
        text("provider_error_code"),
    )
}

/// ClickSend's receipt that message `id` (`provider_id` at ClickSend) failed with
/// gateway `error_code` and, when given, `error_text`.
async fn failed_receipt(
    app: &TestApp,
    receipts: &str,
    (id, provider_id): (&str, &str),
    error_code: &str,
    error_text: Option<&str>,
) {
    let mut fields = vec![
        ("message_id", provider_id),
        ("status_code", "301"),
        ("status_text", "Failed"),
        ("error_code", error_code),
        ("custom_string", id),
    ];
    fields.extend(error_text.map(|text| ("error_text", text)));
    receipt(app, receipts, &fields).await;
}

#[tokio::test]
async fn clicksend_refusals_and_failed_receipts_are_explained() {
    // A failed receipt: ClickSend's words decide, its gateway code is kept.
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    failed_receipt(
        &app,
        &receipts,
        (&id, &provider_id),
        "19",
        Some("Anti-spam rejection"),
    )
    .await;
    let stored = message(&app, &admin, &id).await;
    assert_eq!(
        failure_of(&stored),
        ("undelivered", "carrier_blocked", "19")
    );

    // A refused send: the per-message status is the code.
    let app = spawn_app().await;
    let (admin, _, _) = clicksend_inbox(&app).await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "Messages queued for delivery.",
            "data": {"total_count": 1, "queued_count": 0, "messages": [{
                "to": phone(1), "body": "Hello", "from": "+61411111111", "schedule": "",
                "message_id": "1ABC3200-C38C-6308-BE4B-C7C51D01DCF0",
                "is_shared_system_number": false,
                "status": "INVALID_RECIPIENT"
            }]}
        })))
        .mount(&app.clicksend)
        .await;
    let organization = app.organization_id(&admin).await;
    let ann = app
        .insert_candidates(&organization, vec![NewCandidate::new("Ann", &phone(1))])
        .await
        .remove(0);
    let id = send_one(&app, &admin, &ann, "Hello").await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.drain_at(Utc::now()).await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(
        failure_of(&stored),
        ("failed", "invalid_number", "INVALID_RECIPIENT")
    );
}

#[tokio::test]
async fn a_clicksend_receipt_saying_the_recipient_unsubscribed_opts_them_out() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    let ann = message(&app, &admin, &id).await["candidate_id"]
        .as_str()
        .unwrap()
        .to_owned();

    failed_receipt(
        &app,
        &receipts,
        (&id, &provider_id),
        "7",
        Some("Recipient has unsubscribed"),
    )
    .await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(failure_of(&stored), ("undelivered", "opted_out", "7"));
    assert_eq!(candidate(&app, &admin, &ann).await["sms_opted_out"], true);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM consent_events WHERE source = 'provider_refusal' \
             AND opted_out AND candidate_id = '{ann}' AND message_id = '{id}'"
        ))
        .await,
        1
    );
    let refused = app
        .post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ann, "body": "Are you still there?"}),
        )
        .await;
    let body = problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "candidate_id", "{body}");
}

#[tokio::test]
async fn a_clicksend_receipt_with_gateway_code_11_flags_the_number_not_mobile_for_bulk() {
    let app = spawn_app().await;
    let (admin, _, receipts) = clicksend_inbox(&app).await;
    let (id, provider_id) = sent_to_ann(&app, &admin).await;
    let ann = message(&app, &admin, &id).await["candidate_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let organization = app.organization_id(&admin).await;
    let dee = app
        .insert_candidates(&organization, vec![NewCandidate::new("Dee", &phone(7))])
        .await
        .remove(0);

    // Words that name nothing: the gateway code decides.
    failed_receipt(&app, &receipts, (&id, &provider_id), "11", None).await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(failure_of(&stored), ("undelivered", "not_mobile", "11"));
    let flagged = candidate(&app, &admin, &ann).await;
    assert_eq!(
        (&flagged["phone_not_mobile"], &flagged["sms_opted_out"]),
        (&json!(true), &json!(false))
    );
    let accepted = bulk(&app, &admin, &[&ann, &dee]).await;
    assert_eq!(accepted["accepted"], 1);
    assert_eq!(
        accepted["skipped"],
        json!([{"candidate_id": ann, "reason": "not_mobile"}])
    );
    app.write_bulk_messages().await;
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM sms_messages WHERE candidate_id = '{ann}'"
        ))
        .await,
        1,
        "only the first message went to the landline"
    );
}

#[tokio::test]
async fn a_delivered_message_has_no_failure_reason() {
    let app = spawn_app().await;
    let (admin, status, _, id) = sent_to_cy_through_twilio(&app).await;

    twilio_callback(&app, &status, "delivered", Some("0")).await;

    let stored = message(&app, &admin, &id).await;
    assert_eq!(stored["status"], "delivered");
    assert_eq!(stored["failure_reason"], Value::Null);
    assert_eq!(stored["provider_error_code"], Value::Null);
}
