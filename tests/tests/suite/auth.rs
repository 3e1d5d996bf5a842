//! Signing in and out, sessions, throttling.

use nextal_tests::{ADMIN_PASSWORD, problem, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn the_right_password_opens_a_session_that_identifies_the_user() {
    let app = spawn_app().await;

    let response = app.login(&app.admin_email, &app.admin_password).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("nxs_") && token.len() >= 40);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], app.admin_email);
    assert!(body["user"].get("password_hash").is_none());
    let me: Value = app.get("/me", Some(token)).await.json().await.unwrap();
    assert_eq!(me["email"], app.admin_email);
    assert_eq!(me["role"], "admin");
}

#[tokio::test]
async fn email_is_matched_without_regard_to_case_or_spaces() {
    let app = spawn_app().await;

    let response = app.login("  ADMIN@Acme.Test ", &app.admin_password).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn login_lengths_count_characters_as_the_contract_does() {
    // The contract bounds email and password in characters. Counting bytes refused,
    // as invalid (422), an email padded with 200 two-byte spaces (U+0085), which
    // Schemathesis sent, and a password of 1000 two-byte letters.
    let app = spawn_app().await;
    let padded_email = format!("{}{}", app.admin_email, "\u{85}".repeat(200));

    let padded = app.login(&padded_email, &app.admin_password).await;
    let long_password = app.login(&app.admin_email, &"é".repeat(1000)).await;

    assert_eq!(padded.status(), StatusCode::OK);
    assert_eq!(long_password.status(), StatusCode::UNAUTHORIZED);
    let too_long = problem(
        app.login(&app.admin_email, &"é".repeat(1025)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(too_long["errors"][0]["field"], "password");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = spawn_app().await;

    let wrong_password = problem(
        app.login(&app.admin_email, "not the password at all").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let unknown_email = problem(
        app.login("nobody@acme.test", ADMIN_PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    assert_eq!(wrong_password, unknown_email);
    assert_eq!(
        wrong_password["type"],
        "https://nextal.app/problems/invalid-credentials"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_account_even_for_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        let response = app.login(&app.admin_email, "guessing wrong again").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let response = app.login(&app.admin_email, &app.admin_password).await;

    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("a Retry-After header");
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn failures_for_one_account_do_not_lock_another() {
    let app = spawn_app().await;
    for _ in 0..6 {
        app.login("someone.else@acme.test", "guessing wrong again")
            .await;
    }

    let response = app.login(&app.admin_email, &app.admin_password).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_refused() {
    let app = spawn_app().await;

    let missing = app.get("/me", None).await;
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    problem(missing, StatusCode::UNAUTHORIZED).await;
    problem(
        app.get("/me", Some("nxs_forged")).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let basic = app
        .client
        .get(app.url("/me"))
        .basic_auth("admin", Some("x"))
        .send()
        .await
        .unwrap();
    problem(basic, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn logout_revokes_the_token() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let response = app
        .post("/auth/logout", Some(&token), &serde_json::json!({}))
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(app.get("/me", Some(&token)).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn logout_ends_only_that_session() {
    let app = spawn_app().await;
    let first = app.admin_token().await;
    let second = app.admin_token().await;

    app.post("/auth/logout", Some(&first), &serde_json::json!({}))
        .await;

    assert_eq!(app.get("/me", Some(&second)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    assert_eq!(app.get("/me", Some(&token)).await.status(), StatusCode::OK);

    let expired = app
        .execute_sql("UPDATE sessions SET expires_at = '2000-01-01 00:00:00'")
        .await;

    assert_eq!(expired, 1);
    problem(app.get("/me", Some(&token)).await, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn the_database_holds_token_hashes_not_tokens() {
    let app = spawn_app().await;
    let token = app.admin_token().await;

    let Some(folder) = app.database.sqlite_folder() else {
        return; // The same code path stores the hash on PostgreSQL; the file check is SQLite's.
    };
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let needle = token.as_bytes();
    assert!(!stored.windows(needle.len()).any(|window| window == needle));
}
