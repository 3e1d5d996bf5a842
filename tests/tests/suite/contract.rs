//! The committed OpenAPI document is the served one.

use nextal_openapi::COMMITTED_DOCUMENT_PATH;
use nextal_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn the_committed_openapi_document_matches_the_served_one() {
    let app = spawn_app().await;

    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    let committed = std::fs::read_to_string(COMMITTED_DOCUMENT_PATH).unwrap_or_default();
    let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        served == committed,
        "openapi/openapi.json is stale; regenerate it with\n    cargo run -- openapi --output openapi/openapi.json"
    );
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json", None).await.json().await.unwrap();

    for (path, operations) in served["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let response = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            // An unknown id or webhook token is a 404 from the route itself; a 405 means
            // the path is served, but not with this method.
            let route_exists = response.status() != reqwest::StatusCode::METHOD_NOT_ALLOWED
                && (response.status() != reqwest::StatusCode::NOT_FOUND
                    || path.contains("{id}")
                    || path.contains("{token}"));
            assert!(route_exists, "{method} {path} is documented but not served");
        }
    }
}
