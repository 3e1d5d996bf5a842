//! The authorization matrix: every documented operation, called as an anonymous client,
//! a recruiter, an admin and another organization's admin, checked against a table of
//! expected answers. The table must name exactly the operations the served OpenAPI
//! document lists, so a new endpoint cannot ship without a decision on who may call it.

use std::collections::BTreeSet;

use futures_util::StreamExt;
use nextal_tests::fakes::{ClickSendAccepts, clicksend_creates_webhook_rules};
use nextal_tests::{ADMIN_PASSWORD, TestApp, problem, spawn_app};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::messaging::phone;
use crate::secrets::{Table, contains, decode, dump, tables};

const RECRUITER_EMAIL: &str = "rita@acme.test";
const OTHER_ADMIN_EMAIL: &str = "admin@globex.test";
const ACME_TWILIO_SID: &str = "ACacacacacacacacacacacacacacacacac";
const GLOBEX_TWILIO_SID: &str = "ACb0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    /// Anyone, without a session.
    Public,
    /// Any signed-in user of the organization.
    Member,
    /// Only the organization's admins.
    Admin,
}

/// What an operation's `{id}` names: one of organization A's resources.
#[derive(Clone, Copy)]
enum Target {
    NoId,
    Candidate,
    Job,
    Template,
    /// A template made for this one call, since a successful call deletes it.
    FreshTemplate,
    User,
    Message,
    /// A scheduled message made for this one call, since a successful call cancels it.
    FreshScheduledMessage,
    Batch,
    Thread,
}

/// A request body from organization A's resources and a number unique to the call.
type BodyFn = fn(&Fixture, usize) -> Value;

/// One row of the expectation table.
struct Row {
    method: &'static str,
    path: &'static str,
    access: Access,
    target: Target,
    body: Option<BodyFn>,
    /// The status organization A's permitted callers get.
    ok: u16,
    /// The status organization B's admin gets: 404 for A's ids; for the collection and
    /// settings operations, whatever B's own organization gives.
    other: u16,
    /// The call ends the session it carries, so each caller brings a fresh one.
    ends_session: bool,
}

fn op(
    method: &'static str,
    path: &'static str,
    access: Access,
    target: Target,
    ok: u16,
    other: u16,
) -> Row {
    Row {
        method,
        path,
        access,
        target,
        body: None,
        ok,
        other,
        ends_session: false,
    }
}

impl Row {
    fn with(mut self, body: BodyFn) -> Self {
        self.body = Some(body);
        self
    }

    fn ending_the_session(mut self) -> Self {
        self.ends_session = true;
        self
    }
}

/// Every documented operation but the provider webhooks, which are checked apart.
fn table() -> Vec<Row> {
    use Access::{Admin, Member, Public};
    use Target::{
        Batch, Candidate, FreshScheduledMessage, FreshTemplate, Job, Message, NoId, Template,
        Thread, User,
    };
    vec![
        op("GET", "/audit-log", Admin, NoId, 200, 200),
        op("POST", "/auth/login", Public, NoId, 200, 200)
            .with(|f, _| json!({"email": f.admin_email, "password": ADMIN_PASSWORD})),
        op("POST", "/auth/logout", Member, NoId, 204, 204).ending_the_session(),
        op("GET", "/candidates", Member, NoId, 200, 200),
        // B names A's job: 409 on the field (`unknown-reference`), as for an unknown job.
        op("POST", "/candidates", Member, NoId, 201, 409).with(|f, _| {
            json!({"first_name": "Matt", "last_name": "Rix", "job_id": f.job, "stage": "Applied"})
        }),
        op("GET", "/candidates/{id}", Member, Candidate, 200, 404),
        op("PATCH", "/candidates/{id}", Member, Candidate, 200, 404)
            .with(|_, _| json!({"stage": "Interview"})),
        op("GET", "/healthz", Public, NoId, 200, 200),
        op("GET", "/integrations", Admin, NoId, 200, 200),
        op("GET", "/integrations/clicksend", Admin, NoId, 200, 200),
        op("PUT", "/integrations/clicksend", Admin, NoId, 200, 200).with(|_, _| {
            json!({"active": true, "phone_number": "+61400000077", "username": "matrix-user"})
        }),
        op("PUT", "/integrations/clicksend/api-key", Admin, NoId, 200, 200)
            .with(|_, _| json!({"api_key": "matrix-api-key"})),
        op(
            "POST",
            "/integrations/clicksend/register-webhooks",
            Admin,
            NoId,
            200,
            200,
        ),
        op("POST", "/integrations/clicksend/test-sms", Admin, NoId, 200, 200)
            .with(|_, _| json!({"to": "+61400000088"})),
        op("POST", "/integrations/clicksend/verify", Admin, NoId, 200, 200),
        op(
            "POST",
            "/integrations/clicksend/webhook-token",
            Admin,
            NoId,
            200,
            200,
        ),
        op("GET", "/integrations/twilio", Admin, NoId, 200, 200),
        // Inactive, so that ClickSend stays the organization's sender for the rows below.
        op("PUT", "/integrations/twilio", Admin, NoId, 200, 200).with(|_, _| {
            json!({"active": false, "phone_number": "+14155550166",
                   "account_sid": "AC0123456789abcdef0123456789abcdef"})
        }),
        op("PUT", "/integrations/twilio/auth-token", Admin, NoId, 200, 200)
            .with(|_, _| json!({"auth_token": "matrix-auth-token"})),
        op(
            "POST",
            "/integrations/twilio/register-webhooks",
            Admin,
            NoId,
            200,
            200,
        ),
        op("POST", "/integrations/twilio/test-sms", Admin, NoId, 200, 200)
            .with(|_, _| json!({"to": "+14155550188"})),
        op("POST", "/integrations/twilio/verify", Admin, NoId, 200, 200),
        op(
            "POST",
            "/integrations/twilio/webhook-token",
            Admin,
            NoId,
            200,
            200,
        ),
        op("GET", "/jobs", Member, NoId, 200, 200),
        op("POST", "/jobs", Member, NoId, 201, 201)
            .with(|_, n| json!({"title": format!("Matrix job {n}")})),
        op("GET", "/jobs/{id}/board", Member, Job, 200, 404),
        op("GET", "/me", Member, NoId, 200, 200),
        op("GET", "/metrics", Public, NoId, 200, 200),
        op("GET", "/organization", Member, NoId, 200, 200),
        op("PATCH", "/organization", Admin, NoId, 200, 200)
            .with(|_, _| json!({"timezone": "Australia/Perth"})),
        op("GET", "/readyz", Public, NoId, 200, 200),
        op("GET", "/sms-templates", Member, NoId, 200, 200),
        op("POST", "/sms-templates", Member, NoId, 201, 201).with(|_, n| {
            json!({"name": format!("Matrix template {n}"), "body": "Hi {{candidate.first_name}}"})
        }),
        op("GET", "/sms-templates/{id}", Member, Template, 200, 404),
        op("PUT", "/sms-templates/{id}", Member, Template, 200, 404)
            .with(|_, _| json!({"name": "Matrix renamed", "body": "Hello"})),
        op("DELETE", "/sms-templates/{id}", Member, FreshTemplate, 204, 404),
        op("POST", "/sms-templates/{id}/preview", Member, Template, 200, 404)
            .with(|f, _| json!({"candidate_id": f.candidate})),
        op("GET", "/sms/batches/{id}", Member, Batch, 200, 404),
        // B's own send, naming A's candidate: accepted with that id skipped as not found.
        op("POST", "/sms/bulk", Member, NoId, 202, 202)
            .with(|f, _| json!({"candidate_ids": [f.candidate], "body": "Quick one"})),
        op("GET", "/sms/events", Member, NoId, 200, 200),
        // B names A's candidate: 409 on the field, as for an unknown candidate.
        op("POST", "/sms/messages", Member, NoId, 202, 409)
            .with(|f, _| json!({"candidate_id": f.candidate, "body": "Are you free?"})),
        op("GET", "/sms/messages/{id}", Member, Message, 200, 404),
        op(
            "POST",
            "/sms/messages/{id}/cancel",
            Member,
            FreshScheduledMessage,
            200,
            404,
        ),
        op("GET", "/sms/threads", Member, NoId, 200, 200),
        op("GET", "/sms/threads/{id}", Member, Thread, 200, 404),
        op("GET", "/sms/threads/{id}/messages", Member, Thread, 200, 404),
        op("POST", "/sms/threads/{id}/messages", Member, Thread, 202, 404)
            .with(|_, _| json!({"body": "Following up"})),
        op("POST", "/sms/threads/{id}/read", Member, Thread, 200, 404),
        // A's thread holds no reply yet: access granted, nothing to mark unread.
        op("POST", "/sms/threads/{id}/unread", Member, Thread, 409, 404),
        op("PUT", "/sms/threads/{id}/assignee", Member, Thread, 200, 404)
            .with(|_, _| json!({"user_id": null})),
        op("GET", "/users", Admin, NoId, 200, 200),
        op("POST", "/users", Admin, NoId, 201, 201).with(|_, n| {
            json!({"email": format!("new{n}@matrix.test"), "password": ADMIN_PASSWORD,
                   "first_name": "Nia", "last_name": "Vale", "role": "recruiter"})
        }),
        op("GET", "/users/{id}", Admin, User, 200, 404),
        op("PATCH", "/users/{id}", Admin, User, 200, 404)
            .with(|_, _| json!({"first_name": "Samuel"})),
    ]
}

/// The provider webhooks: their caller is the provider, authenticated by the token in
/// the path (and, for Twilio, a signature), not by a session.
const WEBHOOKS: [(&str, &str); 7] = [
    ("GET", "/webhooks/clicksend/{token}/inbound"),
    ("POST", "/webhooks/clicksend/{token}/inbound"),
    ("GET", "/webhooks/clicksend/{token}/receipts"),
    ("POST", "/webhooks/clicksend/{token}/receipts"),
    ("GET", "/webhooks/twilio/{token}/inbound"),
    ("POST", "/webhooks/twilio/{token}/inbound"),
    ("POST", "/webhooks/twilio/{token}/status"),
];

#[derive(Clone, Copy, Debug)]
enum Principal {
    Anonymous,
    OtherAdmin,
    Recruiter,
    Admin,
}

/// Organization A's resources and every caller's session.
struct Fixture {
    organization_id: String,
    other_organization_id: String,
    admin_email: String,
    admin: String,
    recruiter: String,
    other_admin: String,
    candidate: String,
    job: String,
    template: String,
    user: String,
    message: String,
    batch: String,
    thread: String,
    /// Strings only organization A's data contains: none may reach B.
    markers: Vec<String>,
    /// The database's tables, for snapshots of organization A.
    tables: Vec<Table>,
}

#[tokio::test]
async fn every_operation_answers_each_principal_as_the_table_says() {
    let app = spawn_app().await;
    fake_providers(&app).await;
    let fixture = arrange(&app).await;
    let served = app.get("/openapi.json", None).await;
    assert_eq!(served.status(), StatusCode::OK);
    let document: Value = served.json().await.unwrap();
    let table = table();

    let (documented, public) = documented_operations(&document);
    let tabled: Operations = table
        .iter()
        .map(|row| (row.method.to_owned(), row.path.to_owned()))
        .chain(
            WEBHOOKS
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    assert_eq!(
        tabled, documented,
        "the expectation table must cover exactly the documented operations"
    );
    assert_eq!(
        tabled.len(),
        table.len() + WEBHOOKS.len(),
        "a row is repeated"
    );
    let tabled_public: Operations = table
        .iter()
        .filter(|row| row.access == Access::Public)
        .map(|row| (row.method.to_owned(), row.path.to_owned()))
        .collect();
    assert_eq!(
        tabled_public, public,
        "public rows must be the unsecured operations"
    );

    // Refused callers first, so that they meet the state the table was written for.
    let principals = [
        Principal::Anonymous,
        Principal::OtherAdmin,
        Principal::Recruiter,
        Principal::Admin,
    ];
    for (r, row) in table.iter().enumerate() {
        for (p, principal) in principals.into_iter().enumerate() {
            check(&app, &fixture, row, principal, 4 * r + p).await;
        }
    }

    // B's successful calls named A's job, candidate and so on: none of B's own rows may
    // refer to them (a bulk send that texted A's candidate would show here). B's batch
    // keeps the ids it was asked for, with why each was skipped.
    for row in rows_of(&app, &fixture, &fixture.other_organization_id).await {
        let (table, cells) = decode(&row);
        let leaked: Vec<&String> = fixture
            .markers
            .iter()
            .filter(|marker| cells.iter().any(|cell| contains(cell, marker.as_bytes())))
            .collect();
        assert!(
            table == "sms_batches" || leaked.is_empty(),
            "organization B's {table} row holds A's {leaked:?}"
        );
    }

    for (verb, route) in WEBHOOKS {
        webhook_refuses_a_wrong_token(&app, verb, route).await;
    }
    for route in ["/openapi.json", "/docs/"] {
        let response = app.get(route, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{route} is public");
    }
}

/// Operations as (METHOD, path).
type Operations = BTreeSet<(String, String)>;

/// (every documented operation, the ones that need no session).
fn documented_operations(document: &Value) -> (Operations, Operations) {
    let mut all = BTreeSet::new();
    let mut public = BTreeSet::new();
    for (route, operations) in document["paths"].as_object().unwrap() {
        for (verb, operation) in operations.as_object().unwrap() {
            let key = (verb.to_uppercase(), route.clone());
            // No requirement, or an empty one, lets anonymous callers in.
            let open = operation["security"].as_array().is_none_or(|requirements| {
                requirements
                    .iter()
                    .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty))
            });
            if open && !route.starts_with("/webhooks/") {
                public.insert(key.clone());
            }
            all.insert(key);
        }
    }
    (all, public)
}

/// One call of `row` by `principal`, checked against the table. A caller with no
/// rights in organization A must leave it exactly as it was, and another organization's
/// admin must see nothing of it.
async fn check(app: &TestApp, fixture: &Fixture, row: &Row, principal: Principal, n: usize) {
    let route = resolve(app, fixture, row.target, row.path).await;
    let token = session(app, fixture, row, principal).await;
    let body = row.body.map(|body| body(fixture, n));
    let label = format!("{} {route} as {principal:?}", row.method);
    let outsider = row.access != Access::Public
        && match principal {
            Principal::Anonymous | Principal::OtherAdmin => true,
            Principal::Recruiter => row.access == Access::Admin,
            Principal::Admin => false,
        };
    let before = if outsider {
        Some(snapshot(app, fixture).await)
    } else {
        None
    };

    let response = send(app, row.method, &route, token.as_deref(), body.as_ref()).await;

    let expected = match (row.access, principal) {
        (Access::Public, _) => row.ok,
        (_, Principal::Anonymous) => 401,
        (_, Principal::OtherAdmin) => row.other,
        (Access::Admin, Principal::Recruiter) => 403,
        _ => row.ok,
    };
    assert_eq!(response.status().as_u16(), expected, "{label}");
    let answer = if matches!(expected, 401 | 403 | 404) {
        let refusal = problem(response, StatusCode::from_u16(expected).unwrap()).await;
        if expected == 404 {
            // Another tenant's id must be indistinguishable from one that does not exist.
            let missing = row.path.replace("{id}", &uuid::Uuid::now_v7().to_string());
            let absent = send(app, row.method, &missing, token.as_deref(), body.as_ref()).await;
            assert_eq!(
                problem(absent, StatusCode::NOT_FOUND).await,
                refusal,
                "{label}"
            );
        }
        refusal.to_string()
    } else {
        read(response).await
    };
    if matches!(principal, Principal::OtherAdmin) && row.access != Access::Public {
        // What B sent may come back (a refused id, say); nothing else of A's may.
        let request = format!("{route} {}", body.unwrap_or_default());
        let leaked: Vec<&String> = fixture
            .markers
            .iter()
            .filter(|marker| !request.contains(marker.as_str()))
            .filter(|marker| answer.contains(marker.as_str()))
            .collect();
        assert!(leaked.is_empty(), "{label} shows A's {leaked:?}: {answer}");
    }
    if let Some(before) = before {
        assert!(
            before == snapshot(app, fixture).await,
            "{label} changed organization A"
        );
    }
}

/// `route` with its `{id}` replaced by the organization A resource `target` names.
async fn resolve(app: &TestApp, fixture: &Fixture, target: Target, route: &str) -> String {
    let id = match target {
        Target::NoId => return route.to_owned(),
        Target::Candidate => fixture.candidate.clone(),
        Target::Job => fixture.job.clone(),
        Target::Template => fixture.template.clone(),
        Target::FreshTemplate => created(
            app,
            &fixture.admin,
            "/sms-templates",
            &json!({"name": format!("Disposable {}", uuid::Uuid::new_v4()), "body": "Bye"}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        Target::User => fixture.user.clone(),
        Target::Message => fixture.message.clone(),
        Target::FreshScheduledMessage => {
            let at = chrono::Utc::now() + chrono::TimeDelta::days(1);
            created(
                app,
                &fixture.admin,
                "/sms/messages",
                &json!({"candidate_id": fixture.candidate, "body": "Reminder", "send_at": at}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
        Target::Batch => fixture.batch.clone(),
        Target::Thread => fixture.thread.clone(),
    };
    route.replace("{id}", &id)
}

/// The bearer token `principal` calls `row` with.
async fn session(
    app: &TestApp,
    fixture: &Fixture,
    row: &Row,
    principal: Principal,
) -> Option<String> {
    let (email, shared) = match principal {
        Principal::Anonymous => return None,
        Principal::OtherAdmin => (OTHER_ADMIN_EMAIL, &fixture.other_admin),
        Principal::Recruiter => (RECRUITER_EMAIL, &fixture.recruiter),
        Principal::Admin => (fixture.admin_email.as_str(), &fixture.admin),
    };
    Some(if row.ends_session {
        app.token_for(email, ADMIN_PASSWORD).await
    } else {
        shared.clone()
    })
}

async fn send(
    app: &TestApp,
    verb: &str,
    route: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = app.client.request(verb.parse().unwrap(), app.url(route));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// The body; of an event stream, which never ends, its first chunk.
async fn read(response: Response) -> String {
    let streaming = response
        .headers()
        .get("content-type")
        .is_some_and(|value| value == "text/event-stream");
    if streaming {
        let chunk = response.bytes_stream().next().await.unwrap().unwrap();
        String::from_utf8_lossy(&chunk).into_owned()
    } else {
        response.text().await.unwrap()
    }
}

/// Every row organization A owns, every column of it: what no refused call may change.
async fn snapshot(app: &TestApp, fixture: &Fixture) -> Vec<String> {
    rows_of(app, fixture, &fixture.organization_id).await
}

/// Every row `organization_id` owns, as [`dump`] lines.
async fn rows_of(app: &TestApp, fixture: &Fixture, organization_id: &str) -> Vec<String> {
    let selections: Vec<_> = fixture
        .tables
        .iter()
        .filter_map(|table| {
            let condition = if table.name == "organizations" {
                format!("id = '{organization_id}'")
            } else if table.name == "sms_message_events" {
                let messages = format!(
                    "SELECT id FROM sms_messages WHERE organization_id = '{organization_id}'"
                );
                format!("message_id IN ({messages})")
            } else if table.has_column("organization_id") {
                format!("organization_id = '{organization_id}'")
            } else {
                return None;
            };
            Some((table, condition))
        })
        .collect();
    dump(app, &selections).await
}

/// POSTs `body` as organization A's admin and returns the created resource.
async fn created(app: &TestApp, token: &str, route: &str, body: &Value) -> Value {
    let response = app.post(route, Some(token), body).await;
    assert!(
        response.status().is_success(),
        "{route}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// A delivery with a token no integration has: 404 like any unknown path, nothing kept.
async fn webhook_refuses_a_wrong_token(app: &TestApp, verb: &str, route: &str) {
    let wrong = route.replace("{token}", "Wr0ngT0kenWr0ngT0kenWr0ngT0kenWr0ngT0kenWr0");
    let fields = [
        ("message_id", "1F0F0F0F-0000-0000-0000-000000000001"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("from", "+61400000001"),
        ("From", "+61400000001"),
        ("body", "STOP"),
        ("Body", "STOP"),
        ("status_code", "201"),
        ("MessageStatus", "delivered"),
    ];
    let stored = [
        "webhook_deliveries",
        "sms_messages",
        "sms_threads",
        "consent_events",
    ];
    let mut before = Vec::new();
    for table in stored {
        before.push(
            app.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .await,
        );
    }

    let request = match verb {
        "GET" => app.client.get(app.url(&wrong)).query(&fields),
        _ => app
            .client
            .post(app.url(&wrong))
            .header("x-twilio-signature", "bm90IGEgc2lnbmF0dXJl")
            .form(&fields),
    };
    let response = request.send().await.unwrap();

    problem(response, StatusCode::NOT_FOUND).await;
    let mut after = Vec::new();
    for table in stored {
        after.push(
            app.count(&format!("SELECT COUNT(*) AS n FROM {table}"))
                .await,
        );
    }
    assert_eq!(
        before, after,
        "{verb} {route} with a wrong token stored something"
    );
}

/// Organization A with one of each resource, a recruiter and a second user; B with
/// both providers set up, so that B's calls are decided by tenancy, not by B lacking
/// a provider.
async fn arrange(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let (_, recruiter) = app.create_user(&admin, RECRUITER_EMAIL, "recruiter").await;
    let (user, _) = app.create_user(&admin, "sam@acme.test", "recruiter").await;
    set_up_providers(
        app,
        &admin,
        ("+61411111111", "acme-clicksend-user"),
        ("+14155550100", ACME_TWILIO_SID),
    )
    .await;
    let job = created(
        app,
        &admin,
        "/jobs",
        &json!({"title": "Acme Harbour Pilot"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let candidate = created(
        app,
        &admin,
        "/candidates",
        &json!({"first_name": "Quillon", "last_name": "Acmeworth", "phone": phone(1),
                "job_id": job, "stage": "Applied"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let template = created(
        app,
        &admin,
        "/sms-templates",
        &json!({"name": "Acme welcome", "body": "Welcome aboard {{candidate.first_name}}"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let message = created(
        app,
        &admin,
        "/sms/messages",
        &json!({"candidate_id": candidate, "body": "Acme interview at ten"}),
    )
    .await;
    let batch = created(
        app,
        &admin,
        "/sms/bulk",
        &json!({"candidate_ids": [candidate], "body": "Acme open day"}),
    )
    .await["batch_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let me: Value = app.get("/me", Some(&admin)).await.json().await.unwrap();
    let organization_id = app.organization_id(&admin).await;
    let mut markers = vec![
        organization_id.clone(),
        me["id"].as_str().unwrap().to_owned(),
        user.clone(),
        app.admin_email.clone(),
        RECRUITER_EMAIL.to_owned(),
        "sam@acme.test".to_owned(),
        "My organization".to_owned(),
        candidate.clone(),
        "Quillon".to_owned(),
        "Acmeworth".to_owned(),
        phone(1),
        job.clone(),
        "Acme Harbour Pilot".to_owned(),
        template.clone(),
        "Acme welcome".to_owned(),
        message["id"].as_str().unwrap().to_owned(),
        message["thread_id"].as_str().unwrap().to_owned(),
        "Acme interview at ten".to_owned(),
        batch.clone(),
        "acme-clicksend-user".to_owned(),
        ACME_TWILIO_SID.to_owned(),
        "+61411111111".to_owned(),
        "+14155550100".to_owned(),
    ];
    for provider in ["clicksend", "twilio"] {
        let card: Value = app
            .get(&format!("/integrations/{provider}"), Some(&admin))
            .await
            .json()
            .await
            .unwrap();
        markers.push(card["webhooks"]["inbound_url"].as_str().unwrap().to_owned());
    }

    let other_admin = app
        .create_other_organization("Globex", OTHER_ADMIN_EMAIL)
        .await;
    set_up_providers(
        app,
        &other_admin,
        ("+61499999999", "globex-clicksend-user"),
        ("+14155550177", GLOBEX_TWILIO_SID),
    )
    .await;
    Fixture {
        organization_id,
        other_organization_id: app.organization_id(&other_admin).await,
        admin_email: app.admin_email.clone(),
        admin,
        recruiter,
        other_admin,
        candidate,
        job,
        template,
        user,
        thread: message["thread_id"].as_str().unwrap().to_owned(),
        message: message["id"].as_str().unwrap().to_owned(),
        batch,
        markers,
        tables: tables(app).await,
    }
}

/// ClickSend active and Twilio inactive, both with their credentials.
async fn set_up_providers(
    app: &TestApp,
    admin: &str,
    (clicksend_number, username): (&str, &str),
    (twilio_number, account_sid): (&str, &str),
) {
    for (route, body) in [
        (
            "/integrations/clicksend",
            json!({"active": true, "phone_number": clicksend_number, "username": username}),
        ),
        (
            "/integrations/clicksend/api-key",
            json!({"api_key": "clicksend-key-for-tests"}),
        ),
        (
            "/integrations/twilio",
            json!({"active": false, "phone_number": twilio_number, "account_sid": account_sid}),
        ),
        (
            "/integrations/twilio/auth-token",
            json!({"auth_token": "twilio-token-for-tests"}),
        ),
    ] {
        let response = app.put(route, Some(admin), &body).await;
        assert_eq!(response.status(), StatusCode::OK, "{route}");
    }
}

/// ClickSend and Twilio accepting every call the admin operations make, so that a
/// permitted call succeeds and only authorization decides the status.
async fn fake_providers(app: &TestApp) {
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .respond_with(ok(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "ok",
            "data": {"username": "fake", "account_name": "Fake", "balance": "3.50",
                     "_currency": {"currency_name_short": "AUD"}}
        })))
        .mount(&app.clicksend)
        .await;
    clicksend_creates_webhook_rules(&app.clicksend).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/2010-04-01/Accounts/AC[0-9a-f]{32}\.json$"))
        .respond_with(ok(json!({"status": "active", "friendly_name": "Fake"})))
        .mount(&app.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"/Balance\.json$"))
        .respond_with(ok(json!({"balance": "3.50", "currency": "USD"})))
        .mount(&app.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/Messages\.json$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": "SM0123456789abcdef0123456789abcdef", "status": "queued", "num_segments": "1"}),
        ))
        .mount(&app.twilio)
        .await;
    Mock::given(method("GET"))
        .and(path_regex(r"/IncomingPhoneNumbers\.json$"))
        .respond_with(ok(json!({"incoming_phone_numbers": [
            {"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": "+14155550155"}
        ]})))
        .mount(&app.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"/IncomingPhoneNumbers/PN[0-9a-f]{32}\.json$"))
        .respond_with(ok(json!({"sid": "PN0123456789abcdef0123456789abcdef"})))
        .mount(&app.twilio)
        .await;
}
