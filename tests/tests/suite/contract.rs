//! The contract: the committed OpenAPI document is the served one, states closed sets,
//! ids and shapes exactly, and the service answers as it says.

use nextal_openapi::COMMITTED_DOCUMENT_PATH;
use nextal_tests::{problem, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

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

#[tokio::test]
async fn patterns_mean_the_same_in_every_regex_engine() {
    // `\s`, `\d` and `\w` differ between engines: ECMAScript's `\s` leaves out U+0085,
    // which the server trims, so Schemathesis sent a ClickSend `message_id` of U+0085
    // and a carriage return as valid, and the server refused it as blank. Patterns spell
    // out their classes, as the server's own checks do.
    let app = spawn_app().await;
    let served = document(&app).await;

    let mut patterns = Vec::new();
    collect_patterns(&served, "", &mut patterns);

    assert!(patterns.len() > 10, "the document's patterns: {patterns:?}");
    let engine_dependent: Vec<&(String, String)> = patterns
        .iter()
        .filter(|(_, pattern)| {
            ["\\s", "\\S", "\\d", "\\D", "\\w", "\\W"]
                .iter()
                .any(|class| pattern.contains(class))
        })
        .collect();
    assert!(
        engine_dependent.is_empty(),
        "patterns with engine-dependent classes: {engine_dependent:?}"
    );
}

/// Every `pattern` under `value`, with where it is.
fn collect_patterns(value: &Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                match (name.as_str(), field) {
                    ("pattern", Value::String(pattern)) => {
                        found.push((at.to_owned(), pattern.clone()));
                    }
                    _ => collect_patterns(field, &format!("{at}/{name}"), found),
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                collect_patterns(item, &format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// The served document.
async fn document(app: &nextal_tests::TestApp) -> Value {
    app.get("/openapi.json", None).await.json().await.unwrap()
}

fn strings(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn closed_sets_are_enums_and_the_fields_that_carry_them_refer_to_them() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];

    let statuses = [
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "cancelled",
        "received",
    ];
    for (name, values) in [
        ("MessageStatus", &statuses[..]),
        ("Direction", &["inbound", "outbound"]),
        ("ProviderKind", &["clicksend", "twilio"]),
        ("SmsEncoding", &["GSM-7", "UCS-2"]),
        ("UserRole", &["admin", "recruiter"]),
        (
            "SkipReason",
            &[
                "not_found",
                "no_phone",
                "opted_out",
                "not_mobile",
                "duplicate_number",
                "too_long",
                "empty_text",
            ],
        ),
        (
            "FailureReason",
            &[
                "unreachable",
                "not_mobile",
                "carrier_blocked",
                "opted_out",
                "invalid_number",
                "expired",
                "unknown",
            ],
        ),
    ] {
        assert_eq!(strings(&schemas[name]["enum"]), values, "{name}");
    }
    let message = &schemas["SmsMessage"]["properties"];
    for (field, set) in [
        ("status", "MessageStatus"),
        ("direction", "Direction"),
        ("provider", "ProviderKind"),
        ("encoding", "SmsEncoding"),
    ] {
        assert_eq!(
            message[field]["$ref"],
            format!("#/components/schemas/{set}"),
            "SmsMessage.{field}"
        );
    }
    assert_eq!(
        schemas["SkippedCandidate"]["properties"]["reason"]["$ref"],
        "#/components/schemas/SkipReason"
    );
    // `statuses` is a map over the status enum: one optional count per status, no other key.
    let counts = &schemas["Batch"]["properties"]["statuses"];
    let mut keys: Vec<&str> = counts["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut expected = statuses.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(counts["additionalProperties"], false);

    assert_eq!(
        schemas["AuditEntry"]["properties"]["action"]["$ref"],
        "#/components/schemas/AuditAction"
    );
    assert!(strings(&schemas["AuditAction"]["enum"]).contains(&"integration.secret_set"));
    assert_eq!(strings(&schemas["TokenType"]["enum"]), ["Bearer"]);
    let organization = &schemas["Organization"]["properties"];
    assert_eq!(
        organization["default_country"]["$ref"],
        "#/components/schemas/CountryCode"
    );
    assert_eq!(
        organization["timezone"]["$ref"],
        "#/components/schemas/TimeZone"
    );
}

#[tokio::test]
async fn every_problem_the_service_answers_has_a_type_the_contract_lists() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let listed =
        strings(&document["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]);
    let admin = app.admin_token().await;

    let answers = [
        app.get("/no/such/path", None).await,
        app.get("/me", None).await,
        app.post(
            "/auth/login",
            None,
            &json!({"email": "admin@acme.test", "password": "wrong password"}),
        )
        .await,
        app.post("/candidates", Some(&admin), &json!({"first_name": " "}))
            .await,
        app.post(
            "/users",
            Some(&admin),
            &json!({
                "email": "admin@acme.test", "first_name": "Ann", "last_name": "Lee",
                "password": "correct horse battery staple", "role": "recruiter"
            }),
        )
        .await,
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/me"))
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap(),
    ];
    let mut seen = Vec::new();
    for answer in answers {
        let body: Value = answer.json().await.unwrap();
        let problem_type = body["type"].as_str().unwrap().to_owned();
        assert!(
            listed.contains(&problem_type.as_str()),
            "{problem_type} is not listed"
        );
        seen.push(problem_type);
    }
    let slugs: Vec<&str> = seen
        .iter()
        .map(|uri| uri.trim_start_matches("https://nextal.app/problems/"))
        .collect();
    assert_eq!(
        slugs,
        [
            "not-found",
            "unauthorized",
            "invalid-credentials",
            "validation",
            "email-taken",
            "request-refused"
        ]
    );
}

#[tokio::test]
async fn ids_are_uuids_names_have_no_transport_suffix_and_every_reference_resolves() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let schemas = document["components"]["schemas"].as_object().unwrap();

    for (schema, field) in [
        ("SmsMessage", "id"),
        ("SmsMessage", "thread_id"),
        ("SmsMessage", "candidate_id"),
        ("Candidate", "id"),
        ("Candidate", "job_id"),
        ("Batch", "id"),
        ("User", "id"),
        ("SmsThread", "id"),
        ("PreviewFor", "candidate_id"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["format"], "uuid",
            "{schema}.{field}"
        );
    }
    for (path, operations) in document["paths"].as_object().unwrap() {
        for operation in operations.as_object().unwrap().values() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["name"] == "id" {
                    assert_eq!(parameter["schema"]["format"], "uuid", "{path}");
                }
            }
        }
    }

    for name in schemas.keys() {
        assert!(
            !["Body", "Request", "Response"]
                .iter()
                .any(|suffix| name.ends_with(suffix)),
            "schema {name} is named after its transport"
        );
    }
    for name in [
        "Batch",
        "Organization",
        "Candidate",
        "Session",
        "BulkAccepted",
    ] {
        assert!(schemas.contains_key(name), "no schema {name}");
    }

    let text = document.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "unresolved reference to {name}");
    }
}

#[tokio::test]
async fn each_error_response_names_the_problem_of_its_status_and_the_body_carries_it() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];

    let mut typed = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let Some(problem) = response["content"].get("application/problem+json") else {
                    continue;
                };
                let name = format!("Problem{status}");
                assert_eq!(
                    problem["schema"]["$ref"],
                    format!("#/components/schemas/{name}"),
                    "{method} {path} {status}"
                );
                let pinned = &schemas[&name]["allOf"][1]["properties"]["status"]["enum"];
                assert_eq!(pinned, &json!([status.parse::<u16>().unwrap()]), "{name}");
                typed += 1;
            }
        }
    }
    assert!(typed > 100, "only {typed} error responses");

    // What the schema says is what the server sends.
    let response = app.get("/sms/threads", None).await;
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 401);
}

#[tokio::test]
async fn every_operation_taking_json_documents_its_refusals_of_the_body() {
    let app = spawn_app().await;
    let document = document(&app).await;

    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let takes_json = operation["requestBody"]["content"]
                .as_object()
                .is_some_and(|content| content.keys().any(|kind| kind == "application/json"));
            if !takes_json || path.starts_with("/webhooks/") {
                continue;
            }
            for status in ["400", "413", "415"] {
                assert!(
                    operation["responses"].get(status).is_some(),
                    "{method} {path} does not document {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn an_id_in_a_body_or_query_that_names_nothing_is_409_naming_the_field() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let nobody = uuid::Uuid::now_v7().to_string();
    let template: Value = app
        .post(
            "/sms-templates",
            Some(&admin),
            &json!({"name": "Hello", "body": "Hi {{candidate.first_name}}"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let template = template["id"].as_str().unwrap();

    let cases = [
        (
            app.post(
                "/sms/messages",
                Some(&admin),
                &json!({"candidate_id": nobody, "body": "Hi"}),
            )
            .await,
            "candidate_id",
        ),
        (
            app.post(
                "/candidates",
                Some(&admin),
                &json!({"first_name": "Ann", "last_name": "Lee", "job_id": nobody}),
            )
            .await,
            "job_id",
        ),
        (
            app.get(&format!("/candidates?job_id={nobody}"), Some(&admin))
                .await,
            "job_id",
        ),
        (
            app.get(&format!("/sms/threads?candidate_id={nobody}"), Some(&admin))
                .await,
            "candidate_id",
        ),
        (
            app.post(
                &format!("/sms-templates/{template}/preview"),
                Some(&admin),
                &json!({"candidate_id": nobody}),
            )
            .await,
            "candidate_id",
        ),
    ];
    for (response, field) in cases {
        let body = problem(response, StatusCode::CONFLICT).await;
        assert_eq!(
            body["type"], "https://nextal.app/problems/unknown-reference",
            "{body}"
        );
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_stage_the_job_lacks_or_a_stage_without_any_job_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let job: Value = app
        .post("/jobs", Some(&admin), &json!({"title": "Nurse"}))
        .await
        .json()
        .await
        .unwrap();
    let job = job["id"].as_str().unwrap();
    let unknown_stage = app
        .post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Ann", "last_name": "Lee", "job_id": job, "stage": "Orbit"}),
        )
        .await;
    let body = problem(unknown_stage, StatusCode::CONFLICT).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/unknown-reference"
    );
    assert_eq!(body["errors"][0]["field"], "stage");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Screening")
    );

    let jobless: Value = app
        .post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Bo", "last_name": "Ng"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let jobless = jobless["id"].as_str().unwrap();
    let stage_only = app
        .patch(
            &format!("/candidates/{jobless}"),
            Some(&admin),
            &json!({"stage": "Screening"}),
        )
        .await;
    let body = problem(stage_only, StatusCode::CONFLICT).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/stage-without-job"
    );
    // In one request, removing the job and naming a stage is still an invalid body.
    let contradiction = app
        .patch(
            &format!("/candidates/{jobless}"),
            Some(&admin),
            &json!({"job_id": null, "stage": "Screening"}),
        )
        .await;
    problem(contradiction, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn any_id_is_a_cursor_and_anything_else_is_refused() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for title in ["A", "B", "C"] {
        let job: Value = app
            .post("/jobs", Some(&admin), &json!({"title": title}))
            .await
            .json()
            .await
            .unwrap();
        ids.push(job["id"].as_str().unwrap().to_owned());
    }
    let first: Value = app
        .get("/jobs?limit=2", Some(&admin))
        .await
        .json()
        .await
        .unwrap();
    // The cursor is the page's last id, as the contract's pattern states.
    assert_eq!(first["next_cursor"], ids[1]);

    let made_up = app
        .get(&format!("/jobs?cursor={}", uuid::Uuid::nil()), Some(&admin))
        .await;
    assert_eq!(made_up.status(), StatusCode::OK);
    for cursor in ["", "not-a-cursor", &ids[0].replace('-', "")] {
        let response = app
            .get(&format!("/jobs?cursor={cursor}"), Some(&admin))
            .await;
        let body = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{cursor:?}");
    }
}

#[tokio::test]
async fn a_whole_number_written_as_a_decimal_is_a_whole_number() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let saved = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"daily_send_cap": 500.0}),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let organization: Value = saved.json().await.unwrap();
    assert_eq!(organization["daily_send_cap"], 500);

    let fraction = app
        .patch(
            "/organization",
            Some(&admin),
            &json!({"daily_send_cap": 500.5}),
        )
        .await;
    let body = problem(fraction, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "daily_send_cap");
}

#[tokio::test]
async fn texting_a_candidate_without_a_phone_is_a_409_conflict() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    crate::messaging::activate_clicksend(&app, &admin).await;
    let phoneless: Value = app
        .post(
            "/candidates",
            Some(&admin),
            &json!({"first_name": "Cy", "last_name": "Ro"}),
        )
        .await
        .json()
        .await
        .unwrap();

    let response = app
        .post(
            "/sms/messages",
            Some(&admin),
            &json!({"candidate_id": phoneless["id"], "body": "Hi"}),
        )
        .await;

    let body = problem(response, StatusCode::CONFLICT).await;
    assert_eq!(
        body["type"],
        "https://nextal.app/problems/candidate-without-phone"
    );
    assert_eq!(app.count("SELECT COUNT(*) AS n FROM sms_messages").await, 0);
}
