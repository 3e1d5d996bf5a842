//! Abuse limits: the per-organization daily send cap, and the webhook rate limits (per
//! integration, and per client address for failed authentication); and what stands in
//! for a limit on authenticated webhooks under load, the wait for room in the queue.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures_util::StreamExt;
use futures_util::future::join_all;
use nextal_api::config::Settings;
use nextal_persistence::{DbConn, Tx};
use nextal_tests::{AppOptions, NewCandidate, TestApp, problem, spawn_app, spawn_app_with};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::messaging::{accept_everything, activate_clicksend, clicksend_sends, phone, send_one};

/// A service whose organizations may send `CAP` messages a day by default.
const CAP: u32 = 5;

async fn capped_app() -> TestApp {
    spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| settings.daily_send_cap = CAP),
        ..AppOptions::default()
    })
    .await
}

/// ClickSend active and accepting; `count` reachable candidates. Returns (admin, ids).
async fn ready_to_send(app: &TestApp, count: usize) -> (String, Vec<String>) {
    let admin = app.admin_token().await;
    activate_clicksend(app, &admin).await;
    accept_everything(app).await;
    let organization = app.organization_id(&admin).await;
    let candidates = (1..=count)
        .map(|n| NewCandidate::new(&format!("Candidate{n}"), &phone(n)))
        .collect();
    let ids = app.insert_candidates(&organization, candidates).await;
    (admin, ids)
}

async fn bulk(app: &TestApp, token: &str, ids: &[String]) -> Response {
    app.post(
        "/sms/bulk",
        Some(token),
        &json!({"candidate_ids": ids, "body": "Hi {{candidate.first_name}}"}),
    )
    .await
}

async fn send(app: &TestApp, token: &str, candidate_id: &str) -> Response {
    app.post(
        "/sms/messages",
        Some(token),
        &json!({"candidate_id": candidate_id, "body": "Hello"}),
    )
    .await
}

async fn organization(app: &TestApp, token: &str) -> Value {
    let response = app.get("/organization", Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .await
}

fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After header in seconds")
}

/// Checks a 429 from the daily send cap and returns its problem.
async fn refused_by_the_cap(response: Response) -> Value {
    let wait = retry_after(&response);
    let body = problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["type"], "https://nextal.app/problems/daily-send-cap");
    // Until the next midnight of the organization's zone (UTC here), at most a day.
    let midnight = (Utc::now() + TimeDelta::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let until_midnight = (midnight - Utc::now()).num_seconds().unsigned_abs();
    assert!(
        wait.abs_diff(until_midnight) <= 5,
        "Retry-After {wait} s, midnight in {until_midnight} s"
    );
    body
}

#[tokio::test]
async fn a_bulk_send_over_the_cap_is_refused_whole_and_nothing_is_created_or_sent() {
    let app = capped_app().await;
    let (admin, ids) = ready_to_send(&app, 6).await;

    let response = bulk(&app, &admin, &ids).await;

    let body = refused_by_the_cap(response).await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("cap is 5 messages"), "{detail}");
    assert!(detail.contains("5 remain today"), "{detail}");
    assert!(detail.contains("needs 6"), "{detail}");
    for table in [
        "sms_messages",
        "sms_batches",
        "sms_threads",
        "sms_message_events",
    ] {
        assert_eq!(count(&app, table).await, 0, "{table}");
    }
    app.drain_at(Utc::now()).await;
    assert!(clicksend_sends(&app).await.is_empty());
    assert_eq!(organization(&app, &admin).await["daily_sends"]["sent"], 0);
}

#[tokio::test]
async fn every_way_of_sending_counts_and_sends_up_to_the_cap_exactly_succeed() {
    let app = capped_app().await;
    let (admin, ids) = ready_to_send(&app, 6).await;

    let first = send_one(&app, &admin, &ids[0], "Hello").await;
    let reply = app
        .post(
            &format!(
                "/sms/threads/{}/messages",
                first["thread_id"].as_str().unwrap()
            ),
            Some(&admin),
            &json!({"body": "Following up"}),
        )
        .await;
    let tomorrow = Utc::now() + TimeDelta::days(1);
    let scheduled = app
        .post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": ids[1], "body": "Reminder", "send_at": tomorrow}),
        )
        .await;
    let two = bulk(&app, &admin, &ids[2..4]).await;
    let over = send(&app, &admin, &ids[4]).await;
    let over_bulk = bulk(&app, &admin, &ids[4..6]).await;

    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert_eq!(scheduled.status(), StatusCode::ACCEPTED);
    assert_eq!(two.status(), StatusCode::ACCEPTED);
    let detail = refused_by_the_cap(over).await["detail"].clone();
    assert!(detail.as_str().unwrap().contains("0 remain today"));
    refused_by_the_cap(over_bulk).await;
    app.write_bulk_messages().await;
    assert_eq!(count(&app, "sms_messages").await, 5);
    let today = organization(&app, &admin).await["daily_sends"].clone();
    assert_eq!(today["cap"], 5);
    assert_eq!(today["sent"], 5);
    assert_eq!(today["remaining"], 0);
    let sent = app.drain_at(Utc::now()).await.sent;
    assert_eq!(sent, 4, "the scheduled one waits for tomorrow");
}

#[tokio::test]
async fn an_idempotent_replay_is_not_counted_again() {
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| settings.daily_send_cap = 1),
        ..AppOptions::default()
    })
    .await;
    let (admin, ids) = ready_to_send(&app, 2).await;
    let keyed = || {
        app.client
            .post(app.url("/sms/messages"))
            .bearer_auth(&admin)
            .header("idempotency-key", "cap-1")
            .json(&json!({"candidate_id": ids[0], "body": "Hello"}))
            .send()
    };

    let first = keyed().await.unwrap();
    let replayed = keyed().await.unwrap();
    let another = send(&app, &admin, &ids[1]).await;

    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(replayed.status(), StatusCode::ACCEPTED);
    assert_eq!(
        replayed.headers().get("idempotent-replayed").unwrap(),
        "true"
    );
    refused_by_the_cap(another).await;
    assert_eq!(organization(&app, &admin).await["daily_sends"]["sent"], 1);
}

#[tokio::test]
async fn the_count_restarts_on_the_organizations_next_day() {
    let app = capped_app().await;
    let (admin, ids) = ready_to_send(&app, 2).await;
    // Kiritimati is UTC+14: its day is already tomorrow for most of the UTC day.
    let response = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"timezone": "Pacific/Kiritimati"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let today = organization(&app, &admin).await["daily_sends"].clone();
    let local_now = Utc::now() + TimeDelta::hours(14);
    let day: NaiveDate = serde_json::from_value(today["day"].clone()).unwrap();
    let resets_at: DateTime<Utc> = serde_json::from_value(today["resets_at"].clone()).unwrap();
    assert_eq!(day, local_now.date_naive());
    assert_eq!(
        resets_at,
        (day + TimeDelta::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            - TimeDelta::hours(14)
    );
    // Yesterday, in Kiritimati, the organization used its whole cap.
    let organization_id = app.organization_id(&admin).await;
    app.execute_sql(&format!(
        "INSERT INTO sms_daily_sends (organization_id, day, sent) \
         VALUES ('{organization_id}', '{}', {CAP})",
        day - TimeDelta::days(1)
    ))
    .await;

    let response = bulk(&app, &admin, &ids).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let today = organization(&app, &admin).await["daily_sends"].clone();
    assert_eq!(today["sent"], 2);
    assert_eq!(today["remaining"], CAP - 2);
}

#[tokio::test]
async fn concurrent_sends_racing_for_the_last_places_never_exceed_the_cap() {
    let app = capped_app().await;
    let (admin, ids) = ready_to_send(&app, 20).await;
    // Two places are taken before the race.
    assert_eq!(
        bulk(&app, &admin, &ids[..2]).await.status(),
        StatusCode::ACCEPTED
    );

    let answers = join_all(ids[2..].iter().map(|id| send(&app, &admin, id))).await;

    let accepted = answers
        .iter()
        .filter(|answer| answer.status() == StatusCode::ACCEPTED)
        .count();
    let refused = answers
        .iter()
        .filter(|answer| answer.status() == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((accepted, refused), (3, 15));
    app.write_bulk_messages().await;
    assert_eq!(count(&app, "sms_messages").await, i64::from(CAP));
    assert_eq!(organization(&app, &admin).await["daily_sends"]["sent"], CAP);
}

#[tokio::test]
async fn an_admin_sets_the_organizations_own_cap_and_a_recruiter_cannot() {
    let app = capped_app().await;
    let (admin, ids) = ready_to_send(&app, 3).await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let set = |token: String, cap: Value| {
        let app = &app;
        async move {
            app.patch(
                "/organization",
                Some(&token),
                &json!({"daily_send_cap": cap}),
            )
            .await
        }
    };

    let forbidden = set(recruiter.clone(), json!(100)).await;
    let invalid = join_all(
        [json!(-1), json!(1_000_001), json!("ten"), json!(2.5)].map(|cap| set(admin.clone(), cap)),
    )
    .await;
    let stopped = set(admin.clone(), json!(0)).await;
    let refused_while_stopped = send(&app, &admin, &ids[0]).await;
    let one = set(admin.clone(), json!(1)).await;
    let within_own_cap = send(&app, &admin, &ids[0]).await;
    let past_own_cap = send(&app, &admin, &ids[1]).await;
    let reset = set(admin.clone(), Value::Null).await;
    let within_default = send(&app, &admin, &ids[1]).await;

    problem(forbidden, StatusCode::FORBIDDEN).await;
    for response in invalid {
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "daily_send_cap", "{body}");
    }
    assert_eq!(stopped.status(), StatusCode::OK);
    let detail = refused_by_the_cap(refused_while_stopped).await["detail"].clone();
    assert!(
        detail.as_str().unwrap().contains("switched off"),
        "{detail}"
    );
    let one: Value = one.json().await.unwrap();
    assert_eq!(one["daily_send_cap"], 1);
    assert_eq!(one["daily_sends"]["cap"], 1);
    assert_eq!(within_own_cap.status(), StatusCode::ACCEPTED);
    refused_by_the_cap(past_own_cap).await;
    let reset: Value = reset.json().await.unwrap();
    assert_eq!(reset["daily_send_cap"], Value::Null);
    assert_eq!(reset["daily_sends"]["cap"], CAP);
    assert_eq!(within_default.status(), StatusCode::ACCEPTED);
    // Anyone signed in sees the cap in force and today's count.
    let seen = organization(&app, &recruiter).await;
    assert_eq!(seen["daily_sends"]["sent"], 2);
    assert_eq!(seen["daily_sends"]["remaining"], CAP - 2);
}

/// The path of a webhook URL the service gave out.
fn path_of(app: &TestApp, url: &Value) -> String {
    url.as_str()
        .unwrap()
        .strip_prefix(app.settings.public_url.trim_end_matches('/'))
        .unwrap()
        .to_owned()
}

/// ClickSend active for the organization of `admin`; its inbound webhook path.
async fn clicksend_inbound(app: &TestApp, admin: &str) -> String {
    activate_clicksend(app, admin).await;
    let card: Value = app
        .get("/integrations/clicksend", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    path_of(app, &card["webhooks"]["inbound_url"])
}

/// A ClickSend reply from the candidate at `phone(n)`, posted by `client`.
async fn reply(app: &TestApp, client: &reqwest::Client, path: &str, n: usize) -> Response {
    let from = phone(n);
    client
        .post(app.url(path))
        .form(&[
            ("message_id", format!("0A0B0C0D-0000-4000-8000-{n:012}")),
            ("from", from),
            ("to", "+61411111111".to_owned()),
            ("body", "Yes".to_owned()),
        ])
        .send()
        .await
        .unwrap()
}

/// A client whose requests come from `address` (any of 127.0.0.0/8 on Linux).
fn client_from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .build()
        .unwrap()
}

async fn refused_by_a_webhook_limit(response: Response) {
    assert!(retry_after(&response) >= 1);
    let body = problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/webhook-rate-limited"
    );
}

async fn rate_limited_metric(app: &TestApp, limit: &str) -> u64 {
    let text = app.get("/metrics", None).await.text().await.unwrap();
    let series = format!("nextal_webhook_rate_limited_total{{limit=\"{limit}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

#[tokio::test]
async fn a_webhook_url_past_its_rate_gets_429_and_other_organizations_are_unaffected() {
    const BURST: u32 = 3;
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| {
            settings.webhook_rate_per_sec = 1;
            settings.webhook_burst = BURST;
        }),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let ours = clicksend_inbound(&app, &admin).await;
    let other_admin = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let theirs = clicksend_inbound(&app, &other_admin).await;

    let started = Instant::now();
    let answers = join_all((1..=10).map(|n| reply(&app, &app.client, &ours, n))).await;
    let elapsed = started.elapsed();
    let other = reply(&app, &app.client, &theirs, 1).await;

    let accepted = answers
        .iter()
        .filter(|answer| answer.status() == StatusCode::OK)
        .count();
    // The bucket holds BURST; one more place frees up each second the requests took.
    let most = BURST as usize + elapsed.as_secs() as usize + 1;
    assert!(
        (BURST as usize..=most).contains(&accepted),
        "{accepted} accepted in {elapsed:?}"
    );
    let refused: Vec<Response> = answers
        .into_iter()
        .filter(|answer| answer.status() != StatusCode::OK)
        .collect();
    assert_eq!(refused.len(), 10 - accepted);
    assert!(!refused.is_empty(), "nothing refused in {elapsed:?}");
    for response in refused {
        refused_by_a_webhook_limit(response).await;
    }
    assert_eq!(other.status(), StatusCode::OK);
    // Refused deliveries are not even in the raw log.
    assert_eq!(count(&app, "webhook_deliveries").await, accepted as i64 + 1);
    assert_eq!(count(&app, "sms_messages").await, accepted as i64 + 1);
    assert_eq!(
        rate_limited_metric(&app, "integration").await,
        10 - accepted as u64
    );
}

#[tokio::test]
async fn an_address_that_keeps_failing_authentication_gets_429_but_proven_tokens_still_pass() {
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| {
            settings.webhook_failures_per_min = 1;
            settings.webhook_failure_burst = 3;
        }),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let good = clicksend_inbound(&app, &admin).await;
    let twilio: Value = app
        .get("/integrations/twilio", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let unsigned_twilio = path_of(&app, &twilio["webhooks"]["inbound_url"]);
    let other_admin = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let unproven = clicksend_inbound(&app, &other_admin).await;
    let bad = |n: usize| {
        good.replace("/clicksend/", "/clicksend/x")
            .replace("/inbound", &format!("{n}/inbound"))
    };
    let (here, elsewhere) = (client_from([127, 0, 0, 1]), client_from([127, 0, 0, 2]));

    // This address's first delivery proves the token.
    let proven = reply(&app, &here, &good, 1).await;
    // Three failures use up the budget: two unknown tokens and a Twilio delivery
    // without a signature.
    let unknown_1 = reply(&app, &here, &bad(1), 2).await;
    let unknown_2 = reply(&app, &here, &bad(2), 2).await;
    let unsigned = reply(&app, &here, &unsigned_twilio, 2).await;
    let past_the_budget = reply(&app, &here, &bad(3), 2).await;
    let while_blocked = reply(&app, &here, &bad(4), 2).await;
    let proven_while_blocked = reply(&app, &here, &good, 3).await;
    let unproven_while_blocked = reply(&app, &here, &unproven, 4).await;
    let other_address_unknown = reply(&app, &elsewhere, &bad(5), 5).await;
    let other_address_unproven = reply(&app, &elsewhere, &unproven, 6).await;

    assert_eq!(proven.status(), StatusCode::OK);
    problem(unknown_1, StatusCode::NOT_FOUND).await;
    problem(unknown_2, StatusCode::NOT_FOUND).await;
    problem(unsigned, StatusCode::FORBIDDEN).await;
    refused_by_a_webhook_limit(past_the_budget).await;
    refused_by_a_webhook_limit(while_blocked).await;
    assert_eq!(proven_while_blocked.status(), StatusCode::OK);
    // Documented: a token that has not authenticated in this process yet is treated
    // like a guess while its address is blocked.
    refused_by_a_webhook_limit(unproven_while_blocked).await;
    problem(other_address_unknown, StatusCode::NOT_FOUND).await;
    assert_eq!(other_address_unproven.status(), StatusCode::OK);
    assert_eq!(count(&app, "webhook_deliveries").await, 3);
    assert_eq!(rate_limited_metric(&app, "address").await, 3);
}

#[tokio::test]
async fn replies_that_find_the_webhook_queue_full_wait_for_room_and_are_all_stored() {
    const REPLIES: usize = 48;
    // One place in the queue and one writer: nearly every reply of the burst finds the
    // queue full, and waits for room instead of being refused.
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| {
            settings.webhook_queue = 1;
            settings.webhook_writers = 1;
        }),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound(&app, &admin).await;

    let answers = join_all((1..=REPLIES).map(|n| reply(&app, &app.client, &inbound, n))).await;

    let statuses: Vec<StatusCode> = answers.iter().map(Response::status).collect();
    assert!(
        statuses.iter().all(|status| *status == StatusCode::OK),
        "{statuses:?}"
    );
    // Each stored once: as many raw deliveries, all applied, and messages as replies.
    assert_eq!(count(&app, "webhook_deliveries").await, REPLIES as i64);
    let applied = app
        .count(
            "SELECT COUNT(DISTINCT provider_message_id) AS n FROM webhook_deliveries \
             WHERE outcome = 'applied'",
        )
        .await;
    assert_eq!(applied, REPLIES as i64);
    assert_eq!(count(&app, "sms_messages").await, REPLIES as i64);
}

/// Holds up the webhook writers until rolled back: SQLite's write lock, or on
/// PostgreSQL a lock on the raw log, which every batch writes to.
async fn hold_up_the_webhook_writers(app: &TestApp) -> Tx {
    // Imported here only: in scope for the whole file, its `first` would take over the
    // `.first()` calls on vectors.
    use diesel_async::RunQueryDsl;

    let mut lock = app.db.begin().await.unwrap();
    if let DbConn::Postgres(conn) = &mut *lock {
        diesel::sql_query("LOCK TABLE webhook_deliveries IN EXCLUSIVE MODE")
            .execute(&mut **conn)
            .await
            .unwrap();
    }
    lock
}

#[tokio::test]
async fn a_reply_that_finds_no_room_in_time_gets_503_with_retry_after_and_is_taken_when_sent_again()
{
    const REPLIES: usize = 6;
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| {
            settings.webhook_queue = 1;
            settings.webhook_writers = 1;
            settings.webhook_wait_secs = 1;
        }),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound(&app, &admin).await;
    // The token is looked up once, and cached: the burst needs no database before the
    // queue.
    assert_eq!(
        reply(&app, &app.client, &inbound, 1).await.status(),
        StatusCode::OK
    );
    let lock = hold_up_the_webhook_writers(&app).await;

    // The writer blocks on its first batch and the queue's one place fills; the other
    // replies wait a second for room, then are refused.
    let senders: Vec<usize> = (2..=REPLIES + 1).collect();
    let burst = join_all(
        senders
            .iter()
            .map(|n| reply(&app, &app.client, &inbound, *n)),
    );
    let release = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        lock.rollback().await.unwrap();
    };
    let (answers, ()) = tokio::join!(burst, release);

    let mut refused = Vec::new();
    for (n, answer) in senders.into_iter().zip(answers) {
        if answer.status() == StatusCode::OK {
            continue;
        }
        assert_eq!(retry_after(&answer), 1);
        let body = problem(answer, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(body["type"], "https://nextal.app/problems/overloaded");
        refused.push(n);
    }
    assert!(
        (1..REPLIES).contains(&refused.len()),
        "{} of {REPLIES} refused",
        refused.len()
    );
    // Nothing of a refused reply was stored: sent again, each is taken once.
    assert_eq!(
        count(&app, "webhook_deliveries").await,
        (REPLIES + 1 - refused.len()) as i64
    );
    for n in refused {
        assert_eq!(
            reply(&app, &app.client, &inbound, n).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(count(&app, "webhook_deliveries").await, REPLIES as i64 + 1);
    assert_eq!(count(&app, "sms_messages").await, REPLIES as i64 + 1);
}

#[tokio::test]
async fn a_reply_whose_provider_stops_waiting_for_room_is_still_stored() {
    let app = spawn_app_with(AppOptions {
        configure: Some(|settings: &mut Settings| {
            settings.webhook_queue = 1;
            settings.webhook_writers = 1;
        }),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound(&app, &admin).await;
    assert_eq!(
        reply(&app, &app.client, &inbound, 1).await.status(),
        StatusCode::OK
    );
    let lock = hold_up_the_webhook_writers(&app).await;
    // A provider that gives up after half a second, as ClickSend may (its timeout is
    // not documented), while the writer is held up on at most two replies (its batch
    // takes the one queued) and the queue's place is taken by another.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();

    let held = join_all((2..=5).map(|n| reply(&app, &app.client, &inbound, n)));
    let abandoned = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = impatient
            .post(app.url(&inbound))
            .form(&[
                (
                    "message_id",
                    "0A0B0C0D-0000-4000-8000-000000000006".to_owned(),
                ),
                ("from", phone(6)),
                ("to", "+61411111111".to_owned()),
                ("body", "Yes".to_owned()),
            ])
            .send()
            .await;
        assert!(sent.is_err_and(|error| error.is_timeout()));
        tokio::time::sleep(Duration::from_secs(1)).await;
        lock.rollback().await.unwrap();
    };
    let (held, ()) = tokio::join!(held, abandoned);

    for response in held {
        assert_eq!(response.status(), StatusCode::OK);
    }
    // The abandoned reply was queued once room freed up, and stored.
    let mut stored = 0;
    for _ in 0..50 {
        stored = count(&app, "sms_messages").await;
        if stored == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored, 6);
}

/// ClickSend active for the organization of `admin`; its delivery-receipt webhook path.
async fn clicksend_receipts(app: &TestApp, admin: &str) -> String {
    activate_clicksend(app, admin).await;
    let card: Value = app
        .get("/integrations/clicksend", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    path_of(app, &card["webhooks"]["delivery_receipt_url"])
}

#[tokio::test]
async fn a_receipt_burst_past_the_old_limit_is_taken_whole_and_guesses_are_still_limited() {
    // More than the old default burst of 2,000, under which a 10,000-message
    // campaign's receipts, pushed at once, lost most of theirs to 429. (Kept small: the
    // old rate, 200 a second, refills about as much while this runs, and every request
    // adds to the log lines the secret scan of this process reads.)
    const RECEIPTS: usize = 2_100;
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let receipts = clicksend_receipts(&app, &admin).await;
    let inbound = clicksend_inbound(&app, &admin).await;
    let url = app.url(&receipts);
    // Receipts for messages the organization does not have: stored as `unmatched`, the
    // cheapest delivery to write.
    let statuses: Vec<StatusCode> = futures_util::stream::iter(1..=RECEIPTS)
        .map(|n| {
            app.client
                .post(&url)
                .form(&[
                    ("message_id", format!("0A0B0C0D-0000-4000-9000-{n:012}")),
                    ("status_code", "201".to_owned()),
                ])
                .send()
        })
        .buffer_unordered(32)
        .map(|response| response.unwrap().status())
        .collect()
        .await;

    // Then requests with unknown tokens from the same address: the default failure
    // budget (20 at once) still holds.
    let unknown = inbound.replace("/clicksend/", "/clicksend/x");
    let mut failures = Vec::new();
    for n in 1..=21 {
        failures.push(reply(&app, &app.client, &unknown, n).await);
    }

    let refused: Vec<&StatusCode> = statuses
        .iter()
        .filter(|status| **status != StatusCode::OK)
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {RECEIPTS} refused, e.g. {:?}",
        refused.len(),
        refused.first()
    );
    assert_eq!(rate_limited_metric(&app, "integration").await, 0);
    let unmatched = app
        .count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'unmatched'")
        .await;
    assert_eq!(unmatched, RECEIPTS as i64);
    let past_the_budget = failures.pop().unwrap();
    for response in failures {
        problem(response, StatusCode::NOT_FOUND).await;
    }
    refused_by_a_webhook_limit(past_the_budget).await;
    assert_eq!(rate_limited_metric(&app, "address").await, 1);
}
