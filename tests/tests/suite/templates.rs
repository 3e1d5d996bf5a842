//! SMS templates: merge fields, their validation and the per-candidate preview.

use nextal_tests::{TestApp, problem, spawn_app};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

const KNOWN_FIELDS: &str = "{{candidate.first_name}}, {{candidate.last_name}}, {{job.title}}, \
    {{recruiter.first_name}}, {{organization.name}}";

async fn create_template(app: &TestApp, token: &str, name: &str, body: &str) -> Value {
    let response = app
        .post(
            "/sms-templates",
            Some(token),
            &json!({"name": name, "body": body}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn create_candidate(app: &TestApp, token: &str, body: &Value) -> String {
    let response = app.post("/candidates", Some(token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let candidate: Value = response.json().await.unwrap();
    candidate["id"].as_str().unwrap().to_owned()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Response {
    app.client
        .delete(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn preview(app: &TestApp, token: &str, template_id: &str, candidate_id: &str) -> Response {
    app.post(
        &format!("/sms-templates/{template_id}/preview"),
        Some(token),
        &json!({"candidate_id": candidate_id}),
    )
    .await
}

async fn preview_ok(app: &TestApp, token: &str, template_id: &str, candidate_id: &str) -> Value {
    let response = preview(app, token, template_id, candidate_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn templates_are_created_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let invite = create_template(
        &app,
        &admin,
        " Interview invite ",
        "Hi {{ candidate.first_name }}, {{recruiter.first_name}} here about the {{job.title}} role. {{candidate.first_name}}?",
    )
    .await;
    assert_eq!(invite["name"], "Interview invite");
    assert_eq!(
        invite["body"],
        "Hi {{ candidate.first_name }}, {{recruiter.first_name}} here about the {{job.title}} role. {{candidate.first_name}}?"
    );
    assert_eq!(
        invite["fields"],
        json!(["candidate.first_name", "recruiter.first_name", "job.title"])
    );
    assert!(invite["created_at"].is_string() && invite["updated_at"].is_string());
    let plain = create_template(&app, &admin, "Plain", "See you soon!").await;
    assert_eq!(plain["fields"], json!([]));

    let first: Value = app
        .get("/sms-templates?limit=1", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["items"], json!([invite]));
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get(
            &format!("/sms-templates?limit=1&cursor={cursor}"),
            Some(&admin),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"], json!([plain]));
    assert_eq!(second["next_cursor"], Value::Null);

    let path = format!("/sms-templates/{}", invite["id"].as_str().unwrap());
    let response = app
        .put(
            &path,
            Some(&admin),
            &json!({"name": "Invite", "body": "{{organization.name}}: hi {{candidate.last_name}}"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "Invite");
    assert_eq!(
        updated["fields"],
        json!(["organization.name", "candidate.last_name"])
    );
    let read: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
    assert_eq!(read, updated);

    let response = delete(&app, &path, &admin).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(app.get(&path, Some(&admin)).await, StatusCode::NOT_FOUND).await;
    problem(delete(&app, &path, &admin).await, StatusCode::NOT_FOUND).await;

    let log: Value = app
        .get("/audit-log", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["target"] == invite["id"])
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["template.deleted", "template.updated", "template.created"]
    );
}

#[tokio::test]
async fn an_unknown_merge_field_is_refused_with_the_known_ones() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .post(
            "/sms-templates",
            Some(&admin),
            &json!({"name": "Bad", "body": "Hi {{candidate.phone}}"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "body");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("{{candidate.phone}}"), "{message}");
    assert!(message.contains(KNOWN_FIELDS), "{message}");

    let response = app
        .post(
            "/sms-templates",
            Some(&admin),
            &json!({"name": "", "body": "Hi {{candidate.first_name"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "body"]);

    let template = create_template(&app, &admin, "Ok", "Hi").await;
    let path = format!("/sms-templates/{}", template["id"].as_str().unwrap());
    let response = app
        .put(
            &path,
            Some(&admin),
            &json!({"name": "Ok", "body": "{{job.name}}"}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "body");
    let response = app
        .post(
            "/sms-templates",
            Some(&admin),
            &json!({"name": "Ok", "body": "Hi", "shared": true}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "shared");
    let unchanged: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
    assert_eq!(unchanged["body"], "Hi");
}

#[tokio::test]
async fn the_preview_renders_merge_fields_for_each_candidate_and_sender() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.patch("/organization", Some(&admin), &json!({"name": "Acme Care"}))
        .await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let response = app
        .post("/jobs", Some(&admin), &json!({"title": "Nurse"}))
        .await;
    let job: Value = response.json().await.unwrap();
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job["id"]}),
    )
    .await;
    let bob = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Bob", "last_name": "Ng"}),
    )
    .await;
    let template = create_template(
        &app,
        &admin,
        "Invite",
        "Hi {{candidate.first_name}} {{candidate.last_name}}, {{recruiter.first_name}} from {{organization.name}} about [{{job.title}}].",
    )
    .await;
    let id = template["id"].as_str().unwrap();

    let for_ann = preview_ok(&app, &recruiter, id, &ann).await;
    assert_eq!(
        for_ann["text"],
        "Hi Ann Lee, Rita from Acme Care about [Nurse]."
    );
    assert_eq!(for_ann["encoding"], "GSM-7");
    assert_eq!(for_ann["characters"], 48, "[ and ] take two septets");
    assert_eq!(for_ann["segments"], 1);
    assert_eq!(for_ann["too_long"], false);

    // The admin sends as themself; a candidate without a job has an empty title.
    let for_bob = preview_ok(&app, &admin, id, &bob).await;
    assert_eq!(for_bob["text"], "Hi Bob Ng, Admin from Acme Care about [].");
}

#[tokio::test]
async fn the_preview_counts_the_encoding_and_segments() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee"}),
    )
    .await;

    let gsm = create_template(&app, &admin, "Euro", "{{candidate.first_name}} owes €5").await;
    let preview = preview_ok(&app, &admin, gsm["id"].as_str().unwrap(), &ann).await;
    assert_eq!(preview["text"], "Ann owes €5");
    assert_eq!(preview["encoding"], "GSM-7");
    assert_eq!(preview["characters"], 12, "€ takes two septets");

    let emoji = create_template(&app, &admin, "Emoji", "Hi {{candidate.first_name}} 😀").await;
    let preview = preview_ok(&app, &admin, emoji["id"].as_str().unwrap(), &ann).await;
    assert_eq!(preview["encoding"], "UCS-2");
    assert_eq!(preview["characters"], 9, "an emoji is two UTF-16 units");
    assert_eq!(preview["segments"], 1);

    // 161 GSM-7 characters are two segments.
    let two = create_template(
        &app,
        &admin,
        "Two",
        &format!("{}{{{{candidate.first_name}}}}", "a".repeat(158)),
    )
    .await;
    let preview = preview_ok(&app, &admin, two["id"].as_str().unwrap(), &ann).await;
    assert_eq!(
        (preview["characters"].as_u64(), preview["segments"].as_u64()),
        (Some(161), Some(2))
    );
    assert_eq!(preview["too_long"], false);

    // Over six segments: still rendered, flagged for the SPA to warn.
    let long = create_template(
        &app,
        &admin,
        "Long",
        &format!("😀 {{{{candidate.first_name}}}} {}", "b".repeat(400)),
    )
    .await;
    let preview = preview_ok(&app, &admin, long["id"].as_str().unwrap(), &ann).await;
    assert_eq!(preview["encoding"], "UCS-2");
    assert_eq!(preview["characters"], 407);
    assert_eq!(preview["segments"], 7);
    assert_eq!(preview["too_long"], true);
}

#[tokio::test]
async fn the_preview_of_an_unknown_candidate_is_a_409_on_its_field() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let template = create_template(&app, &acme, "Hi", "Hi {{candidate.first_name}}").await;
    let id = template["id"].as_str().unwrap();
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let globex_candidate = create_candidate(
        &app,
        &globex,
        &json!({"first_name": "Gus", "last_name": "G"}),
    )
    .await;

    for candidate in [
        globex_candidate,
        uuid::Uuid::now_v7().to_string(),
        "x".to_owned(),
    ] {
        let body = problem(
            preview(&app, &acme, id, &candidate).await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "candidate_id");
    }
    let response = app
        .post(
            &format!("/sms-templates/{id}/preview"),
            Some(&acme),
            &json!({}),
        )
        .await;
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "candidate_id");
}

#[tokio::test]
async fn another_organizations_templates_are_not_found() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let template = create_template(&app, &acme, "Acme only", "Hi {{candidate.first_name}}").await;
    let path = format!("/sms-templates/{}", template["id"].as_str().unwrap());
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let globex_candidate = create_candidate(
        &app,
        &globex,
        &json!({"first_name": "Gus", "last_name": "G"}),
    )
    .await;

    problem(app.get(&path, Some(&globex)).await, StatusCode::NOT_FOUND).await;
    problem(
        app.put(
            &path,
            Some(&globex),
            &json!({"name": "Mine", "body": "Mine"}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(delete(&app, &path, &globex).await, StatusCode::NOT_FOUND).await;
    problem(
        preview(
            &app,
            &globex,
            template["id"].as_str().unwrap(),
            &globex_candidate,
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed: Value = app
        .get("/sms-templates", Some(&globex))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    let unchanged: Value = app.get(&path, Some(&acme)).await.json().await.unwrap();
    assert_eq!(unchanged["name"], "Acme only");
}
