//! The inbox: threads newest activity first with filters and the unread total, a
//! thread's messages newest first with their history, marking a thread read.

use chrono::Utc;
use nextal_tests::fakes::ClickSendAccepts;
use nextal_tests::{NewCandidate, TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::Mock;
use wiremock::matchers::{method, path};

use crate::messaging::{activate_clicksend, phone, send_one};

/// Candidates named `names` (last name "Tester") at `phone(0)`, `phone(1)`…, each
/// texted once ("Hello <name>"); returns (candidate id, thread id) per candidate.
async fn texted_candidates(app: &TestApp, admin: &str, names: &[&str]) -> Vec<(String, String)> {
    let organization = app.organization_id(admin).await;
    let ids = app
        .insert_candidates(
            &organization,
            names
                .iter()
                .enumerate()
                .map(|(n, name)| NewCandidate::new(name, &phone(n)))
                .collect(),
        )
        .await;
    let mut pairs = Vec::new();
    for (id, name) in ids.into_iter().zip(names) {
        let message = send_one(app, admin, &id, &format!("Hello {name}")).await;
        pairs.push((id, message["thread_id"].as_str().unwrap().to_owned()));
    }
    pairs
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every item of list `path` (which has a query string), following `next_cursor` with
/// pages of `limit`; the ids in order, and how many pages it took.
async fn walk(app: &TestApp, token: &str, path: &str, limit: usize) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut next = format!("{path}&limit={limit}");
    loop {
        let page = app.get_json(&next, token).await;
        pages += 1;
        let items = ids(&page);
        assert!(items.len() <= limit);
        seen.extend(items);
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&limit={limit}&cursor={cursor}"),
            None => return (seen, pages),
        }
        assert!(pages < 1000, "the cursor never ends");
    }
}

/// Inserts a thread of a number no candidate has, with no message yet.
async fn insert_idle_thread(app: &TestApp, organization: &str, phone: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    app.execute_sql(&format!(
        "INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count, \
         last_message_at, last_message_preview, created_at, updated_at) \
         VALUES ('{id}', '{organization}', '{phone}', NULL, 0, NULL, NULL, \
         '2026-11-27 08:00:00', '2026-11-27 08:00:00')"
    ))
    .await;
    id
}

async fn set_thread(app: &TestApp, thread_id: &str, assignments: &str) {
    let updated = app
        .execute_sql(&format!(
            "UPDATE sms_threads SET {assignments} WHERE id = '{thread_id}'"
        ))
        .await;
    assert_eq!(updated, 1);
    // Replies counted behind the service's back: its organization totals follow.
    app.execute_sql("DELETE FROM sms_unread_totals").await;
    app.execute_sql(
        "INSERT INTO sms_unread_totals (organization_id, unread) \
         SELECT organization_id, SUM(unread_count) FROM sms_threads GROUP BY organization_id",
    )
    .await;
}

async fn refused_field(response: reqwest::Response) -> String {
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"][0]["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn threads_come_newest_activity_first_and_pages_neither_skip_nor_repeat() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let organization = app.organization_id(&admin).await;
    let texted = texted_candidates(&app, &admin, &["Ann", "Bob", "Cy", "Di", "Ed", "Flo"]).await;
    let thread = |n: usize| texted[n].1.clone();
    // Three threads tie on their last activity; one is newer, one older; one has no
    // message time, and one (an unknown number) no message at all.
    for n in 0..3 {
        set_thread(&app, &thread(n), "last_message_at = '2026-11-27 10:00:00'").await;
    }
    set_thread(&app, &thread(3), "last_message_at = '2026-11-27 11:00:00'").await;
    set_thread(&app, &thread(4), "last_message_at = '2026-11-27 09:00:00'").await;
    set_thread(&app, &thread(5), "last_message_at = NULL").await;
    let idle = insert_idle_thread(&app, &organization, "+15550000001").await;

    let mut tied = vec![thread(0), thread(1), thread(2)];
    tied.sort_unstable_by(|a, b| b.cmp(a));
    let mut without_activity = vec![thread(5), idle.clone()];
    without_activity.sort_unstable_by(|a, b| b.cmp(a));
    let mut expected = vec![thread(3)];
    expected.extend(tied);
    expected.push(thread(4));
    expected.extend(without_activity);

    for (limit, pages) in [(1, 7), (2, 4), (3, 3), (5, 2), (7, 1), (50, 1)] {
        let (seen, taken) = walk(&app, &admin, "/sms/threads?", limit).await;
        assert_eq!(seen, expected, "pages of {limit}");
        assert_eq!(taken, pages, "pages of {limit}");
    }

    let first = app.get_json("/sms/threads?limit=1", &admin).await;
    let me = app.get_json("/me", &admin).await;
    assert_eq!(
        first["items"][0],
        json!({
            "id": thread(3),
            "candidate_id": texted[3].0,
            "candidate_name": "Di Tester",
            "candidate_opted_out": false,
            "candidate_ambiguous": false,
            "phone": phone(3),
            "unread_count": 0,
            "last_message_at": "2026-11-27T11:00:00Z",
            "last_message_preview": "Hello Di",
            "assignee_id": me["id"],
            "needs_reply": false,
            "created_at": first["items"][0]["created_at"],
        })
    );
    assert_eq!(first["unread_total"], 0);
    assert_eq!(first["unread_mine"], 0);
    let unknown = app.get_json(&format!("/sms/threads/{idle}"), &admin).await;
    assert_eq!(unknown["candidate_id"], Value::Null);
    assert_eq!(unknown["candidate_name"], Value::Null);
    assert_eq!(unknown["candidate_opted_out"], Value::Null);
    assert_eq!(unknown["last_message_at"], Value::Null);
    assert_eq!(unknown["created_at"], "2026-11-27T08:00:00Z");
}

#[tokio::test]
async fn threads_of_a_bulk_send_share_a_time_and_page_by_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let organization = app.organization_id(&admin).await;
    let candidates = app
        .insert_candidates(
            &organization,
            (0..250)
                .map(|n| NewCandidate::new(&format!("Cand{n}"), &phone(n)))
                .collect(),
        )
        .await;
    let response = app
        .post(
            "/sms/bulk",
            Some(&admin),
            &json!({"candidate_ids": candidates, "body": "Hi {{candidate.first_name}}"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(app.write_bulk_messages().await, 250);

    let (seen, pages) = walk(&app, &admin, "/sms/threads?", 100).await;

    assert_eq!(pages, 3);
    let mut expected = seen.clone();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    expected.dedup();
    assert_eq!(expected.len(), 250, "no thread is repeated");
    assert_eq!(seen, expected, "one send time: newest id first");
    let (by_sevens, _) = walk(&app, &admin, "/sms/threads?", 7).await;
    assert_eq!(by_sevens, expected);
}

#[tokio::test]
async fn threads_are_filtered_by_unread_candidate_and_text() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let organization = app.organization_id(&admin).await;
    let texted = texted_candidates(&app, &admin, &["Ann", "Bob", "Cy"]).await;
    let (ann, bob, cy) = (&texted[0], &texted[1], &texted[2]);
    send_one(&app, &admin, &ann.0, "Interview on TUESDAY?").await;
    send_one(&app, &admin, &bob.0, "Offer: 50% bonus").await;
    let stranger = insert_idle_thread(&app, &organization, "+15550001111").await;
    set_thread(
        &app,
        &stranger,
        "unread_count = 2, last_message_at = '2020-01-01 09:00:00', \
         last_message_preview = 'Who is this?'",
    )
    .await;
    set_thread(&app, &ann.1, "unread_count = 3").await;
    app.execute_sql(&format!(
        "UPDATE candidates SET sms_opted_out = TRUE WHERE id = '{}'",
        cy.0
    ))
    .await;

    let all = app.get_json("/sms/threads", &admin).await;
    assert_eq!(ids(&all), [bob.1.as_str(), &ann.1, &cy.1, &stranger]);
    assert_eq!(all["items"][2]["candidate_opted_out"], true);
    assert_eq!(all["unread_total"], 5);

    let of_bob = format!("candidate_id={}", bob.0);
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("unread=true", vec![&ann.1, &stranger]),
        ("unread=false", vec![&bob.1, &ann.1, &cy.1, &stranger]),
        (&of_bob, vec![&bob.1]),
        ("q=ann", vec![&ann.1]),
        ("q=%20ANN%20%20", vec![&ann.1]),
        ("q=ann%20tester", vec![&ann.1]),
        ("q=tester", vec![&bob.1, &ann.1, &cy.1]),
        ("q=tuesday", vec![&ann.1]),
        ("q=50%25", vec![&bob.1]),
        ("q=%25", vec![&bob.1]),
        ("q=_", vec![]),
        ("q=who%20is", vec![&stranger]),
        ("q=0001111", vec![&stranger]),
        ("q=%2B6141", vec![&bob.1, &ann.1, &cy.1]),
        ("unread=true&q=tester", vec![&ann.1]),
        ("unread=true&q=bonus", vec![]),
    ];
    for (query, expected) in cases {
        let page = app.get_json(&format!("/sms/threads?{query}"), &admin).await;
        assert_eq!(ids(&page), expected, "GET /sms/threads?{query}");
        assert_eq!(page["unread_total"], 5, "the filters leave the total alone");
    }

    // A filtered list pages like the whole one.
    let (tested, _) = walk(&app, &admin, "/sms/threads?q=tester", 1).await;
    assert_eq!(tested, [bob.1.as_str(), &ann.1, &cy.1]);

    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let theirs = app.organization_id(&globex).await;
    let their_candidate = app
        .insert_candidates(&theirs, vec![NewCandidate::new("Gus", &phone(9))])
        .await;
    for candidate in [uuid::Uuid::now_v7().to_string(), their_candidate[0].clone()] {
        let response = app
            .get(
                &format!("/sms/threads?candidate_id={candidate}"),
                Some(&admin),
            )
            .await;
        let body = problem(response, StatusCode::CONFLICT).await;
        assert_eq!(body["errors"][0]["field"], "candidate_id");
    }
}

#[tokio::test]
async fn reading_a_thread_clears_its_unread_count_once_and_for_all() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let texted = texted_candidates(&app, &admin, &["Ann", "Bob"]).await;
    set_thread(&app, &texted[0].1, "unread_count = 3").await;
    set_thread(&app, &texted[1].1, "unread_count = 2").await;
    let page = app.get_json("/sms/threads?", &recruiter).await;
    assert_eq!(page["unread_total"], 5);

    let read_path = format!("/sms/threads/{}/read", texted[0].1);
    let response = app.post(&read_path, Some(&recruiter), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read["id"], texted[0].1.as_str());
    assert_eq!(read["unread_count"], 0);

    let again = app.post(&read_path, Some(&admin), &json!({})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap(), read, "idempotent");
    let thread = app
        .get_json(&format!("/sms/threads/{}", texted[0].1), &admin)
        .await;
    assert_eq!(thread, read);
    let page = app.get_json("/sms/threads?", &admin).await;
    assert_eq!(page["unread_total"], 2);
    let unread = app.get_json("/sms/threads?unread=true", &admin).await;
    assert_eq!(ids(&unread), [texted[1].1.as_str()]);
}

#[tokio::test]
async fn a_threads_messages_come_newest_first_with_their_history() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&app.clicksend)
        .await;
    let texted = texted_candidates(&app, &admin, &["Ann"]).await;
    let (candidate, thread) = &texted[0];
    let mut sent = Vec::new();
    for n in 1..=3 {
        let message = send_one(&app, &admin, candidate, &format!("Message {n}")).await;
        sent.push(message["id"].as_str().unwrap().to_owned());
    }
    // The first ones go out (their history grows); the last stays queued.
    assert!(app.drain_at(Utc::now()).await.sent >= 3);
    send_one(&app, &admin, candidate, "Still queued").await;
    // A reply, as the webhooks store it.
    let organization = app.organization_id(&admin).await;
    let reply = uuid::Uuid::now_v7().to_string();
    app.execute_sql(&format!(
        "INSERT INTO sms_messages (id, organization_id, thread_id, candidate_id, direction, \
         body, encoding, segments, status, provider, from_number, to_number, send_at, \
         next_attempt_at, attempts, created_at, updated_at) \
         VALUES ('{reply}', '{organization}', '{thread}', '{candidate}', 'inbound', 'Yes!', \
         'GSM-7', 1, 'received', 'clicksend', '{}', '+61411111111', '2026-11-27 10:00:00', \
         '2026-11-27 10:00:00', 0, '2026-11-27 10:00:00', '2026-11-27 10:00:00')",
        phone(0)
    ))
    .await;
    app.execute_sql(&format!(
        "INSERT INTO sms_message_events (id, message_id, status, detail, created_at) \
         VALUES ('{}', '{reply}', 'received', NULL, '2026-11-27 10:00:00')",
        uuid::Uuid::now_v7()
    ))
    .await;
    let all = app
        .get_json(&format!("/sms/threads/{thread}/messages"), &admin)
        .await;
    let expected = ids(&all);
    assert_eq!(expected.len(), 6);
    assert_eq!(expected[0], reply, "newest first");
    assert_eq!(expected[2..5], [sent[2].as_str(), &sent[1], &sent[0]]);
    assert_eq!(all["next_cursor"], Value::Null);

    for limit in [1, 2, 4] {
        let (seen, _) = walk(
            &app,
            &admin,
            &format!("/sms/threads/{thread}/messages?"),
            limit,
        )
        .await;
        assert_eq!(seen, expected, "pages of {limit}");
    }
    // Each carries its history exactly as the message itself shows it.
    for item in all["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let single = app.get_json(&format!("/sms/messages/{id}"), &admin).await;
        assert_eq!(item, &single);
        assert!(!item["history"].as_array().unwrap().is_empty());
    }
    assert_eq!(all["items"][0]["direction"], "inbound");
    assert_eq!(all["items"][0]["history"][0]["status"], "received");
    let first_sent = &all["items"][5];
    assert_eq!(first_sent["status"], "sent");
    assert!(first_sent["history"].as_array().unwrap().len() >= 2);
    assert_eq!(all["items"][1]["history"][0]["status"], "queued");

    let response = app
        .get(
            &format!("/sms/threads/{thread}/messages?cursor=%21%21"),
            Some(&admin),
        )
        .await;
    assert_eq!(refused_field(response).await, "cursor");
    let response = app
        .get(
            &format!("/sms/threads/{thread}/messages?limit=201"),
            Some(&admin),
        )
        .await;
    assert_eq!(refused_field(response).await, "limit");
}

#[tokio::test]
async fn another_organizations_thread_is_not_found() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let texted = texted_candidates(&app, &admin, &["Ann"]).await;
    let thread = &texted[0].1;
    set_thread(&app, thread, "unread_count = 4").await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;

    for path in [
        format!("/sms/threads/{thread}"),
        format!("/sms/threads/{thread}/messages"),
        format!("/sms/threads/{}", uuid::Uuid::now_v7()),
    ] {
        problem(app.get(&path, Some(&globex)).await, StatusCode::NOT_FOUND).await;
    }
    problem(
        app.post(
            &format!("/sms/threads/{thread}/read"),
            Some(&globex),
            &json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let theirs = app.get_json("/sms/threads?", &globex).await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(theirs["unread_total"], 0);
    let ours = app
        .get_json(&format!("/sms/threads/{thread}"), &admin)
        .await;
    assert_eq!(ours["unread_count"], 4, "their read changed nothing");
    // Last: a path that fails to parse abandons the session lookup mid-query, and on
    // SQLite the next transaction on that pooled connection can then panic.
    problem(
        app.get("/sms/threads/not-an-id", Some(&admin)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn the_inbox_needs_a_session() {
    let app = spawn_app().await;
    let thread = uuid::Uuid::now_v7();
    for path in [
        "/sms/threads".to_owned(),
        format!("/sms/threads/{thread}"),
        format!("/sms/threads/{thread}/messages"),
    ] {
        problem(app.get(&path, None).await, StatusCode::UNAUTHORIZED).await;
    }
    problem(
        app.post(&format!("/sms/threads/{thread}/read"), None, &json!({}))
            .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn invalid_list_parameters_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let message_cursor = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().to_string())
    };
    let long = "a".repeat(101);
    for (query, field) in [
        ("cursor=%21%21", "cursor"),
        (&*format!("cursor={message_cursor}"), "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("q=", "q"),
        ("q=%20%20%20", "q"),
        (&*format!("q={long}"), "q"),
    ] {
        let response = app
            .get(&format!("/sms/threads?{query}"), Some(&admin))
            .await;
        assert_eq!(refused_field(response).await, field, "?{query}");
    }
    let hundred = "é".repeat(100);
    let response = app
        .get(&format!("/sms/threads?q={hundred}"), Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "100 characters are fine");
}
