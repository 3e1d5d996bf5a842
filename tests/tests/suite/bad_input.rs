//! Hostile and broken input at the edge: oversized and deeply nested bodies, bytes that
//! are not UTF-8, NUL characters, abused headers and paths. Every refusal the
//! application makes is problem+json, nothing refused reaches the data (an unreadable
//! webhook is kept in the raw log only, as designed), nothing panics, and the service
//! keeps answering.
//!
//! Several requests here cannot be made with reqwest (it normalises `..` in paths and
//! refuses header bytes that are not visible ASCII), so they are written on a bare TCP
//! connection. Refusals made by actix-web's HTTP/1 parser,
//! before any application code runs (a request line or header block too large, raw
//! bytes that are not ASCII in the request target), have no body the application could
//! shape; their tests pin the status actix-web answers.

use std::sync::{Mutex, OnceLock, PoisonError};

use nextal_tests::{AppOptions, TestApp, captured_logs, problem, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::messaging::activate_clicksend;

/// The body cap of the services that test it: small, so that bodies over it stay cheap.
const CAP: usize = 4096;

// ---------------------------------------------------------------------------------------
// Panics and health
// ---------------------------------------------------------------------------------------

/// Panics on the service's own threads. A panic is printed to standard error, not
/// logged, so `captured_logs` alone would not show one: a hook records them.
static SERVER_PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs, once per process, a panic hook that notes panics on the service's threads
/// (actix-web's workers and arbiters, tokio's blocking pool) and then does what the
/// previous hook did.
fn watch_for_server_panics() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if name.starts_with("actix") || name.starts_with("tokio-") {
                SERVER_PANICS
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(format!("{name}: {info}"));
            }
            previous(info);
        }));
    });
}

/// Starts the service with the panic watch on.
async fn start(options: AppOptions) -> TestApp {
    watch_for_server_panics();
    spawn_app_with(options).await
}

/// After an abusive request: nothing panicked, and a signed-in request still works
/// (the worker, the session lookup and the database are all still there).
async fn assert_still_serving(app: &TestApp, token: &str) {
    let panics = SERVER_PANICS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(panics.is_empty(), "the service panicked: {panics:?}");
    assert!(!captured_logs().contains("panicked"), "a panic was logged");
    let me = app.get("/me", Some(token)).await;
    assert_eq!(me.status(), StatusCode::OK, "the service still answers");
}

// ---------------------------------------------------------------------------------------
// Requests written byte by byte
// ---------------------------------------------------------------------------------------

/// An answer read off a bare connection.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The problem document, after the checks `nextal_tests::problem` makes.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body: Value = serde_json::from_slice(&self.body).expect("a JSON problem");
        assert_eq!(body["status"], status);
        assert!(
            body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("https://"))
        );
        assert!(body["title"].is_string() && body["detail"].is_string());
        body
    }
}

/// Sends `request_line` and `headers` exactly as given, plus `Host`, `Connection:
/// close` and (unless the headers frame the body themselves) `Content-Length`, then
/// `body`; reads the answer until the service closes the connection.
async fn raw(app: &TestApp, request_line: &[u8], headers: &[&[u8]], body: &[u8]) -> RawAnswer {
    let mut request = request_line.to_vec();
    request.extend_from_slice(b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    let framed = headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with(b"transfer-encoding:"));
    for header in headers {
        request.extend_from_slice(header);
        request.extend_from_slice(b"\r\n");
    }
    if !framed && !body.is_empty() {
        request.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);

    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("the service accepts connections");
    // A service that refuses early may close before reading everything; its answer is
    // still waiting to be read, so neither a failed write nor the reset that follows
    // the answer is an error here.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    parse_answer(&answer)
}

fn parse_answer(answer: &[u8]) -> RawAnswer {
    let end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer, got {:?}", String::from_utf8_lossy(answer)));
    let head = String::from_utf8_lossy(&answer[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    RawAnswer {
        status,
        headers,
        body: answer[end + 4..].to_vec(),
    }
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Authorization: Bearer {token}").into_bytes()
}

const JSON: &[u8] = b"Content-Type: application/json";

/// `body` as one chunk of a chunked transfer, so that no Content-Length announces it.
fn chunked(body: &[u8]) -> Vec<u8> {
    [
        format!("{:x}\r\n", body.len()).as_bytes(),
        body,
        b"\r\n0\r\n\r\n",
    ]
    .concat()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    app.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .await
}

/// ClickSend active; returns the path of its inbound webhook.
async fn clicksend_inbound_path(app: &TestApp, admin: &str) -> String {
    activate_clicksend(app, admin).await;
    let card: Value = app
        .get("/integrations/clicksend", Some(admin))
        .await
        .json()
        .await
        .unwrap();
    let url = card["webhooks"]["inbound_url"].as_str().unwrap();
    url.strip_prefix(app.settings.public_url.trim_end_matches('/'))
        .unwrap()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Oversized and deeply nested bodies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_413_and_stores_nothing() {
    // The cap must hold when no Content-Length announces the size (errors.rs covers
    // the announced case).
    let app = start(AppOptions {
        max_body_bytes: Some(CAP),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let body = json!({"first_name": "x".repeat(2 * CAP), "last_name": "Lee"}).to_string();

    let answer = raw(
        &app,
        b"POST /candidates HTTP/1.1",
        &[&bearer(&admin), JSON, b"Transfer-Encoding: chunked"],
        &chunked(body.as_bytes()),
    )
    .await;

    let problem = answer.problem(413);
    assert_eq!(
        problem["type"],
        "https://nextal.app/problems/payload-too-large"
    );
    assert_eq!(count(&app, "candidates").await, 0);
    assert_still_serving(&app, &admin).await;
}

#[tokio::test]
async fn a_webhook_over_the_cap_is_413_and_not_even_kept_raw() {
    let app = start(AppOptions {
        max_body_bytes: Some(CAP),
        ..AppOptions::default()
    })
    .await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound_path(&app, &admin).await;
    let reply = json!({
        "message_id": "A1B2C3D4-0000-4000-8000-000000000001",
        "from": "+61422222222", "to": "+61411111111", "body": "y".repeat(2 * CAP),
    })
    .to_string();

    let announced = app
        .client
        .post(app.url(&inbound))
        .header("content-type", "application/json")
        .body(reply.clone())
        .send()
        .await
        .unwrap();
    problem(announced, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_still_serving(&app, &admin).await;
    let unannounced = raw(
        &app,
        format!("POST {inbound} HTTP/1.1").as_bytes(),
        &[JSON, b"Transfer-Encoding: chunked"],
        &chunked(reply.as_bytes()),
    )
    .await;
    unannounced.problem(413);

    assert_eq!(count(&app, "webhook_deliveries").await, 0);
    assert_eq!(count(&app, "sms_messages").await, 0);
    assert_still_serving(&app, &admin).await;
}

#[tokio::test]
async fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound_path(&app, &admin).await;
    let nesting = "[".repeat(100_000);

    // The API's bodies have a fixed shape: the first array where a field should be is
    // refused, by its path, before the nesting goes any deeper.
    let api = app
        .client
        .post(app.url("/candidates"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(format!(r#"{{"first_name": {nesting}"#))
        .send()
        .await
        .unwrap();
    let refused = problem(api, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["errors"][0]["field"], "first_name");
    assert_still_serving(&app, &admin).await;

    // A webhook's JSON is read as any value, so here the nesting is really followed,
    // up to serde_json's depth limit: malformed.
    let webhook = app
        .client
        .post(app.url(&inbound))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"message_id": "A1", "from": "+61422222222", "x": {nesting}"#
        ))
        .send()
        .await
        .unwrap();
    let refused = problem(webhook, StatusCode::BAD_REQUEST).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("malformed"),
        "{refused}"
    );
    assert_eq!(count(&app, "sms_messages").await, 0);
    assert_still_serving(&app, &admin).await;
}

// ---------------------------------------------------------------------------------------
// Bytes that are not UTF-8
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_json_body_that_is_not_utf8_is_400() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;

    for body in [
        b"{\"first_name\": \"\xff\xfe\", \"last_name\": \"Lee\"}".as_slice(),
        // An overlong encoding of `"`, and a lone surrogate's bytes.
        b"{\"first_name\": \"A\xc0\xa2\", \"last_name\": \"Lee\"}",
        b"{\"first_name\": \"\xed\xa0\x80\", \"last_name\": \"Lee\"}",
    ] {
        let response = app
            .client
            .post(app.url("/candidates"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        let refused = problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(
            refused["type"],
            "https://nextal.app/problems/malformed-request"
        );
        assert_still_serving(&app, &admin).await;
    }
    assert_eq!(count(&app, "candidates").await, 0);
}

#[tokio::test]
async fn a_webhook_that_is_not_utf8_form_or_json_is_400_and_kept_raw_only() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound_path(&app, &admin).await;

    let raw_bytes = raw(
        &app,
        format!("POST {inbound} HTTP/1.1").as_bytes(),
        &[b"Content-Type: application/x-www-form-urlencoded"],
        b"message_id=A1&from=%2B61422222222&body=\xff\xfe",
    )
    .await;
    raw_bytes.problem(400);
    assert_still_serving(&app, &admin).await;
    let escaped = app
        .client
        .post(app.url(&inbound))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("message_id=A2&from=%2B61422222222&body=%C3%28")
        .send()
        .await
        .unwrap();
    problem(escaped, StatusCode::BAD_REQUEST).await;
    assert_still_serving(&app, &admin).await;
    let query = app
        .get(
            &format!("{inbound}?message_id=A3&from=%2B61422222222&body=%FF"),
            None,
        )
        .await;
    problem(query, StatusCode::BAD_REQUEST).await;
    assert_still_serving(&app, &admin).await;
    let plain_text = app
        .client
        .post(app.url(&inbound))
        .header("content-type", "text/plain")
        .body("message_id=A4&from=%2B61422222222&body=hi")
        .send()
        .await
        .unwrap();
    let refused = problem(plain_text, StatusCode::BAD_REQUEST).await;
    assert!(
        refused["detail"].as_str().unwrap().contains("text/plain"),
        "{refused}"
    );
    assert_still_serving(&app, &admin).await;

    // Kept in the raw log as unreadable, as every unreadable delivery is; no reply.
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE outcome = 'unreadable'")
            .await,
        4
    );
    assert_eq!(count(&app, "sms_messages").await, 0);
}

#[tokio::test]
async fn a_nul_character_is_refused_or_replaced_never_a_database_error() {
    // PostgreSQL cannot hold a NUL in text: each of these reached it and was a 500 (a
    // webhook a 503, delivered again and again). SQLite stored them. An escaped NUL is
    // valid JSON no field accepts (422); a raw one is no JSON at all (400).
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let inbound = clicksend_inbound_path(&app, &admin).await;

    for (path, token, body, status, problem_type) in [
        (
            "/auth/login",
            None,
            br#"{"email": "admin@acme.test\u0000", "password": "x"}"#.as_slice(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "https://nextal.app/problems/validation",
        ),
        (
            "/sms-templates",
            Some(admin.as_str()),
            br#"{"name": "Hi", "body": "Hi {{candidate.first_name}}\u0000"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "https://nextal.app/problems/validation",
        ),
        (
            "/auth/login",
            None,
            b"{\"email\": \"a\0\", \"password\": \"x\"}",
            StatusCode::BAD_REQUEST,
            "https://nextal.app/problems/malformed-request",
        ),
    ] {
        let mut request = app
            .client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let refused = problem(request.send().await.unwrap(), status).await;
        assert_eq!(refused["type"], problem_type);
        assert_still_serving(&app, &admin).await;
    }
    for path in ["/candidates?job_id=%00", "/sms/threads?q=a%00b"] {
        let refused = problem(
            app.get(path, Some(&admin)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], "query", "{refused}");
        assert_still_serving(&app, &admin).await;
    }
    // A reply holding a NUL, escaped or as a raw byte, is stored with U+FFFD in its
    // place (the raw log too), not refused: ClickSend would give up on it.
    for (id, body) in [
        (
            "N1",
            b"message_id=N1&from=%2B61422222222&body=hi%00there".to_vec(),
        ),
        (
            "N2",
            b"message_id=N2&from=%2B61422222222&body=hi\0there".to_vec(),
        ),
    ] {
        let webhook = app
            .client
            .post(app.url(&inbound))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(webhook.status(), StatusCode::OK, "{id}");
        assert_still_serving(&app, &admin).await;
    }

    assert_eq!(count(&app, "sms_templates").await, 0);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sms_messages WHERE body = 'hi\u{FFFD}there'")
            .await,
        2
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE payload LIKE '%hi\u{FFFD}there%'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn escapes_that_are_not_utf8_in_a_query_or_a_path_are_refused_as_problems() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;

    // A query parameter that decodes to no text is refused on its field, like any
    // value that is not one (the query extractor reads `%FF` as U+FFFD); an id that
    // names nothing is a 404 on its field.
    for (query, field, status) in [
        ("job_id=%FF", "job_id", StatusCode::CONFLICT),
        ("cursor=%FF%FE", "cursor", StatusCode::UNPROCESSABLE_ENTITY),
        ("limit=%FF", "query", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let refused = problem(
            app.get(&format!("/candidates?{query}"), Some(&admin)).await,
            status,
        )
        .await;
        assert_eq!(refused["errors"][0]["field"], field, "{query}");
        assert_still_serving(&app, &admin).await;
    }
    // An id that is not an id names no resource: 404, as for any bad path id; a webhook
    // token likewise.
    for path in [
        "/candidates/%FF",
        "/candidates/%C3%28",
        "/webhooks/clicksend/%FF%FE/inbound",
    ] {
        let answer = raw(
            &app,
            format!("GET {path} HTTP/1.1").as_bytes(),
            &[&bearer(&admin)],
            b"",
        )
        .await;
        answer.problem(404);
        assert_still_serving(&app, &admin).await;
    }
}

#[tokio::test]
async fn raw_bytes_that_are_not_ascii_in_the_request_target_are_refused_by_the_http_parser() {
    // The request line is not HTTP: actix-web answers 400 before routing, with no body.
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;

    for target in [
        b"/candidates/\xff\xfe".as_slice(),
        b"/candidates?job_id=\xff",
    ] {
        let request_line = [b"GET ".as_slice(), target, b" HTTP/1.1"].concat();
        let answer = raw(&app, &request_line, &[&bearer(&admin)], b"").await;
        assert_eq!(answer.status, 400);
        assert!(answer.body.is_empty());
        assert_still_serving(&app, &admin).await;
    }
}

// ---------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_authorization_header_that_is_not_a_token_is_401() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let junk = format!("Authorization: Bearer {}", "z".repeat(10_000));

    for authorization in [
        b"Authorization: Bearer \xff\xfe\xc3".as_slice(),
        b"Authorization: Bearer nxs_\x80",
        junk.as_bytes(),
        b"Authorization: Bearer",
        b"Authorization: Bearer ",
        b"Authorization: Basic YWRtaW46cGFzc3dvcmQ=",
        b"Authorization: nxs_",
    ] {
        let answer = raw(&app, b"GET /me HTTP/1.1", &[authorization], b"").await;
        let refused = answer.problem(401);
        assert_eq!(refused["type"], "https://nextal.app/problems/unauthorized");
        assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
        assert_still_serving(&app, &admin).await;
    }
}

#[tokio::test]
async fn a_content_type_that_is_not_one_json_type_is_415() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let body = br#"{"first_name": "Ann", "last_name": "Lee"}"#;

    for content_type in [
        vec![b"Content-Type: application/json\xff".as_slice()],
        vec![b"Content-Type: application/"],
        vec![b"Content-Type: ;;;"],
        vec![b"Content-Type: text/json-ish"],
        // Two Content-Type lines leave the body's type ambiguous: refused whichever
        // comes first, and even when both agree.
        vec![JSON, b"Content-Type: text/plain"],
        vec![b"Content-Type: text/plain", JSON],
        vec![JSON, JSON],
    ] {
        let authorization = bearer(&admin);
        let headers: Vec<&[u8]> = [authorization.as_slice()]
            .into_iter()
            .chain(content_type.iter().copied())
            .collect();
        let answer = raw(&app, b"POST /candidates HTTP/1.1", &headers, body).await;
        let refused = answer.problem(415);
        assert_eq!(
            refused["type"],
            "https://nextal.app/problems/unsupported-media-type"
        );
        assert_still_serving(&app, &admin).await;
    }
    assert_eq!(count(&app, "candidates").await, 0);
}

#[tokio::test]
async fn header_blocks_too_large_for_the_http_parser_are_431() {
    // actix-web's HTTP/1 parser takes at most 96 header lines and about 128 KiB of
    // head; beyond that it answers 431 itself, before any application code runs.
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let huge = format!("X-Junk: {}", "j".repeat(256 * 1024));
    let many: Vec<String> = (0..200).map(|n| format!("X-Header-{n}: v")).collect();
    let many: Vec<&[u8]> = many.iter().map(String::as_bytes).collect();

    for headers in [vec![huge.as_bytes()], many] {
        let answer = raw(&app, b"GET /healthz HTTP/1.1", &headers, b"").await;
        assert_eq!(answer.status, 431);
        assert!(answer.body.is_empty());
        assert_still_serving(&app, &admin).await;
    }
    // A large header the parser does take is no problem for the application.
    let large = format!("X-Junk: {}", "j".repeat(64 * 1024));
    let answer = raw(&app, b"GET /healthz HTTP/1.1", &[large.as_bytes()], b"").await;
    assert_eq!(answer.status, 200);
    assert_still_serving(&app, &admin).await;
}

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn abused_paths_are_404_problems_never_500() {
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;
    let long = format!("/candidates/{}", "a".repeat(10_000));
    let long_id_shape = format!("/candidates/{}", "0123456789abcdef-".repeat(500));

    for path in [
        "/candidates/%00",
        "/candidates/%00%00%00%00-0000-0000-0000-000000000000",
        "/candidates/../users",
        "/candidates/%2e%2e/users",
        "/candidates/..%2fusers",
        "/candidates/./",
        "/candidates//",
        "/candidates/00000000-0000-0000-0000-00000000000g",
        "/candidates/{id}",
        "/candidates/%7Bid%7D",
        "/candidates/%27%20OR%20%271%27%3D%271",
        long.as_str(),
        long_id_shape.as_str(),
    ] {
        let answer = raw(
            &app,
            format!("GET {path} HTTP/1.1").as_bytes(),
            &[&bearer(&admin)],
            b"",
        )
        .await;
        let refused = answer.problem(404);
        assert_eq!(
            refused["type"], "https://nextal.app/problems/not-found",
            "{path}"
        );
        assert_still_serving(&app, &admin).await;
    }
}

#[tokio::test]
async fn request_targets_too_long_for_the_http_parser_are_refused_before_routing() {
    // A target longer than the `http` crate's URIs (64 KiB) is 400; a head longer than
    // actix-web's buffer (128 KiB) is 431. Neither reaches the application.
    let app = start(AppOptions::default()).await;
    let admin = app.admin_token().await;

    for (length, status) in [(100_000, 400), (200_000, 431)] {
        let request_line = format!("GET /candidates/{} HTTP/1.1", "a".repeat(length));
        let answer = raw(&app, request_line.as_bytes(), &[&bearer(&admin)], b"").await;
        assert_eq!(answer.status, status, "a {length}-byte segment");
        assert!(answer.body.is_empty());
        assert_still_serving(&app, &admin).await;
    }
}
