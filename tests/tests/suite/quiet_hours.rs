//! Quiet hours: sends that would reach a candidate inside the organization's window,
//! read in the candidate's local time, are held until it ends. The service's clock is
//! set to chosen instants; the dispatcher runs at chosen instants.

use chrono::{DateTime, TimeDelta, Utc};
use nextal_tests::{NewCandidate, TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::messaging::{accept_everything, activate_clicksend, clicksend_sends, message, send_one};

/// A number of the United States, a country of many zones: read in the organization's.
const US: &str = "+14155552671";
/// A number of Great Britain, a country of one zone (Europe/London).
const GB: &str = "+447911123456";
/// A number of Australia, a country of many zones.
const AU: &str = "+61422222222";
/// Another number of the United States.
const US_2: &str = "+14155552672";

fn utc(raw: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(raw)
        .unwrap()
        .with_timezone(&Utc)
}

/// An organization in New York with quiet hours 21:00–08:00, ClickSend active and
/// accepting; returns the admin's token.
async fn new_york_nights(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    activate_clicksend(app, &admin).await;
    accept_everything(app).await;
    let response = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"timezone": "America/New_York", "quiet_hours": {"start": "21:00", "end": "08:00"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    admin
}

/// Candidates stored with these numbers, in order; returns their ids.
async fn candidates(app: &TestApp, admin: &str, phones: &[&str]) -> Vec<String> {
    let organization = app.organization_id(admin).await;
    app.insert_candidates(
        &organization,
        phones
            .iter()
            .map(|phone| NewCandidate::new("Ann", phone))
            .collect(),
    )
    .await
}

async fn organization(app: &TestApp, admin: &str) -> Value {
    app.get("/organization", Some(admin))
        .await
        .json()
        .await
        .unwrap()
}

/// A bulk send of one text to `ids`, at `send_at` when given; its 202 answer.
async fn bulk(app: &TestApp, admin: &str, ids: &[String], send_at: Option<&str>) -> Value {
    let mut request = json!({"candidate_ids": ids, "body": "Hi {{candidate.first_name}}"});
    if let Some(at) = send_at {
        request["send_at"] = json!(at);
    }
    let response = app.post("/sms/bulk", Some(admin), &request).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

/// How many messages to `to` are in `status` with `status_reason` `reason` and
/// `send_at` (UTC, `YYYY-MM-DD HH:MM:SS`).
async fn messages_to(
    app: &TestApp,
    to: &str,
    status: &str,
    reason: Option<&str>,
    send_at: &str,
) -> i64 {
    let reason = match reason {
        Some(reason) => format!("status_reason = '{reason}'"),
        None => "status_reason IS NULL".to_owned(),
    };
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM sms_messages WHERE to_number = '{to}' \
         AND status = '{status}' AND {reason} AND send_at = '{send_at}'"
    ))
    .await
}

async fn reply(app: &TestApp, admin: &str, thread: &str) -> Value {
    let response = app
        .post(
            &format!("/sms/threads/{thread}/messages"),
            Some(admin),
            &json!({"body": "Sure, talk soon"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    response.json().await.unwrap()
}

/// A reply from the thread's candidate, stored as the webhooks store it, at `at`.
async fn candidate_wrote(app: &TestApp, organization: &str, thread: &str, at: DateTime<Utc>) {
    let at = at.format("%Y-%m-%d %H:%M:%S");
    app.execute_sql(&format!(
        "INSERT INTO sms_messages (id, organization_id, thread_id, direction, body, encoding, \
         segments, status, provider, from_number, to_number, send_at, next_attempt_at, \
         attempts, created_at, updated_at) \
         VALUES ('{}', '{organization}', '{thread}', 'inbound', 'Call me?', 'GSM-7', 1, \
         'received', 'clicksend', '{US}', '+61411111111', '{at}', '{at}', 0, '{at}', '{at}')",
        uuid::Uuid::now_v7()
    ))
    .await;
}

#[tokio::test]
async fn quiet_hours_are_set_shown_kept_and_cleared() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    assert_eq!(organization(&app, &admin).await["quiet_hours"], Value::Null);

    let set = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"quiet_hours": {"start": "21:30", "end": "07:45"}}),
        )
        .await;
    assert_eq!(set.status(), StatusCode::OK);
    let set: Value = set.json().await.unwrap();
    assert_eq!(
        set["quiet_hours"],
        json!({"start": "21:30", "end": "07:45"})
    );
    // Another setting's change leaves them as they are.
    let renamed = app
        .patch("/organization", Some(&admin), &json!({"name": "Acme"}))
        .await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(
        organization(&app, &admin).await["quiet_hours"],
        json!({"start": "21:30", "end": "07:45"})
    );

    let cleared = app
        .patch("/organization", Some(&admin), &json!({"quiet_hours": null}))
        .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    assert_eq!(organization(&app, &admin).await["quiet_hours"], Value::Null);
}

#[tokio::test]
async fn bad_quiet_hours_are_refused_field_by_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let cases = [
        (
            json!({"start": "25:00", "end": "08:00"}),
            "quiet_hours.start",
        ),
        (json!({"start": "21:00", "end": "9:5"}), "quiet_hours.end"),
        (json!({"start": "21:00"}), "quiet_hours.end"),
        (json!({"start": "08:00", "end": "08:00"}), "quiet_hours.end"),
    ];
    for (quiet_hours, field) in cases {
        let response = app
            .patch(
                "/organization",
                Some(&admin),
                &json!({"quiet_hours": quiet_hours}),
            )
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], field, "{quiet_hours}: {body}");
    }
    assert_eq!(organization(&app, &admin).await["quiet_hours"], Value::Null);
}

#[tokio::test]
async fn a_send_inside_quiet_hours_is_held_until_they_end_and_goes_out_then() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[US]).await;
    let end = utc("2027-01-15T13:00:00Z");
    // 02:00 in New York (UTC-5 in January).
    app.clock.set(utc("2027-01-15T07:00:00Z"));

    let held = send_one(&app, &admin, &ids[0], "Good morning").await;

    assert_eq!(held["status"], "scheduled");
    assert_eq!(held["status_reason"], "quiet_hours");
    assert_eq!(held["send_at"], "2027-01-15T13:00:00Z");
    assert_eq!(held["history"][0]["detail"], "quiet_hours");
    // Removing quiet hours leaves a held message as it is.
    let cleared = app
        .patch("/organization", Some(&admin), &json!({"quiet_hours": null}))
        .await;
    assert_eq!(cleared.status(), StatusCode::OK);
    let before = app.drain_at(end - TimeDelta::seconds(1)).await;
    let at_end = app.drain_at(end).await;
    assert_eq!((before.provider_requests, at_end.sent), (0, 1));
    let sent = message(&app, &admin, held["id"].as_str().unwrap()).await;
    assert_eq!(
        (&sent["status"], &sent["status_reason"], &sent["send_at"]),
        (
            &json!("sent"),
            &json!("quiet_hours"),
            &json!("2027-01-15T13:00:00Z")
        )
    );
}

#[tokio::test]
async fn a_window_across_midnight_holds_evenings_until_the_next_morning_and_not_midday() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[US]).await;

    // 22:30 in New York on the 15th.
    app.clock.set(utc("2027-01-16T03:30:00Z"));
    let evening = send_one(&app, &admin, &ids[0], "Evening").await;
    // 12:00 in New York.
    app.clock.set(utc("2027-01-16T17:00:00Z"));
    let midday = send_one(&app, &admin, &ids[0], "Midday").await;

    assert_eq!(
        (&evening["status"], &evening["send_at"]),
        (&json!("scheduled"), &json!("2027-01-16T13:00:00Z"))
    );
    assert_eq!(
        (&midday["status"], &midday["status_reason"]),
        (&json!("queued"), &Value::Null)
    );
    assert_eq!(app.drain_at(utc("2027-01-16T17:00:00Z")).await.sent, 2);
}

#[tokio::test]
async fn a_number_of_a_one_zone_country_is_read_in_that_zone_others_in_the_organizations() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[GB, US, AU]).await;
    // 12:00 in London, 07:00 in New York.
    app.clock.set(utc("2027-01-15T12:00:00Z"));

    let london = send_one(&app, &admin, &ids[0], "Hello London").await;
    let new_york = send_one(&app, &admin, &ids[1], "Hello New York").await;
    let bulk = app
        .post(
            "/sms/bulk",
            Some(&admin),
            &json!({"candidate_ids": ids, "body": "Hi {{candidate.first_name}}"}),
        )
        .await;

    assert_eq!(
        (&london["status"], &london["status_reason"]),
        (&json!("queued"), &Value::Null)
    );
    assert_eq!(
        (&new_york["status"], &new_york["send_at"]),
        (&json!("scheduled"), &json!("2027-01-15T13:00:00Z"))
    );
    assert_eq!(bulk.status(), StatusCode::ACCEPTED);
    let bulk: Value = bulk.json().await.unwrap();
    // The Australian number falls back to New York too.
    assert_eq!(
        (bulk["accepted"].as_u64(), bulk["deferred"].as_u64()),
        (Some(3), Some(2))
    );
    app.write_bulk_messages().await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM sms_messages WHERE status = 'scheduled' \
             AND status_reason = 'quiet_hours' AND send_at = '2027-01-15 13:00:00'"
        )
        .await,
        3
    );
}

#[tokio::test]
async fn a_scheduled_send_inside_quiet_hours_moves_to_their_end_one_outside_stays() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[US]).await;
    app.clock.set(utc("2027-01-15T17:00:00Z"));
    let schedule = |at: &str| json!({"candidate_id": ids[0], "body": "Reminder", "send_at": at});

    // 23:00 and 15:00 in New York.
    let late = app
        .post(
            "/sms/messages",
            Some(&admin),
            &schedule("2027-01-16T04:00:00Z"),
        )
        .await;
    let afternoon = app
        .post(
            "/sms/messages",
            Some(&admin),
            &schedule("2027-01-15T20:00:00Z"),
        )
        .await;

    let late: Value = late.json().await.unwrap();
    let afternoon: Value = afternoon.json().await.unwrap();
    assert_eq!(
        (&late["status"], &late["status_reason"], &late["send_at"]),
        (
            &json!("scheduled"),
            &json!("quiet_hours"),
            &json!("2027-01-16T13:00:00Z")
        )
    );
    assert_eq!(
        (
            &afternoon["status"],
            &afternoon["status_reason"],
            &afternoon["send_at"]
        ),
        (
            &json!("scheduled"),
            &Value::Null,
            &json!("2027-01-15T20:00:00Z")
        )
    );
}

#[tokio::test]
async fn a_bulk_send_at_inside_quiet_hours_moves_to_their_end_and_counts_as_deferred() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[US, GB]).await;
    app.clock.set(utc("2027-01-15T17:00:00Z"));

    // 17:00 in New York, 22:00 in London.
    let accepted = bulk(&app, &admin, &ids, Some("2027-01-15T22:00:00Z")).await;

    assert_eq!(
        (accepted["accepted"].as_u64(), accepted["deferred"].as_u64()),
        (Some(2), Some(1))
    );
    app.write_bulk_messages().await;
    // London's window ends at 08:00 London time, 08:00 UTC in January.
    assert_eq!(
        messages_to(
            &app,
            GB,
            "scheduled",
            Some("quiet_hours"),
            "2027-01-16 08:00:00"
        )
        .await,
        1
    );
    assert_eq!(
        messages_to(&app, US, "scheduled", None, "2027-01-15 22:00:00").await,
        1
    );
}

#[tokio::test]
async fn held_bulk_messages_go_out_when_each_candidates_quiet_hours_end() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let ids = candidates(&app, &admin, &[US, GB, US_2]).await;
    let london_end = utc("2027-01-15T08:00:00Z");
    let new_york_end = utc("2027-01-15T13:00:00Z");
    // 02:00 in New York, 07:00 in London.
    app.clock.set(utc("2027-01-15T07:00:00Z"));

    let accepted = bulk(&app, &admin, &ids, None).await;
    app.write_bulk_messages().await;

    assert_eq!(
        (accepted["accepted"].as_u64(), accepted["deferred"].as_u64()),
        (Some(3), Some(3))
    );
    let before_london = app.drain_at(london_end - TimeDelta::seconds(1)).await;
    let at_london_end = app.drain_at(london_end).await;
    let before_new_york = app.drain_at(new_york_end - TimeDelta::seconds(1)).await;
    let at_new_york_end = app.drain_at(new_york_end).await;
    assert_eq!(
        (
            before_london.provider_requests,
            at_london_end.sent,
            before_new_york.provider_requests,
            at_new_york_end.sent
        ),
        (0, 1, 0, 2)
    );
    let sends = clicksend_sends(&app).await;
    let recipients: Vec<Vec<&str>> = sends
        .iter()
        .map(|request| {
            let mut to: Vec<&str> = request
                .iter()
                .map(|message| message["to"].as_str().unwrap())
                .collect();
            to.sort_unstable();
            to
        })
        .collect();
    assert_eq!(recipients, [vec![GB], vec![US, US_2]]);
    let held = Some("quiet_hours");
    assert_eq!(
        (
            messages_to(&app, GB, "sent", held, "2027-01-15 08:00:00").await,
            messages_to(&app, US, "sent", held, "2027-01-15 13:00:00").await,
            messages_to(&app, US_2, "sent", held, "2027-01-15 13:00:00").await
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_reply_to_a_candidate_who_wrote_within_the_hour_is_not_held() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    let organization = app.organization_id(&admin).await;
    let ids = candidates(&app, &admin, &[US]).await;
    app.clock.set(utc("2027-01-15T17:00:00Z"));
    let first = send_one(&app, &admin, &ids[0], "Are you free?").await;
    let thread = first["thread_id"].as_str().unwrap();
    candidate_wrote(&app, &organization, thread, utc("2027-01-15T06:30:00Z")).await;

    // 02:00 in New York, half an hour after the candidate wrote.
    app.clock.set(utc("2027-01-15T07:00:00Z"));
    let live = reply(&app, &admin, thread).await;
    // 04:30 in New York, two hours after.
    app.clock.set(utc("2027-01-15T08:30:00Z"));
    let later = reply(&app, &admin, thread).await;

    assert_eq!(
        (&live["status"], &live["status_reason"]),
        (&json!("queued"), &Value::Null)
    );
    assert_eq!(
        (&later["status"], &later["status_reason"], &later["send_at"]),
        (
            &json!("scheduled"),
            &json!("quiet_hours"),
            &json!("2027-01-15T13:00:00Z")
        )
    );
}

#[tokio::test]
async fn the_test_sms_is_not_held() {
    let app = spawn_app().await;
    let admin = new_york_nights(&app).await;
    // 02:00 in New York.
    app.clock.set(utc("2027-01-15T07:00:00Z"));

    let response = app
        .post(
            "/integrations/clicksend/test-sms",
            Some(&admin),
            &json!({"to": US, "body": "Testing at night"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let sent = clicksend_sends(&app).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0]["body"], "Testing at night");
}
