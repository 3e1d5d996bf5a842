//! Managing users, and what each role may do.

use nextal_tests::{ADMIN_PASSWORD, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn an_admin_adds_a_recruiter_who_can_sign_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let (id, token) = app
        .create_user(&admin, "Rita.Cruz@Acme.test", "recruiter")
        .await;

    let me: Value = app.get("/me", Some(&token)).await.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], "rita.cruz@acme.test");
    assert_eq!(me["role"], "recruiter");
    assert_eq!(me["active"], true);
}

#[tokio::test]
async fn a_recruiter_may_not_manage_users_or_the_organization() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (recruiter_id, recruiter) = app.create_user(&admin, "rita@acme.test", "recruiter").await;

    for response in [
        app.get("/users", Some(&recruiter)).await,
        app.get(&format!("/users/{recruiter_id}"), Some(&recruiter))
            .await,
        app.post("/users", Some(&recruiter), &json!({})).await,
        app.patch(
            &format!("/users/{recruiter_id}"),
            Some(&recruiter),
            &json!({"role": "admin"}),
        )
        .await,
        app.patch("/organization", Some(&recruiter), &json!({"name": "Mine"}))
            .await,
    ] {
        problem(response, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(
        app.get("/organization", Some(&recruiter)).await.status(),
        StatusCode::OK
    );
    let me: Value = app.get("/me", Some(&recruiter)).await.json().await.unwrap();
    assert_eq!(me["role"], "recruiter");
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .post(
            "/users",
            Some(&admin),
            &json!({"email": "not-an-email", "password": "short", "first_name": " ", "last_name": "Cruz", "role": "recruiter"}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password", "first_name"]);
}

#[tokio::test]
async fn an_unknown_role_is_refused_by_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .post(
            "/users",
            Some(&admin),
            &json!({"email": "a@acme.test", "password": ADMIN_PASSWORD, "first_name": "A", "last_name": "B", "role": "owner"}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "role");
}

#[tokio::test]
async fn an_email_is_taken_once_across_all_organizations() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "rita@acme.test", "recruiter").await;

    let response = app
        .post(
            "/users",
            Some(&admin),
            &json!({"email": "RITA@acme.test", "password": ADMIN_PASSWORD, "first_name": "R", "last_name": "C", "role": "admin"}),
        )
        .await;

    let body = problem(response, StatusCode::CONFLICT).await;
    assert_eq!(body["type"], "https://nextal.app/problems/email-taken");
}

#[tokio::test]
async fn users_are_listed_page_by_page() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for n in 0..4 {
        app.create_user(&admin, &format!("user{n}@acme.test"), "recruiter")
            .await;
    }

    let mut emails = Vec::new();
    let mut path = "/users?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = app.get(&path, Some(&admin)).await.json().await.unwrap();
        pages += 1;
        emails.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["email"].clone()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?limit=2&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(
        emails,
        [
            "admin@acme.test",
            "user0@acme.test",
            "user1@acme.test",
            "user2@acme.test",
            "user3@acme.test"
        ]
    );
}

#[tokio::test]
async fn deactivating_a_user_ends_their_sessions_and_sign_ins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.create_user(&admin, "rita@acme.test", "recruiter").await;

    let response = app
        .patch(
            &format!("/users/{id}"),
            Some(&admin),
            &json!({"active": false}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    problem(app.get("/me", Some(&token)).await, StatusCode::UNAUTHORIZED).await;
    problem(
        app.login("rita@acme.test", ADMIN_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_new_password_replaces_the_old_one_and_ends_sessions() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.create_user(&admin, "rita@acme.test", "recruiter").await;

    let response = app
        .patch(
            &format!("/users/{id}"),
            Some(&admin),
            &json!({"password": "a brand new passphrase"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    problem(app.get("/me", Some(&token)).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(
        app.login("rita@acme.test", ADMIN_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("rita@acme.test", "a brand new passphrase")
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_demoted_or_deactivated() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    let id = me["id"].as_str().unwrap();

    for change in [json!({"role": "recruiter"}), json!({"active": false})] {
        let body = problem(
            app.patch(&format!("/users/{id}"), Some(&admin), &change)
                .await,
            StatusCode::CONFLICT,
        )
        .await;
        assert_eq!(body["type"], "https://nextal.app/problems/last-admin");
    }
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["active"], true);
}

#[tokio::test]
async fn an_admin_can_hand_over_to_another_admin() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    app.create_user(&admin, "second@acme.test", "admin").await;

    let response = app
        .patch(
            &format!("/users/{}", me["id"].as_str().unwrap()),
            Some(&admin),
            &json!({"role": "recruiter"}),
        )
        .await;

    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["role"], "recruiter");
}

#[tokio::test]
async fn an_admin_changes_the_organization_settings() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"name": " Acme Recruiting ", "default_country": "gb", "timezone": "Europe/London"}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let organization: Value = app
        .get("/organization", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(organization["name"], "Acme Recruiting");
    assert_eq!(organization["default_country"], "GB");
    assert_eq!(organization["timezone"], "Europe/London");
}

#[tokio::test]
async fn invalid_organization_settings_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before: Value = app
        .get("/organization", Some(&admin))
        .await
        .json()
        .await
        .unwrap();

    let response = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"name": "New name", "default_country": "XX", "timezone": "Mars/Base"}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let after: Value = app
        .get("/organization", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(after["default_country"], "US");
}
