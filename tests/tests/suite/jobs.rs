//! Jobs and their kanban boards.

use nextal_tests::{TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create_job(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post("/jobs", Some(token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn create_candidate(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post("/candidates", Some(token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| {
            (
                error["field"].as_str().unwrap().to_owned(),
                error["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The board as (stage, [first names]).
fn columns(board: &Value) -> Vec<(String, Vec<String>)> {
    board["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|stage| {
            (
                stage["name"].as_str().unwrap().to_owned(),
                stage["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|candidate| candidate["first_name"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_job_gets_the_default_stages_and_is_listed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let job = create_job(&app, &admin, &json!({"title": "  Registered Nurse "})).await;
    assert_eq!(job["title"], "Registered Nurse");
    assert_eq!(
        job["stages"],
        json!(["Applied", "Screening", "Interview", "Offer", "Hired"])
    );
    assert!(
        job["id"].is_string() && job["created_at"].is_string() && job["updated_at"].is_string()
    );
    let custom = create_job(
        &app,
        &admin,
        &json!({"title": "Welder", "stages": ["New", " Call "]}),
    )
    .await;
    assert_eq!(custom["stages"], json!(["New", "Call"]));

    let first: Value = app
        .get("/jobs?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    assert_eq!(first["items"][0]["id"], job["id"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(&format!("/jobs?limit=1&cursor={cursor}"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"][0]["id"], custom["id"]);
    assert_eq!(second["next_cursor"], Value::Null);
}

#[tokio::test]
async fn titles_and_stages_are_checked_field_by_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .post(
            "/jobs",
            Some(&admin),
            &json!({"title": " ", "stages": ["Applied", "", "x".repeat(61)]}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<String> = field_errors(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["title", "stages[1]", "stages[2]"]);

    for stages in [
        json!([]),
        json!(["Offer", "offer"]),
        json!((0..21).map(|n| format!("Stage {n}")).collect::<Vec<_>>()),
    ] {
        let response = app
            .post(
                "/jobs",
                Some(&admin),
                &json!({"title": "Nurse", "stages": stages}),
            )
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(field_errors(&body)[0].0, "stages", "{stages}");
    }

    let response = app
        .post(
            "/jobs",
            Some(&admin),
            &json!({"title": "Nurse", "salary": 1}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_errors(&body)[0].0, "salary");
    let jobs: Value = app.get("/jobs", Some(&admin)).await.json().await.unwrap();
    assert_eq!(jobs["items"], json!([]));
}

#[tokio::test]
async fn the_board_groups_candidates_by_stage() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job = create_job(
        &app,
        &admin,
        &json!({"title": "Nurse", "stages": ["Applied", "Interview", "Hired"]}),
    )
    .await;
    let job_id = job["id"].as_str().unwrap();
    let other_job = create_job(&app, &admin, &json!({"title": "Welder"})).await;

    create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job_id, "stage": "interview"}),
    )
    .await;
    create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Bob", "last_name": "Ng", "job_id": job_id}),
    )
    .await;
    let cleared = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Cat", "last_name": "Oh", "job_id": job_id, "stage": "Hired", "phone": "+14155552671"}),
    )
    .await;
    // A stage cleared to null, and one the job does not have (written directly), both
    // show in the first stage.
    let response = app
        .patch(
            &format!("/candidates/{}", cleared["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"stage": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let stray = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Dan", "last_name": "Po", "job_id": job_id}),
    )
    .await;
    app.execute_sql(&format!(
        "UPDATE candidates SET stage = 'Archived' WHERE id = '{}'",
        stray["id"].as_str().unwrap()
    ))
    .await;
    create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Eve", "last_name": "Qi", "job_id": other_job["id"]}),
    )
    .await;
    create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Fay", "last_name": "Ro"}),
    )
    .await;

    let response = app
        .get(&format!("/jobs/{job_id}/board"), Some(&admin))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let board: Value = response.json().await.unwrap();
    assert_eq!(board["job"]["id"], job["id"]);
    assert_eq!(board["job"]["title"], "Nurse");
    assert_eq!(
        columns(&board),
        [
            (
                "Applied".to_owned(),
                vec!["Bob".to_owned(), "Cat".to_owned(), "Dan".to_owned()]
            ),
            ("Interview".to_owned(), vec!["Ann".to_owned()]),
            ("Hired".to_owned(), vec![]),
        ]
    );
    let card = &board["stages"][0]["candidates"][1];
    assert_eq!(card["id"], cleared["id"]);
    assert_eq!(card["last_name"], "Oh");
    assert_eq!(card["phone"], "+14155552671");
    assert_eq!(card["sms_opted_out"], false);
    assert_eq!(card["sms"], Value::Null);
    assert!(card.as_object().unwrap().contains_key("sms"));
}

#[tokio::test]
async fn the_board_summarises_each_candidates_sms_thread() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job = create_job(&app, &admin, &json!({"title": "Nurse"})).await;
    let job_id = job["id"].as_str().unwrap();
    let org: Value = app
        .get("/organization", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let org_id = org["id"].as_str().unwrap();

    // A reply from a number before the candidate was added: the thread is nobody's.
    let thread_id = uuid::Uuid::now_v7().to_string();
    let long_reply = format!("Yes please! {}", "x".repeat(300));
    app.execute_sql(&format!(
        "INSERT INTO sms_threads (id, organization_id, phone, candidate_id, unread_count, \
         last_message_at, last_message_preview, created_at, updated_at) VALUES \
         ('{thread_id}', '{org_id}', '+14155552671', NULL, 2, '2026-01-02 03:04:05', \
         '{long_reply}', '2026-01-02 03:04:05', '2026-01-02 03:04:05')"
    ))
    .await;

    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job_id, "phone": "(415) 555-2671"}),
    )
    .await;
    assert_eq!(ann["phone"], "+14155552671");
    create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Bob", "last_name": "Ng", "job_id": job_id, "phone": "+14155552672"}),
    )
    .await;

    let board: Value = app
        .get(&format!("/jobs/{job_id}/board"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let cards = &board["stages"][0]["candidates"];
    assert_eq!(cards[0]["id"], ann["id"]);
    let sms = &cards[0]["sms"];
    assert_eq!(sms["thread_id"], thread_id);
    assert_eq!(sms["unread_count"], 2);
    let preview = sms["last_message_preview"].as_str().unwrap();
    assert_eq!(preview.chars().count(), 160);
    assert!(long_reply.starts_with(preview));
    assert_eq!(sms["last_message_at"], "2026-01-02T03:04:05Z");
    assert_eq!(cards[1]["first_name"], "Bob");
    assert_eq!(cards[1]["sms"], Value::Null);
}

#[tokio::test]
async fn another_organizations_board_is_not_found() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let job = create_job(&app, &acme, &json!({"title": "Nurse"})).await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;

    let path = format!("/jobs/{}/board", job["id"].as_str().unwrap());
    problem(app.get(&path, Some(&globex)).await, StatusCode::NOT_FOUND).await;
    let unknown = format!("/jobs/{}/board", uuid::Uuid::now_v7());
    problem(app.get(&unknown, Some(&acme)).await, StatusCode::NOT_FOUND).await;
    let globex_jobs: Value = app.get("/jobs", Some(&globex)).await.json().await.unwrap();
    assert_eq!(globex_jobs["items"], json!([]));
    problem(app.get("/jobs", None).await, StatusCode::UNAUTHORIZED).await;
}
