//! Rotating the master key re-seals every secret; the old key is then unnecessary.

use clap::Parser;
use nextal_api::Application;
use nextal_api::config::Cli;
use nextal_persistence::repo::integrations;
use nextal_persistence::{DatabaseUrl, Db, Keyring, PoolOptions};
use nextal_tests::{random_master_key, spawn_app};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn after_rotation_every_value_is_sealed_under_the_new_key_alone() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.put(
        "/integrations/clicksend",
        Some(&admin),
        &json!({"active": true, "phone_number": "+61411111111", "username": "ops"}),
    )
    .await;
    app.put(
        "/integrations/clicksend/api-key",
        Some(&admin),
        &json!({"api_key": "rotate-me-123"}),
    )
    .await;
    app.get("/integrations", Some(&admin)).await;
    let new_key = random_master_key();

    nextal_api::commands::run(Cli::parse_from([
        "nextal-sms",
        "--database-url",
        app.database.url(),
        "--master-key",
        &new_key,
        "--previous-master-keys",
        &app.master_key,
        "rotate-master-key",
    ]))
    .await
    .expect("rotation succeeds");

    let only_new = Keyring::from_base64(&SecretString::from(new_key.clone()), &[]).unwrap();
    let db = Db::open(
        &DatabaseUrl::parse(app.database.url()).unwrap(),
        PoolOptions::default(),
    )
    .unwrap();
    let rows = integrations::all(&mut db.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert!(only_new.is_current(&row.webhook_token), "{row:?}");
        if let Some(secret) = &row.secret {
            assert!(only_new.is_current(secret), "{row:?}");
        }
    }
    let mut settings = app.settings.clone();
    settings.master_key = Some(new_key.into());
    let restarted = Application::build(&settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", restarted.port());
    tokio::spawn(restarted.run_until_stopped());
    let card = app
        .client
        .get(format!("{address}/integrations/clicksend"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        card.status(),
        StatusCode::OK,
        "the new key alone opens everything"
    );
}

#[tokio::test]
async fn rotation_without_the_old_key_changes_nothing_and_names_the_integration() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.get("/integrations", Some(&admin)).await;

    let failed = nextal_api::commands::run(Cli::parse_from([
        "nextal-sms",
        "--database-url",
        app.database.url(),
        "--master-key",
        &random_master_key(),
        "rotate-master-key",
    ]))
    .await
    .expect_err("the old key is needed");

    assert!(
        format!("{failed:#}").contains("clicksend integration of organization"),
        "{failed:#}"
    );
    assert_eq!(
        app.get("/integrations/clicksend", Some(&admin))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_embedded_default_generates_a_private_master_key_once() {
    let database = nextal_tests::TestDatabase::create().await;
    let Some(folder) = database.sqlite_folder() else {
        return; // PostgreSQL requires NEXTAL_MASTER_KEY; see the next test.
    };
    let mut settings = nextal_tests::settings_for(database.url());
    settings.master_key = None;

    Application::build(&settings).await.unwrap();
    let key_file = folder.join("master.key");
    let first = std::fs::read_to_string(&key_file).unwrap();
    Application::build(&settings).await.unwrap();

    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[tokio::test]
async fn postgres_without_a_master_key_refuses_to_start() {
    let mut settings = nextal_tests::settings_for("postgres://nobody@127.0.0.1:1/none");
    settings.master_key = None;

    let refused = Application::build(&settings).await.err().expect("refused");

    assert!(
        format!("{refused:#}").contains("NEXTAL_MASTER_KEY is required"),
        "{refused:#}"
    );
}
