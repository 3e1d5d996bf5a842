//! Candidates: names, phone in E.164, job and stage, SMS opt-out.

use nextal_tests::{TestApp, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn create_job(app: &TestApp, token: &str, title: &str) -> String {
    let response = app
        .post(
            "/jobs",
            Some(token),
            &json!({"title": title, "stages": ["Applied", "Interview", "Hired"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job: Value = response.json().await.unwrap();
    job["id"].as_str().unwrap().to_owned()
}

async fn create_candidate(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post("/candidates", Some(token), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn refused_fields(response: reqwest::Response) -> Vec<(String, String)> {
    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    body["errors"]
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

#[tokio::test]
async fn a_candidate_is_created_read_and_listed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job_id = create_job(&app, &admin, "Nurse").await;

    let ann = create_candidate(
        &app,
        &admin,
        &json!({
            "first_name": " Ann ",
            "last_name": "Lee",
            "phone": "(415) 555-2671",
            "email": "Ann.Lee@Example.com",
            "job_id": job_id,
        }),
    )
    .await;
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["last_name"], "Lee");
    assert_eq!(ann["phone"], "+14155552671");
    assert_eq!(ann["email"], "ann.lee@example.com");
    assert_eq!(ann["job_id"], job_id.as_str());
    // With a job and no stage, the candidate starts in the job's first stage.
    assert_eq!(ann["stage"], "Applied");
    assert_eq!(ann["sms_opted_out"], false);
    assert!(ann["created_at"].is_string() && ann["updated_at"].is_string());

    let bare = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Bob", "last_name": "Ng"}),
    )
    .await;
    for field in ["phone", "email", "job_id", "stage"] {
        assert_eq!(bare[field], Value::Null, "{field}");
    }

    let id = ann["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/candidates/{id}"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read, ann);

    let all: Value = app
        .get("/candidates", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"], json!([ann, bare]));
    assert_eq!(all["next_cursor"], Value::Null);
    let of_job: Value = app
        .get(&format!("/candidates?job_id={job_id}"), Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(of_job["items"], json!([ann]));
}

#[tokio::test]
async fn candidates_are_listed_page_by_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job_id = create_job(&app, &admin, "Nurse").await;
    let mut expected = Vec::new();
    for n in 0..5 {
        let candidate = create_candidate(
            &app,
            &admin,
            &json!({"first_name": format!("C{n}"), "last_name": "X", "job_id": job_id}),
        )
        .await;
        expected.push(candidate["id"].clone());
    }

    let mut seen = Vec::new();
    let mut path = format!("/candidates?job_id={job_id}&limit=2");
    loop {
        let page: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/candidates?job_id={job_id}&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let unknown_job = problem(
        app.get(
            &format!("/candidates?job_id={}", uuid::Uuid::now_v7()),
            Some(&admin),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(unknown_job["errors"][0]["field"], "job_id");
    let fields = refused_fields(app.get("/candidates?limit=0", Some(&admin)).await).await;
    assert_eq!(fields[0].0, "limit");
}

#[tokio::test]
async fn national_numbers_use_the_organizations_default_country() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let response = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"default_country": "GB"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "phone": "07911 123456"}),
    )
    .await;
    assert_eq!(ann["phone"], "+447911123456");
    // International numbers keep their own country.
    let response = app
        .patch(
            &format!("/candidates/{}", ann["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"phone": "+1 415 555 2671"}),
        )
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["phone"], "+14155552671");
    let response = app
        .patch(
            &format!("/candidates/{}", ann["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"phone": "020 7946 0958"}),
        )
        .await;
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["phone"], "+442079460958");
}

#[tokio::test]
async fn an_invalid_phone_or_email_is_refused_on_its_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let fields = refused_fields(
        app.post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "", "last_name": "Lee", "phone": "12345", "email": "nope"}),
        )
        .await,
    )
    .await;
    let names: Vec<&str> = fields.iter().map(|(field, _)| field.as_str()).collect();
    assert_eq!(names, ["first_name", "phone", "email"]);
    assert!(fields[1].1.contains("US"), "{}", fields[1].1);

    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "phone": "+14155552671"}),
    )
    .await;
    let path = format!("/candidates/{}", ann["id"].as_str().unwrap());
    let fields = refused_fields(
        app.patch(&path, Some(&admin), &json!({"phone": "not a number"}))
            .await,
    )
    .await;
    assert_eq!(fields[0].0, "phone");
    let fields = refused_fields(app.patch(&path, Some(&admin), &json!({"email": "x"})).await).await;
    assert_eq!(fields[0].0, "email");
    let unchanged: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
    assert_eq!(unchanged["phone"], "+14155552671");

    let candidates: Value = app
        .get("/candidates", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(candidates["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn patch_tells_an_absent_field_from_a_null_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "phone": "+14155552671", "email": "ann@example.com"}),
    )
    .await;
    let path = format!("/candidates/{}", ann["id"].as_str().unwrap());

    let renamed: Value = app
        .patch(
            &path,
            Some(&admin),
            &json!({"last_name": "Lee-Park", "sms_opted_out": true}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["last_name"], "Lee-Park");
    assert_eq!(renamed["first_name"], "Ann");
    assert_eq!(renamed["phone"], "+14155552671");
    assert_eq!(renamed["email"], "ann@example.com");
    assert_eq!(renamed["sms_opted_out"], true);

    let cleared: Value = app
        .patch(&path, Some(&admin), &json!({"phone": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["phone"], Value::Null);
    assert_eq!(cleared["email"], "ann@example.com");

    let cleared: Value = app
        .patch(
            &path,
            Some(&admin),
            &json!({"email": null, "sms_opted_out": false}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["email"], Value::Null);
    assert_eq!(cleared["sms_opted_out"], false);
    assert_eq!(cleared["last_name"], "Lee-Park");
    // Each consent change made by a user is in the consent history.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM consent_events WHERE source = 'user' AND opted_out = false"
        )
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM consent_events WHERE source = 'user'")
            .await,
        2
    );
}

#[tokio::test]
async fn job_and_stage_must_belong_to_the_organization() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job_id = create_job(&app, &admin, "Nurse").await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let globex_job = create_job(&app, &globex, "Globex job").await;

    for job in [
        globex_job.clone(),
        uuid::Uuid::now_v7().to_string(),
        "junk".to_owned(),
    ] {
        // Which jobs exist is no matter of the body's shape: 409 on the field.
        let unknown = problem(
            app.post(
                "/candidates",
                Some(&admin),
                &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job}),
            )
            .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(unknown["errors"][0]["field"], "job_id");
    }
    let unknown = problem(
        app.post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job_id, "stage": "Offer"}),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "stage");
    let message = unknown["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("Applied, Interview, Hired"), "{message}");
    let fields = refused_fields(
        app.post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Ann", "last_name": "Lee", "stage": "Applied"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields[0].0, "stage");

    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee"}),
    )
    .await;
    let path = format!("/candidates/{}", ann["id"].as_str().unwrap());
    let unknown = problem(
        app.patch(&path, Some(&admin), &json!({"job_id": globex_job}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "job_id");
    // A stage for a candidate without a job conflicts with the candidate as it is.
    let conflict = problem(
        app.patch(&path, Some(&admin), &json!({"stage": "Applied"}))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        conflict["type"],
        "https://nextal.app/problems/stage-without-job"
    );
    let after: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
    assert_eq!(after["job_id"], Value::Null);
}

#[tokio::test]
async fn moving_between_jobs_and_stages() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nurse = create_job(&app, &admin, "Nurse").await;
    let welder = create_job(&app, &admin, "Welder").await;
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "job_id": nurse, "stage": "Interview"}),
    )
    .await;
    assert_eq!(ann["stage"], "Interview");
    let path = format!("/candidates/{}", ann["id"].as_str().unwrap());

    let moved: Value = app
        .patch(&path, Some(&admin), &json!({"stage": "HIRED"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["stage"], "Hired");
    let moved: Value = app
        .patch(&path, Some(&admin), &json!({"job_id": nurse}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["stage"], "Hired", "the same job keeps the stage");
    let moved: Value = app
        .patch(&path, Some(&admin), &json!({"job_id": welder}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["job_id"], welder.as_str());
    assert_eq!(moved["stage"], "Applied");
    let moved: Value = app
        .patch(
            &path,
            Some(&admin),
            &json!({"job_id": nurse, "stage": "Interview"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (moved["job_id"].as_str(), moved["stage"].as_str()),
        (Some(nurse.as_str()), Some("Interview"))
    );
    let off: Value = app
        .patch(&path, Some(&admin), &json!({"job_id": null}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(off["job_id"], Value::Null);
    assert_eq!(off["stage"], Value::Null);
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let fields = refused_fields(
        app.post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Ann", "last_name": "Lee", "nickname": "A"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields[0].0, "nickname");
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee"}),
    )
    .await;
    let fields = refused_fields(
        app.patch(
            &format!("/candidates/{}", ann["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"organization_id": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(fields[0].0, "organization_id");
    let fields = refused_fields(
        app.post("/candidates", Some(&admin), &json!({"first_name": "Ann"}))
            .await,
    )
    .await;
    assert_eq!(fields[0].0, "last_name");
}

#[tokio::test]
async fn another_organizations_candidates_are_not_found() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let ann = create_candidate(
        &app,
        &acme,
        &json!({"first_name": "Ann", "last_name": "Lee"}),
    )
    .await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;
    let path = format!("/candidates/{}", ann["id"].as_str().unwrap());

    problem(app.get(&path, Some(&globex)).await, StatusCode::NOT_FOUND).await;
    problem(
        app.patch(&path, Some(&globex), &json!({"first_name": "Mallory"}))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get(
            &format!("/candidates/{}", uuid::Uuid::now_v7()),
            Some(&acme),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.get("/candidates/not-a-uuid", Some(&acme)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed: Value = app
        .get("/candidates", Some(&globex))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    let unchanged: Value = app.get(&path, Some(&acme)).await.json().await.unwrap();
    assert_eq!(unchanged["first_name"], "Ann");
}

#[tokio::test]
async fn changes_are_audited_without_personal_data() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ann = create_candidate(
        &app,
        &admin,
        &json!({"first_name": "Ann", "last_name": "Lee", "phone": "+14155552671"}),
    )
    .await;
    let id = ann["id"].as_str().unwrap();
    app.patch(
        &format!("/candidates/{id}"),
        Some(&admin),
        &json!({"phone": "+14155552672", "sms_opted_out": true}),
    )
    .await;

    let log: Value = app
        .get("/audit-log", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    let entries: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["target"] == id)
        .collect();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["candidate.updated", "candidate.created"]);
    assert_eq!(
        entries[0]["details"]["changed"],
        json!(["phone", "sms_opted_out"])
    );
    assert_eq!(entries[0]["details"]["sms_opted_out"], true);
    assert_eq!(entries[1]["details"]["phone_set"], true);
    let text = log.to_string();
    // The numbers' distinctive digits, not "555": ids and timestamps may hold that.
    for digits in ["4155552671", "4155552672"] {
        assert!(!text.contains(digits), "no phone number in the audit log");
    }
    assert!(!text.contains("Ann"), "no candidate name in the audit log");
}

#[tokio::test]
async fn a_recruiter_can_use_jobs_candidates_and_templates() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;

    let job_id = create_job(&app, &recruiter, "Nurse").await;
    let ann = create_candidate(
        &app,
        &recruiter,
        &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job_id}),
    )
    .await;
    let candidate_path = format!("/candidates/{}", ann["id"].as_str().unwrap());
    assert_eq!(
        app.get("/jobs", Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/jobs/{job_id}/board"), Some(&recruiter))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/candidates", Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&candidate_path, Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.patch(
            &candidate_path,
            Some(&recruiter),
            &json!({"stage": "Hired"})
        )
        .await
        .status(),
        StatusCode::OK
    );

    let response = app
        .post(
            "/sms-templates",
            Some(&recruiter),
            &json!({"name": "Hello", "body": "Hi {{candidate.first_name}}"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let template: Value = response.json().await.unwrap();
    let template_path = format!("/sms-templates/{}", template["id"].as_str().unwrap());
    assert_eq!(
        app.get("/sms-templates", Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get(&template_path, Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.put(
            &template_path,
            Some(&recruiter),
            &json!({"name": "Hey", "body": "Hey"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post(
            &format!("{template_path}/preview"),
            Some(&recruiter),
            &json!({"candidate_id": ann["id"]}),
        )
        .await
        .status(),
        StatusCode::OK
    );
    let deleted = app
        .client
        .delete(app.url(&template_path))
        .bearer_auth(&recruiter)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn only_an_admin_may_undo_an_opt_out() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;
    let created: serde_json::Value = app
        .post(
            "/candidates",
            Some(&recruiter),
            &serde_json::json!({"first_name": "Ann", "last_name": "Lee", "phone": "+14155550123"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/candidates/{}", created["id"].as_str().unwrap());

    let opted_out = app
        .patch(
            &path,
            Some(&recruiter),
            &serde_json::json!({"sms_opted_out": true}),
        )
        .await;
    let undone_by_recruiter = app
        .patch(
            &path,
            Some(&recruiter),
            &serde_json::json!({"sms_opted_out": false}),
        )
        .await;
    let undone_by_admin = app
        .patch(
            &path,
            Some(&admin),
            &serde_json::json!({"sms_opted_out": false}),
        )
        .await;

    assert_eq!(opted_out.status(), reqwest::StatusCode::OK);
    nextal_tests::problem(undone_by_recruiter, reqwest::StatusCode::FORBIDDEN).await;
    assert_eq!(undone_by_admin.status(), reqwest::StatusCode::OK);
}
