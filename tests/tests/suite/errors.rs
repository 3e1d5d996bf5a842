//! Every failure is problem+json with the right status, and carries a request id.

use nextal_tests::{AppOptions, problem, spawn_app, spawn_app_with};
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(r#"{"email": "admin@acme.test", "password": "#)
        .send()
        .await
        .unwrap();

    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/malformed-request"
    );
}

#[tokio::test]
async fn an_unknown_field_is_refused_by_name() {
    let app = spawn_app().await;

    let response = app
        .post(
            "/auth/login",
            None,
            &serde_json::json!({"email": "a@acme.test", "password": "x", "remember_me": true}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "remember_me");
}

#[tokio::test]
async fn a_missing_field_is_refused_by_name() {
    let app = spawn_app().await;

    let response = app
        .post(
            "/auth/login",
            None,
            &serde_json::json!({"email": "a@acme.test"}),
        )
        .await;

    let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "password");
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_and_changes_nothing() {
    let app = spawn_app_with(AppOptions {
        max_body_bytes: Some(4096),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let padding = "x".repeat(8192);

    let response = app
        .post(
            "/users",
            Some(&admin),
            &serde_json::json!({"email": "big@acme.test", "password": padding, "first_name": "B", "last_name": "G", "role": "admin"}),
        )
        .await;

    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let users: serde_json::Value = app.get("/users", Some(&admin)).await.json().await.unwrap();
    assert_eq!(users["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_body_over_the_default_cap_of_one_mebibyte_is_refused() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 1_048_577])
        .send()
        .await
        .unwrap();

    problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_unsupported() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a%40acme.test&password=x")
        .send()
        .await
        .unwrap();

    problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

#[tokio::test]
async fn an_unknown_path_is_a_problem_not_an_empty_404() {
    let app = spawn_app().await;

    problem(app.get("/no/such/thing", None).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_bad_query_parameter_is_a_validation_problem() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for path in [
        "/users?limit=0",
        "/users?limit=abc",
        "/users?cursor=garbage",
    ] {
        problem(
            app.get(path, Some(&admin)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;

    let generated = app.get("/no/such/thing", None).await;
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "proxy-abc-123")
        .send()
        .await
        .unwrap();
    let refused = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\twith spaces")
        .send()
        .await
        .unwrap();

    let id_of = |response: &reqwest::Response| {
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert!(id_of(&generated).is_some_and(|id| uuid::Uuid::parse_str(&id).is_ok()));
    assert_eq!(id_of(&echoed).as_deref(), Some("proxy-abc-123"));
    assert!(id_of(&refused).is_some_and(|id| id != "bad id\twith spaces"));
}

#[tokio::test]
async fn a_refused_cors_preflight_is_a_problem_too() {
    let app = spawn_app().await;

    let response = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();

    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body = problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["type"], "https://nextal.app/problems/request-refused");
}

#[tokio::test]
async fn a_request_abandoned_mid_query_leaves_its_connection_usable() {
    // A bad query parameter fails its extractor while the session lookup of the same
    // request is still running; the abandoned lookup must not break the next request
    // that gets its pooled connection (it used to panic on SQLite now and then).
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for n in 0..150 {
        let refused = app.get("/candidates?limit=abc", Some(&admin)).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let created = app
            .post(
                "/candidates",
                Some(&admin),
                &serde_json::json!({"first_name": format!("C{n}"), "last_name": "Lee"}),
            )
            .await;
        assert_eq!(created.status(), StatusCode::CREATED, "request {n}");
    }
}

#[tokio::test]
async fn a_known_path_with_an_unknown_method_is_405_with_allow() {
    let app = spawn_app().await;

    let trace = app
        .client
        .request(reqwest::Method::TRACE, app.url("/candidates"))
        .send()
        .await
        .unwrap();
    let delete = app
        .client
        .delete(app.url(&format!("/sms/threads/{}", uuid::Uuid::now_v7())))
        .send()
        .await
        .unwrap();

    assert_eq!(trace.headers()["allow"], "GET, POST");
    assert_eq!(delete.headers()["allow"], "GET");
    let body = problem(trace, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/method-not-allowed"
    );
    problem(delete, StatusCode::METHOD_NOT_ALLOWED).await;
    problem(app.get("/no/such/path", None).await, StatusCode::NOT_FOUND).await;
}
