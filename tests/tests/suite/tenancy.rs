//! A user never sees another organization's data: other tenants' ids are 404.

use nextal_tests::{problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn another_organizations_users_are_not_found() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let (acme_recruiter, _) = app.create_user(&acme, "rita@acme.test", "recruiter").await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;

    problem(
        app.get(&format!("/users/{acme_recruiter}"), Some(&globex))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    problem(
        app.patch(
            &format!("/users/{acme_recruiter}"),
            Some(&globex),
            &json!({"active": false}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let still_active: Value = app
        .get(&format!("/users/{acme_recruiter}"), Some(&acme))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still_active["active"], true);
}

#[tokio::test]
async fn each_organization_lists_and_edits_only_its_own() {
    let app = spawn_app().await;
    let acme = app.admin_token().await;
    let globex = app
        .create_other_organization("Globex", "admin@globex.test")
        .await;

    app.patch(
        "/organization",
        Some(&globex),
        &json!({"name": "Globex Corp"}),
    )
    .await;

    let globex_users: Value = app.get("/users", Some(&globex)).await.json().await.unwrap();
    let emails: Vec<&str> = globex_users["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@globex.test"]);
    let acme_org: Value = app
        .get("/organization", Some(&acme))
        .await
        .json()
        .await
        .unwrap();
    let globex_org: Value = app
        .get("/organization", Some(&globex))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(acme_org["name"], "My organization");
    assert_eq!(globex_org["name"], "Globex Corp");
    assert_ne!(acme_org["id"], globex_org["id"]);
}

#[tokio::test]
async fn a_malformed_id_is_simply_not_found() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    problem(
        app.get("/users/not-a-uuid", Some(&admin)).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
