//! Health, readiness, metrics and the bundled API docs.

use nextal_tests::spawn_app;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn liveness_and_readiness_answer_ok() {
    let app = spawn_app().await;

    for path in ["/healthz", "/readyz"] {
        let response = app.get(path, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    app.get(
        &format!("/users/{}", me["id"].as_str().unwrap()),
        Some(&admin),
    )
    .await;

    let response = app.get("/metrics", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"nextal_http_requests_total{method="POST",route="/auth/login",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains(r#"route="/users/{id}""#), "{text}");
    assert!(
        !text.contains(me["id"].as_str().unwrap()),
        "ids leak into labels"
    );
    assert!(text.contains("nextal_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;

    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger-ui"));
    let initializer = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
}
