//! The team inbox: assigning threads to members, a send taking an unassigned thread,
//! the assignee and needs-reply filters with the caller's unread count, marking a thread
//! unread again, and event streams kept to the caller's threads.

use nextal_tests::{NewCandidate, TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::messaging::{activate_clicksend, phone, send_one};
use crate::webhooks::{clicksend_inbox, event_stream, read_until, reply_form};

/// The caller's user id.
async fn my_id(app: &TestApp, token: &str) -> String {
    let me: Value = app.get("/me", Some(token)).await.json().await.unwrap();
    me["id"].as_str().unwrap().to_owned()
}

fn ids(page: &Value) -> Vec<String> {
    let mut ids: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

fn sorted(mut ids: Vec<&str>) -> Vec<String> {
    ids.sort_unstable();
    ids.into_iter().map(str::to_owned).collect()
}

/// Candidates named `names` at `phone(first)`, `phone(first + 1)`…; their ids.
async fn candidates(app: &TestApp, admin: &str, first: usize, names: &[&str]) -> Vec<String> {
    let organization = app.organization_id(admin).await;
    app.insert_candidates(
        &organization,
        names
            .iter()
            .enumerate()
            .map(|(n, name)| NewCandidate::new(name, &phone(first + n)))
            .collect(),
    )
    .await
}

/// Texts `candidate_id` as `token`; the thread's id.
async fn text(app: &TestApp, token: &str, candidate_id: &str) -> String {
    send_one(app, token, candidate_id, "Hello").await["thread_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn assign(app: &TestApp, token: &str, thread_id: &str, user_id: Value) -> reqwest::Response {
    app.put(
        &format!("/sms/threads/{thread_id}/assignee"),
        Some(token),
        &json!({ "user_id": user_id }),
    )
    .await
}

async fn assigned(app: &TestApp, token: &str, thread_id: &str, user_id: Value) -> Value {
    let response = assign(app, token, thread_id, user_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn refused_field(response: reqwest::Response) -> String {
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"][0]["field"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_member_assigns_a_thread_to_another_and_back_to_the_team_and_it_is_audited() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let (rita_id, rita) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let ann = candidates(&app, &admin, 1, &["Ann"]).await;
    let thread = text(&app, &admin, &ann[0]).await;

    let taken = assigned(&app, &rita, &thread, json!(rita_id)).await;
    assert_eq!(taken["id"], thread.as_str());
    assert_eq!(taken["assignee_id"], rita_id.as_str());
    assert_eq!(
        app.get_json(&format!("/sms/threads/{thread}"), &admin)
            .await,
        taken
    );
    let again = assigned(&app, &admin, &thread, json!(rita_id)).await;
    assert_eq!(again, taken, "the same assignee again changes nothing");

    let released = assigned(&app, &rita, &thread, Value::Null).await;
    assert_eq!(released["assignee_id"], Value::Null);

    let log = app.get_json("/audit-log", &admin).await;
    let changes: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "thread.assigned")
        .collect();
    let admin_id = my_id(&app, &admin).await;
    // Newest first: the release, then the assignment (the repeat is not a change).
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["target"], thread.as_str());
    assert_eq!(changes[0]["actor_user_id"], rita_id.as_str());
    assert_eq!(
        changes[0]["details"],
        json!({"assignee_id": null, "previous_assignee_id": rita_id})
    );
    assert_eq!(
        changes[1]["details"],
        json!({"assignee_id": rita_id, "previous_assignee_id": admin_id})
    );
}

#[tokio::test]
async fn only_an_active_member_of_the_organization_can_be_assigned() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let (gone_id, _) = app.create_user(&admin, "gone@acme.test", "recruiter").await;
    let deactivated = app
        .patch(
            &format!("/users/{gone_id}"),
            Some(&admin),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(deactivated.status(), StatusCode::OK);
    let other_admin = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let other_admin_id = my_id(&app, &other_admin).await;
    let ann = candidates(&app, &admin, 1, &["Ann"]).await;
    let thread = text(&app, &admin, &ann[0]).await;

    for user_id in [
        json!(gone_id),
        json!(other_admin_id),
        json!(uuid::Uuid::now_v7().to_string()),
        json!("not-a-uuid"),
    ] {
        let response = assign(&app, &admin, &thread, user_id.clone()).await;
        assert_eq!(refused_field(response).await, "user_id", "{user_id}");
    }
    for body in [json!({}), json!({"user_id": null, "note": "mine"})] {
        let response = app
            .put(
                &format!("/sms/threads/{thread}/assignee"),
                Some(&admin),
                &body,
            )
            .await;
        problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Another organization's thread is not found, whoever is named.
    let response = assign(&app, &other_admin, &thread, json!(other_admin_id)).await;
    problem(response, StatusCode::NOT_FOUND).await;
    let response = assign(&app, &other_admin, &thread, Value::Null).await;
    problem(response, StatusCode::NOT_FOUND).await;
    let admin_id = my_id(&app, &admin).await;
    let unchanged = app
        .get_json(&format!("/sms/threads/{thread}"), &admin)
        .await;
    assert_eq!(unchanged["assignee_id"], admin_id.as_str());
}

#[tokio::test]
async fn a_send_assigns_an_unassigned_thread_to_its_sender_and_never_moves_an_assigned_one() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let admin_id = my_id(&app, &admin).await;
    let (rita_id, rita) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let people = candidates(&app, &admin, 1, &["Ann", "Bob", "Cy"]).await;

    // A single send creates Ann's thread, assigned to the sender; another's send and
    // reply leave it where it is.
    let ann = text(&app, &admin, &people[0]).await;
    text(&app, &rita, &people[0]).await;
    let reply = app
        .post(
            &format!("/sms/threads/{ann}/messages"),
            Some(&rita),
            &json!({"body": "Following up"}),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let thread = app.get_json(&format!("/sms/threads/{ann}"), &admin).await;
    assert_eq!(thread["assignee_id"], admin_id.as_str());

    // A reply from an unknown number opens an unassigned thread; answering takes it.
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000101",
        &phone(9),
        "Hi?",
    )
    .await;
    let page = app.get_json("/sms/threads?assignee=none", &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let stranger = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["items"][0]["phone"], phone(9).as_str());
    let reply = app
        .post(
            &format!("/sms/threads/{stranger}/messages"),
            Some(&rita),
            &json!({"body": "Who is this?"}),
        )
        .await;
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let thread = app
        .get_json(&format!("/sms/threads/{stranger}"), &admin)
        .await;
    assert_eq!(thread["assignee_id"], rita_id.as_str());

    // A bulk send takes the new (and unassigned) threads, not the assigned ones.
    let unassigned = assigned(&app, &admin, &ann, Value::Null).await;
    assert_eq!(unassigned["assignee_id"], Value::Null);
    text(&app, &admin, &people[1]).await;
    let response = app
        .post(
            "/sms/bulk",
            Some(&rita),
            &json!({"candidate_ids": people, "body": "Quick one"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.write_bulk_messages().await;
    let assignees: Vec<(String, Value)> = app.get_json("/sms/threads", &admin).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["phone"].as_str().unwrap().to_owned(),
                item["assignee_id"].clone(),
            )
        })
        .collect();
    let assignee_of = |n: usize| {
        assignees
            .iter()
            .find(|(number, _)| *number == phone(n))
            .map(|(_, assignee)| assignee.clone())
            .unwrap()
    };
    assert_eq!(
        assignee_of(1),
        json!(rita_id),
        "Ann's thread was unassigned"
    );
    assert_eq!(
        assignee_of(2),
        json!(admin_id),
        "Bob's thread was the admin's"
    );
    assert_eq!(assignee_of(3), json!(rita_id), "Cy's thread is new");
}

#[tokio::test]
async fn threads_are_filtered_by_assignee_and_needs_reply_with_the_callers_unread_count() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let (rita_id, rita) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let people = candidates(&app, &admin, 1, &["Ann", "Bob"]).await;
    let ann = text(&app, &admin, &people[0]).await;
    let bob = text(&app, &rita, &people[1]).await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000201",
        &phone(1),
        "Yes",
    )
    .await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000202",
        &phone(1),
        "Tuesday?",
    )
    .await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000203",
        &phone(9),
        "Hello?",
    )
    .await;
    let stranger = app.get_json("/sms/threads?assignee=none", &admin).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let all = app.get_json("/sms/threads", &admin).await;
    assert_eq!(ids(&all), sorted(vec![&ann, &bob, &stranger]));
    assert_eq!(all["unread_total"], 3);
    assert_eq!(all["unread_mine"], 2, "Ann's two replies");
    let thread = |id: &str| {
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(thread(&ann)["needs_reply"], true);
    assert_eq!(thread(&bob)["needs_reply"], false);
    assert_eq!(thread(&stranger)["needs_reply"], true);
    assert_eq!(thread(&stranger)["assignee_id"], Value::Null);

    for (token, query, expected) in [
        (&admin, "assignee=me", vec![ann.as_str()]),
        (&rita, "assignee=me", vec![bob.as_str()]),
        (&admin, "assignee=none", vec![stranger.as_str()]),
        (
            &admin,
            &format!("assignee={rita_id}") as &str,
            vec![bob.as_str()],
        ),
        (
            &admin,
            "needs_reply=true",
            vec![ann.as_str(), stranger.as_str()],
        ),
        (
            &admin,
            "needs_reply=false",
            vec![ann.as_str(), bob.as_str(), stranger.as_str()],
        ),
        (&admin, "assignee=me&needs_reply=true", vec![ann.as_str()]),
        (&rita, "assignee=me&needs_reply=true", vec![]),
        (&admin, "assignee=none&unread=true", vec![stranger.as_str()]),
    ] {
        let page = app.get_json(&format!("/sms/threads?{query}"), token).await;
        assert_eq!(ids(&page), sorted(expected), "{query}");
    }
    let rita_page = app.get_json("/sms/threads?assignee=me", &rita).await;
    assert_eq!(rita_page["unread_total"], 3);
    assert_eq!(rita_page["unread_mine"], 0);

    // Answering ends the wait; reading leaves it (the candidate still waits).
    let read = app
        .post(
            &format!("/sms/threads/{stranger}/read"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    text(&app, &admin, &people[0]).await;
    let waiting = app.get_json("/sms/threads?needs_reply=true", &admin).await;
    assert_eq!(ids(&waiting), [stranger.as_str()]);
    // Taking a thread brings its unread replies into the taker's count.
    assigned(&app, &rita, &ann, json!(rita_id)).await;
    let page = app.get_json("/sms/threads", &rita).await;
    assert_eq!(page["unread_mine"], 2);
    assert_eq!(app.get_json("/sms/threads", &admin).await["unread_mine"], 0);
}

#[tokio::test]
async fn invalid_assignee_filters_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let other_admin = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let other_admin_id = my_id(&app, &other_admin).await;
    for query in ["assignee=someone", "assignee="] {
        let response = app
            .get(&format!("/sms/threads?{query}"), Some(&admin))
            .await;
        assert_eq!(refused_field(response).await, "assignee", "{query}");
    }
    // A well-formed id that names no member of ours is an unknown reference, as any id
    // in a query that names nothing.
    for user_id in [other_admin_id, uuid::Uuid::now_v7().to_string()] {
        let response = app
            .get(&format!("/sms/threads?assignee={user_id}"), Some(&admin))
            .await;
        let body = problem(response, StatusCode::CONFLICT).await;
        assert_eq!(
            body["type"],
            "https://nextal.app/problems/unknown-reference"
        );
        assert_eq!(body["errors"][0]["field"], "assignee", "{user_id}");
    }
    let response = app
        .get("/sms/threads?needs_reply=maybe", Some(&admin))
        .await;
    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn marking_a_thread_unread_brings_back_its_latest_reply() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let people = candidates(&app, &admin, 1, &["Ann", "Bob"]).await;
    let ann = text(&app, &admin, &people[0]).await;
    let bob = text(&app, &admin, &people[1]).await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000301",
        &phone(1),
        "Yes",
    )
    .await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000302",
        &phone(1),
        "Tue?",
    )
    .await;
    let read = app
        .post(
            &format!("/sms/threads/{ann}/read"),
            Some(&admin),
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(
        app.get_json("/sms/threads", &admin).await["unread_total"],
        0
    );

    let unread_path = format!("/sms/threads/{ann}/unread");
    let response = app.post(&unread_path, Some(&admin), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let unread: Value = response.json().await.unwrap();
    assert_eq!(unread["id"], ann.as_str());
    assert_eq!(unread["unread_count"], 1);
    let again = app.post(&unread_path, Some(&admin), &json!({})).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        again.json::<Value>().await.unwrap()["unread_count"],
        1,
        "idempotent"
    );
    let page = app.get_json("/sms/threads?unread=true", &admin).await;
    assert_eq!(ids(&page), [ann.as_str()]);
    assert_eq!(page["unread_total"], 1);
    assert_eq!(page["unread_mine"], 1);

    // Bob never replied: nothing to mark unread.
    let response = app
        .post(
            &format!("/sms/threads/{bob}/unread"),
            Some(&admin),
            &json!({}),
        )
        .await;
    let body = problem(response, StatusCode::CONFLICT).await;
    assert!(
        body["type"].as_str().unwrap().ends_with("no-reply"),
        "{body}"
    );
    assert_eq!(
        app.get_json(&format!("/sms/threads/{bob}"), &admin).await["unread_count"],
        0
    );

    let other_admin = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let response = app.post(&unread_path, Some(&other_admin), &json!({})).await;
    problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn deactivating_a_member_gives_their_threads_back_to_the_team() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    activate_clicksend(&app, &admin).await;
    let (rita_id, rita) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let people = candidates(&app, &admin, 1, &["Ann", "Bob"]).await;
    let ann = text(&app, &rita, &people[0]).await;
    let bob = text(&app, &admin, &people[1]).await;

    let response = app
        .patch(
            &format!("/users/{rita_id}"),
            Some(&admin),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let team = app.get_json("/sms/threads?assignee=none", &admin).await;
    assert_eq!(ids(&team), [ann.as_str()]);
    let still = app.get_json(&format!("/sms/threads/{bob}"), &admin).await;
    assert_eq!(still["assignee_id"], my_id(&app, &admin).await.as_str());
    let log = app.get_json("/audit-log", &admin).await;
    let entry = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "user.updated" && entry["target"] == rita_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["details"]["unassigned_threads"], 1);
    // Their sessions ended with the deactivation.
    problem(
        app.get("/sms/threads", Some(&rita)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

/// The events the stream sends until one containing `wanted`, each as (name, data);
/// fails after a second.
async fn events_until<B: AsRef<[u8]>>(
    chunks: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    wanted: &str,
) -> Vec<(String, Value)> {
    let received = read_until(chunks, wanted).await;
    received
        .split("\n\n")
        .filter_map(|frame| {
            let name = frame
                .lines()
                .find_map(|line| line.strip_prefix("event: "))?;
            let data = frame.lines().find_map(|line| line.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn a_mine_event_stream_carries_only_the_callers_and_the_teams_threads() {
    let app = spawn_app().await;
    let (admin, inbound, _) = clicksend_inbox(&app).await;
    let admin_id = my_id(&app, &admin).await;
    let (rita_id, rita) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let people = candidates(&app, &admin, 1, &["Ann", "Bob"]).await;
    let ann = text(&app, &rita, &people[0]).await;
    let bob = text(&app, &admin, &people[1]).await;
    let mut mine = event_stream(&app, app.url("/sms/events?scope=mine"), &admin).await;
    let mut everything = event_stream(&app, app.url("/sms/events"), &admin).await;

    // Rita's thread, then the admin's, then a new one nobody has.
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000401",
        &phone(1),
        "Ann",
    )
    .await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000402",
        &phone(2),
        "Bob",
    )
    .await;
    reply_form(
        &app,
        &inbound,
        "A1B2C3D4-0000-4000-8000-000000000403",
        &phone(9),
        "Who",
    )
    .await;
    let stranger = app.get_json("/sms/threads?assignee=none", &admin).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let all = events_until(&mut everything, &stranger).await;
    let threads_of = |events: &[(String, Value)]| -> Vec<(String, String, Value)> {
        events
            .iter()
            .map(|(name, data)| {
                (
                    name.clone(),
                    data["thread_id"].as_str().unwrap().to_owned(),
                    data["assignee_id"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        threads_of(&all),
        [
            ("message.received".to_owned(), ann.clone(), json!(rita_id)),
            ("message.received".to_owned(), bob.clone(), json!(admin_id)),
            ("message.received".to_owned(), stranger.clone(), Value::Null),
        ]
    );
    // Events come in order: Rita's reply would have come before the stranger's.
    let filtered = events_until(&mut mine, &stranger).await;
    assert_eq!(
        threads_of(&filtered),
        [
            ("message.received".to_owned(), bob.clone(), json!(admin_id)),
            ("message.received".to_owned(), stranger.clone(), Value::Null),
        ]
    );

    // Giving Bob's thread to Rita reaches the admin's stream (it leaves their list);
    // Rita reading her own thread does not, the team's thread being read does.
    assigned(&app, &admin, &bob, json!(rita_id)).await;
    let read = app
        .post(&format!("/sms/threads/{ann}/read"), Some(&rita), &json!({}))
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let read = app
        .post(
            &format!("/sms/threads/{stranger}/read"),
            Some(&rita),
            &json!({}),
        )
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let filtered = events_until(&mut mine, "thread.read").await;
    assert_eq!(filtered.len(), 2, "{filtered:?}");
    assert_eq!(filtered[0].0, "thread.assigned");
    assert_eq!(
        filtered[0].1,
        json!({"thread_id": bob, "assignee_id": rita_id, "previous_assignee_id": admin_id})
    );
    assert_eq!(filtered[1].0, "thread.read");
    assert_eq!(
        filtered[1].1,
        json!({"thread_id": stranger, "assignee_id": null})
    );
}

#[tokio::test]
async fn an_unknown_event_scope_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app.get("/sms/events?scope=theirs", Some(&admin)).await;

    problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}
