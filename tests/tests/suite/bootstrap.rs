//! First start on an empty database, migrations and restarts.

use nextal_api::Application;
use nextal_tests::{AppOptions, TestDatabase, settings_for, spawn_app_with};
use reqwest::StatusCode;

#[tokio::test]
async fn an_empty_database_gets_an_admin_with_a_generated_password() {
    let app = spawn_app_with(AppOptions {
        generate_admin_password: true,
        ..AppOptions::default()
    })
    .await;

    assert_eq!(app.admin_password.len(), 24);
    let response = app.login(&app.admin_email, &app.admin_password).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_restart_keeps_the_data_and_bootstraps_nothing() {
    let database = TestDatabase::create().await;
    let settings = settings_for(database.url());

    let first = Application::build(&settings).await.unwrap();
    let second = Application::build(&settings).await.unwrap();

    assert!(first.bootstrap_admin().is_some());
    assert!(second.bootstrap_admin().is_none());
}

#[tokio::test]
async fn replicas_starting_together_bootstrap_exactly_once() {
    let database = TestDatabase::create().await;
    let settings = settings_for(database.url());

    let (a, b, c) = tokio::join!(
        Application::build(&settings),
        Application::build(&settings),
        Application::build(&settings)
    );

    let bootstrapped = [a.unwrap(), b.unwrap(), c.unwrap()]
        .iter()
        .filter(|app| app.bootstrap_admin().is_some())
        .count();
    assert_eq!(bootstrapped, 1);
}
