//! Secrets stay secret: the main flows run with distinctive passwords, ClickSend API
//! keys and Twilio auth tokens, then every answer the test received (status line,
//! headers, body), every captured log line and every column of every table are searched
//! for them, as they are, in hex and in base64.
//!
//! The logs are captured at the level `RUST_LOG` sets for the test process (`info`
//! when unset, the harness's default); run with `RUST_LOG=debug` (or `trace`) to scan
//! the most verbose output.

use std::cell::RefCell;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use diesel_async::RunQueryDsl;
use hmac::{Hmac, Mac};
use nextal_persistence::DbConn;
use nextal_tests::fakes::{ClickSendAccepts, clicksend_creates_webhook_rules};
use nextal_tests::{AppOptions, TestApp, backend_name, captured_logs, spawn_app_with};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use sha1::Sha1;
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

const CLICKSEND_USERNAME: &str = "ops@acme.example";
const CLICKSEND_NUMBER: &str = "+61411111111";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_NUMBER: &str = "+14155550100";
const TWILIO_MESSAGE_SID: &str = "SM5ec0000000000000000000000000005e";

/// A table and its columns, as the database's own catalogue lists them.
pub(crate) struct Table {
    pub(crate) name: String,
    /// Each column's name and whether it holds bytes rather than text.
    columns: Vec<(String, bool)>,
}

impl Table {
    pub(crate) fn has_column(&self, name: &str) -> bool {
        self.columns.iter().any(|(column, _)| column == name)
    }

    /// SQL for one row: every cell's bytes in hex (NULL as nothing), comma-separated.
    /// Hex keeps binary cells intact through a text query on both backends.
    fn row_expression(&self) -> String {
        let postgres = backend_name() == "postgres";
        self.columns
            .iter()
            .map(|(column, binary)| match (postgres, binary) {
                (false, _) => format!("hex(\"{column}\")"),
                (true, true) => format!("coalesce(encode(\"{column}\", 'hex'), '')"),
                (true, false) => {
                    format!("coalesce(encode(convert_to(\"{column}\"::text, 'UTF8'), 'hex'), '')")
                }
            })
            .collect::<Vec<_>>()
            .join(" || ',' || ")
    }
}

/// Every table of the service's database with its columns.
pub(crate) async fn tables(app: &TestApp) -> Vec<Table> {
    let sql = if backend_name() == "postgres" {
        "SELECT c.table_name || '|' || c.column_name || '|' || c.data_type AS line \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
         ORDER BY c.table_name, c.ordinal_position"
    } else {
        "SELECT m.name || '|' || p.name || '|' || upper(p.type) AS line \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' ORDER BY m.name, p.cid"
    };
    let mut tables: Vec<Table> = Vec::new();
    for line in lines(app, sql).await {
        let mut parts = line.splitn(3, '|');
        let (table, column, kind) = (
            parts.next().unwrap(),
            parts.next().unwrap().to_owned(),
            parts.next().unwrap(),
        );
        let binary = kind == "bytea" || kind == "BLOB";
        match tables.last_mut() {
            Some(last) if last.name == table => last.columns.push((column, binary)),
            _ => tables.push(Table {
                name: table.to_owned(),
                columns: vec![(column, binary)],
            }),
        }
    }
    assert!(
        tables.len() > 10,
        "the catalogue lists the service's tables"
    );
    tables
}

/// The rows of each table that match its SQL condition, one line per row,
/// `table|hex,hex,…`, sorted so that two dumps compare.
pub(crate) async fn dump(app: &TestApp, selections: &[(&Table, String)]) -> Vec<String> {
    let sql = selections
        .iter()
        .map(|(table, condition)| {
            format!(
                "SELECT '{name}|' || {row} AS line FROM \"{name}\" WHERE {condition}",
                name = table.name,
                row = table.row_expression()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let mut rows = lines(app, &sql).await;
    rows.sort();
    rows
}

/// The `line` column of every row `sql` returns.
async fn lines(app: &TestApp, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let mut conn = app.db.conn().await.unwrap();
    let query = diesel::sql_query(sql);
    let rows: Vec<Line> = match &mut conn {
        DbConn::Postgres(object) => query.load(&mut **object).await,
        DbConn::Sqlite(object) => query.load(&mut **object).await,
    }
    .unwrap();
    rows.into_iter().map(|row| row.line).collect()
}

/// The whole database as (table, cell bytes), one entry per cell.
async fn database_cells(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let tables = tables(app).await;
    let everything: Vec<(&Table, String)> = tables
        .iter()
        .map(|table| (table, "1 = 1".to_owned()))
        .collect();
    let mut cells = Vec::new();
    for row in dump(app, &everything).await {
        let (table, row_cells) = decode(&row);
        cells.extend(row_cells.into_iter().map(|cell| (table.to_owned(), cell)));
    }
    cells
}

/// A [`dump`] line as its table and its cells' bytes.
pub(crate) fn decode(line: &str) -> (&str, Vec<Vec<u8>>) {
    let (table, cells) = line.split_once('|').unwrap();
    let unhex = |text: &str| -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    };
    (table, cells.split(',').map(unhex).collect())
}

pub(crate) fn contains(material: &[u8], wanted: &[u8]) -> bool {
    material
        .windows(wanted.len())
        .any(|window| window == wanted)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value no other test uses, recognisable in a failure message.
fn distinctive(kind: &str) -> String {
    format!("{kind}-SECRET-{}", uuid::Uuid::new_v4().simple())
}

/// A secret and every form of it the scan looks for.
struct Needle {
    label: &'static str,
    forms: Vec<Vec<u8>>,
}

impl Needle {
    /// The secret as is, in hex, and in base64 (standard and URL-safe) at each of the
    /// three byte alignments it can have inside a longer encoded text, keeping only the
    /// characters that depend on the secret alone: so `base64(username:secret)`, an
    /// HTTP Basic credential, is found whatever the username.
    fn new(label: &'static str, secret: &str) -> Self {
        let bytes = secret.as_bytes();
        let mut forms = vec![
            bytes.to_vec(),
            hex(bytes).into_bytes(),
            hex(bytes).to_uppercase().into_bytes(),
        ];
        for offset in 0..3 {
            let mut shifted = vec![0_u8; offset];
            shifted.extend_from_slice(bytes);
            let (first, end) = ((8 * offset).div_ceil(6), 8 * (offset + bytes.len()) / 6);
            for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
                forms.push(engine.encode(&shifted).as_bytes()[first..end].to_vec());
            }
        }
        Self { label, forms }
    }
}

/// The needles found in `material`, as `label in place`.
fn findings(needles: &[Needle], place: &str, material: &[u8]) -> Vec<String> {
    needles
        .iter()
        .filter(|needle| needle.forms.iter().any(|form| contains(material, form)))
        .map(|needle| format!("{} in {place}", needle.label))
        .collect()
}

/// What a scan read and found.
struct Scan {
    found: Vec<String>,
    responses: Vec<String>,
    logs: String,
    cells: Vec<(String, Vec<u8>)>,
}

async fn scan(app: &TestApp, client: &Recorder<'_>, needles: &[Needle]) -> Scan {
    let responses = client.seen.borrow().clone();
    let logs = captured_logs();
    let cells = database_cells(app).await;
    let mut found = Vec::new();
    for (index, response) in responses.iter().enumerate() {
        found.extend(findings(
            needles,
            &format!("response #{index}: {response}"),
            response.as_bytes(),
        ));
    }
    found.extend(findings(needles, "the logs", logs.as_bytes()));
    for (table, cell) in &cells {
        found.extend(findings(needles, &format!("table {table}"), cell));
    }
    Scan {
        found,
        responses,
        logs,
        cells,
    }
}

/// The test's client: every answer the service gives it is recorded, headers included.
struct Recorder<'a> {
    app: &'a TestApp,
    seen: RefCell<Vec<String>>,
}

impl Recorder<'_> {
    async fn send(&self, request: RequestBuilder) -> (StatusCode, String) {
        let response = request.send().await.unwrap();
        let status = response.status();
        let mut record = format!("{status}\n");
        for (name, value) in response.headers() {
            record.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = response.text().await.unwrap();
        record.push_str(&body);
        self.seen.borrow_mut().push(record);
        (status, body)
    }

    /// Calls the API and checks the status; the JSON answer (null when empty).
    async fn call(
        &self,
        verb: &str,
        route: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let mut request = self
            .app
            .client
            .request(verb.parse().unwrap(), self.app.url(route));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, text) = self.send(request).await;
        assert_eq!(status, expected, "{verb} {route}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn login(&self, email: &str, password: &str, expected: StatusCode) -> String {
        let session = self
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"email": email, "password": password})),
                expected,
            )
            .await;
        session["token"].as_str().unwrap_or_default().to_owned()
    }

    /// POSTs a provider's form-encoded webhook delivery.
    async fn webhook(
        &self,
        route: &str,
        fields: &[(&str, &str)],
        signature: Option<&str>,
    ) -> StatusCode {
        let mut request = self.app.client.post(self.app.url(route)).form(fields);
        if let Some(signature) = signature {
            request = request.header("x-twilio-signature", signature);
        }
        self.send(request).await.0
    }
}

#[tokio::test]
async fn no_secret_reaches_a_response_a_log_line_or_the_database() {
    let app = spawn_app_with(AppOptions {
        generate_admin_password: true,
        ..AppOptions::default()
    })
    .await;
    let client = Recorder {
        app: &app,
        seen: RefCell::new(Vec::new()),
    };
    let (first_password, second_password, wrong_password) = (
        distinctive("pw-first"),
        distinctive("pw-second"),
        distinctive("pw-wrong"),
    );
    let (api_key, wrong_api_key) = (distinctive("cs-key"), distinctive("cs-key-wrong"));
    let (auth_token, wrong_auth_token) = (distinctive("tw-token"), distinctive("tw-token-wrong"));
    let malformed_auth_token = format!("{} {}", distinctive("tw-token-bad"), "tail");
    let needles = [
        Needle::new("the bootstrap password", &app.admin_password),
        Needle::new("a user's first password", &first_password),
        Needle::new("a user's second password", &second_password),
        Needle::new("a wrong password", &wrong_password),
        Needle::new("the ClickSend API key", &api_key),
        Needle::new("a wrong ClickSend API key", &wrong_api_key),
        Needle::new("the Twilio auth token", &auth_token),
        Needle::new("a wrong Twilio auth token", &wrong_auth_token),
        Needle::new("a malformed Twilio auth token", &malformed_auth_token),
    ];
    fake_providers(&app, &api_key, &auth_token).await;

    // Sessions and users.
    let admin = client
        .login(&app.admin_email, &app.admin_password, StatusCode::OK)
        .await;
    client
        .login(&app.admin_email, &wrong_password, StatusCode::UNAUTHORIZED)
        .await;
    let user = client
        .call(
            "POST",
            "/users",
            Some(&admin),
            Some(
                json!({"email": "rita@acme.test", "password": first_password,
                        "first_name": "Rita", "last_name": "Cruz", "role": "recruiter"}),
            ),
            StatusCode::CREATED,
        )
        .await;
    client
        .login("rita@acme.test", &first_password, StatusCode::OK)
        .await;
    client
        .call(
            "PATCH",
            &format!("/users/{}", user["id"].as_str().unwrap()),
            Some(&admin),
            Some(json!({"password": second_password})),
            StatusCode::OK,
        )
        .await;
    client
        .login("rita@acme.test", &first_password, StatusCode::UNAUTHORIZED)
        .await;
    let recruiter = client
        .login("rita@acme.test", &second_password, StatusCode::OK)
        .await;

    // ClickSend: the key pasted into the wrong panel, a wrong key, then the right one.
    let admin = admin.as_str();
    client
        .call(
            "PUT",
            "/integrations/clicksend",
            Some(admin),
            Some(json!({"active": true, "phone_number": CLICKSEND_NUMBER,
                        "username": CLICKSEND_USERNAME, "api_key": api_key})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    client
        .call(
            "PUT",
            "/integrations/clicksend",
            Some(admin),
            Some(json!({"active": true, "phone_number": CLICKSEND_NUMBER,
                        "username": CLICKSEND_USERNAME})),
            StatusCode::OK,
        )
        .await;
    set_secret(
        &client,
        admin,
        "clicksend/api-key",
        "api_key",
        &wrong_api_key,
    )
    .await;
    let refused = verify(&client, admin, "clicksend").await;
    assert_eq!(refused["verified"], false, "{refused}");
    set_secret(&client, admin, "clicksend/api-key", "api_key", &api_key).await;
    let verified = verify(&client, admin, "clicksend").await;
    assert_eq!(verified["verified"], true, "{verified}");
    provider_chores(&client, admin, "clicksend").await;
    let clicksend_card = client
        .call(
            "GET",
            "/integrations/clicksend",
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await;

    // Sending through ClickSend, one and many, and its webhooks.
    let candidates = candidates(&client, admin).await;
    let single = client
        .call(
            "POST",
            "/sms/messages",
            Some(&recruiter),
            Some(json!({"candidate_id": candidates[0], "body": "Hi {{candidate.first_name}}"})),
            StatusCode::ACCEPTED,
        )
        .await;
    let bulk = client
        .call(
            "POST",
            "/sms/bulk",
            Some(admin),
            Some(json!({"candidate_ids": candidates, "body": "Open day on Friday"})),
            StatusCode::ACCEPTED,
        )
        .await;
    assert_eq!(bulk["accepted"], 3);
    app.drain_at(Utc::now()).await;
    let single_id = single["id"].as_str().unwrap();
    let sent = client
        .call(
            "GET",
            &format!("/sms/messages/{single_id}"),
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let receipts = path_of(&app, &clicksend_card["webhooks"]["delivery_receipt_url"]);
    let status = client
        .webhook(
            &receipts,
            &[
                ("message_id", sent["provider_message_id"].as_str().unwrap()),
                ("status_code", "201"),
                ("status_text", "Success: Message received on handset."),
                ("custom_string", single_id),
            ],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let inbound = path_of(&app, &clicksend_card["webhooks"]["inbound_url"]);
    let reply = client
        .send(app.client.post(app.url(&inbound)).json(&json!({
            "from": "+61410000002", "to": CLICKSEND_NUMBER, "body": "Yes please",
            "message": "Yes please", "message_id": "1F0F0F0F-0000-0000-0000-000000000001",
            "timestamp": 1764200000, "custom_string": ""
        })))
        .await;
    assert_eq!(reply.0, StatusCode::OK, "{}", reply.1);

    // Twilio: a malformed token, a wrong one, then the right one; it becomes the sender.
    client
        .call(
            "PUT",
            "/integrations/twilio",
            Some(admin),
            Some(json!({"active": true, "phone_number": TWILIO_NUMBER, "account_sid": TWILIO_SID})),
            StatusCode::OK,
        )
        .await;
    client
        .call(
            "PUT",
            "/integrations/twilio/auth-token",
            Some(admin),
            Some(json!({"auth_token": malformed_auth_token})),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    set_secret(
        &client,
        admin,
        "twilio/auth-token",
        "auth_token",
        &wrong_auth_token,
    )
    .await;
    let refused = verify(&client, admin, "twilio").await;
    assert_eq!(refused["verified"], false, "{refused}");
    set_secret(
        &client,
        admin,
        "twilio/auth-token",
        "auth_token",
        &auth_token,
    )
    .await;
    let verified = verify(&client, admin, "twilio").await;
    assert_eq!(verified["verified"], true, "{verified}");
    provider_chores(&client, admin, "twilio").await;
    let twilio_card = client
        .call(
            "GET",
            "/integrations/twilio",
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await;
    let queued = client
        .call(
            "POST",
            "/sms/messages",
            Some(admin),
            Some(json!({"candidate_id": candidates[2], "body": "Through Twilio"})),
            StatusCode::ACCEPTED,
        )
        .await;
    app.drain_at(Utc::now()).await;
    let status_route = path_of(&app, &twilio_card["webhooks"]["status_url"]);
    let callback = [
        ("MessageSid", TWILIO_MESSAGE_SID),
        ("AccountSid", TWILIO_SID),
        ("From", TWILIO_NUMBER),
        ("To", "+61410000003"),
        ("MessageStatus", "delivered"),
    ];
    let signature = twilio_signature(&app, &auth_token, &status_route, &callback);
    let status = client
        .webhook(&status_route, &callback, Some(&signature))
        .await;
    assert_eq!(status, StatusCode::OK);
    let delivered = client
        .call(
            "GET",
            &format!("/sms/messages/{}", queued["id"].as_str().unwrap()),
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await;
    assert_eq!(delivered["status"], "delivered", "{delivered}");
    let inbound = path_of(&app, &twilio_card["webhooks"]["inbound_url"]);
    let reply = [
        ("MessageSid", "SM7e9000000000000000000000000000e9"),
        ("AccountSid", TWILIO_SID),
        ("From", "+61410000003"),
        ("To", TWILIO_NUMBER),
        ("Body", "See you then"),
    ];
    let signature = twilio_signature(&app, &auth_token, &inbound, &reply);
    assert_eq!(
        client.webhook(&inbound, &reply, Some(&signature)).await,
        StatusCode::OK
    );
    let forged = twilio_signature(&app, &wrong_auth_token, &inbound, &reply);
    assert_eq!(
        client.webhook(&inbound, &reply, Some(&forged)).await,
        StatusCode::FORBIDDEN
    );

    // Everything an admin reads back.
    for route in [
        "/integrations",
        "/integrations/clicksend",
        "/integrations/twilio",
        "/audit-log",
        "/users",
        "/sms/threads",
        "/me",
    ] {
        client
            .call("GET", route, Some(admin), None, StatusCode::OK)
            .await;
    }
    client
        .call(
            "GET",
            &format!("/sms/batches/{}", bulk["batch_id"].as_str().unwrap()),
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await;
    let (status, metrics) = client.send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(metrics.contains("nextal_http_requests_total"));

    let scanned = scan(&app, &client, &needles).await;

    assert!(
        scanned.found.is_empty(),
        "secrets leaked:\n{}",
        scanned.found.join("\n")
    );
    // The scan read this test's material, not nothing.
    let organization = app.organization_id(admin).await;
    assert!(
        scanned.responses.len() > 40,
        "{} responses",
        scanned.responses.len()
    );
    assert!(
        scanned
            .responses
            .iter()
            .any(|r| r.contains("\"api_key_set\":true"))
    );
    assert!(
        scanned.logs.contains(&organization)
            && scanned.logs.contains("integration secret replaced")
    );
    assert!(
        scanned
            .cells
            .iter()
            .any(|(table, cell)| table == "sms_messages" && cell == b"Open day on Friday")
    );
    assert!(
        app.clicksend
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|request| request.url.path() == "/v3/sms/send"),
        "ClickSend was used with the key"
    );

    // And it would see a secret that got out, in each place it looks.
    let planted = distinctive("planted");
    let (status, _) = client
        .send(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", &planted),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let basic = STANDARD.encode(format!("{CLICKSEND_USERNAME}:{planted}"));
    app.execute_sql(&format!(
        "UPDATE candidates SET last_name = '{basic}' WHERE id = '{}'",
        candidates[0]
    ))
    .await;
    let bytes = if backend_name() == "postgres" {
        format!("decode('{}', 'hex')", hex(planted.as_bytes()))
    } else {
        format!("X'{}'", hex(planted.as_bytes()))
    };
    app.execute_sql(&format!(
        "UPDATE integrations SET secret = {bytes} WHERE provider = 'clicksend'"
    ))
    .await;
    let found = scan(&app, &client, &[Needle::new("planted", &planted)])
        .await
        .found;
    for place in [
        "response",
        "the logs",
        "table candidates",
        "table integrations",
    ] {
        assert!(
            found
                .iter()
                .any(|finding| finding.contains(&format!("planted in {place}"))),
            "the planted value in {place} goes unnoticed: {found:?}"
        );
    }
}

/// Sets a provider secret through its own panel.
async fn set_secret(client: &Recorder<'_>, admin: &str, panel: &str, field: &str, value: &str) {
    client
        .call(
            "PUT",
            &format!("/integrations/{panel}"),
            Some(admin),
            Some(json!({ field: value })),
            StatusCode::OK,
        )
        .await;
}

async fn verify(client: &Recorder<'_>, admin: &str, provider: &str) -> Value {
    client
        .call(
            "POST",
            &format!("/integrations/{provider}/verify"),
            Some(admin),
            None,
            StatusCode::OK,
        )
        .await
}

/// A test SMS, webhook registration and a webhook token rotation.
async fn provider_chores(client: &Recorder<'_>, admin: &str, provider: &str) {
    client
        .call(
            "POST",
            &format!("/integrations/{provider}/test-sms"),
            Some(admin),
            Some(json!({"to": "+61422222222"})),
            StatusCode::OK,
        )
        .await;
    for action in ["register-webhooks", "webhook-token"] {
        client
            .call(
                "POST",
                &format!("/integrations/{provider}/{action}"),
                Some(admin),
                None,
                StatusCode::OK,
            )
            .await;
    }
}

/// Three reachable candidates; their ids.
async fn candidates(client: &Recorder<'_>, admin: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (n, name) in ["Ann", "Ben", "Cy"].into_iter().enumerate() {
        let candidate = client
            .call(
                "POST",
                "/candidates",
                Some(admin),
                Some(json!({"first_name": name, "last_name": "Lee",
                            "phone": format!("+6141000000{}", n + 1)})),
                StatusCode::CREATED,
            )
            .await;
        ids.push(candidate["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The path a provider requests (and Twilio signs) for a webhook URL the service gave
/// out: without the fragment of Twilio's connection overrides, which is never sent.
fn path_of(app: &TestApp, url: &Value) -> String {
    let url = url.as_str().unwrap();
    url.split_once('#')
        .map_or(url, |(requested, _)| requested)
        .strip_prefix(app.settings.public_url.trim_end_matches('/'))
        .unwrap()
        .to_owned()
}

/// X-Twilio-Signature as Twilio computes it: HMAC-SHA1 with the auth token over the
/// public URL followed by the fields sorted by name.
fn twilio_signature(
    app: &TestApp,
    auth_token: &str,
    route: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut sorted = fields.to_vec();
    sorted.sort_unstable();
    let mut signed = format!("{}{route}", app.settings.public_url.trim_end_matches('/'));
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).unwrap();
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// ClickSend and Twilio accepting the right credentials only, ClickSend echoing its key
/// in the account answer as the real one does.
async fn fake_providers(app: &TestApp, api_key: &str, auth_token: &str) {
    let basic =
        |user: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{secret}")));
    let ok = |body: Value| ResponseTemplate::new(200).set_body_json(body);
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .and(header("authorization", basic(CLICKSEND_USERNAME, api_key).as_str()))
        .respond_with(ok(json!({
            "http_code": 200, "response_code": "SUCCESS", "response_msg": "ok",
            "data": {"username": CLICKSEND_USERNAME, "account_name": "Acme", "balance": "3.50",
                     "_subaccount": {"api_key": api_key}, "_currency": {"currency_name_short": "AUD"}}
        })))
        .mount(&app.clicksend)
        .await;
    Mock::given(method("GET"))
        .and(path("/v3/account"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "http_code": 401, "response_code": "UNAUTHORIZED", "response_msg": "Invalid credentials"
        })))
        .with_priority(10)
        .mount(&app.clicksend)
        .await;
    Mock::given(method("POST"))
        .and(path("/v3/sms/send"))
        .respond_with(ClickSendAccepts)
        .mount(&app.clicksend)
        .await;
    clicksend_creates_webhook_rules(&app.clicksend).await;

    let account = format!("/2010-04-01/Accounts/{TWILIO_SID}");
    let authorized = basic(TWILIO_SID, auth_token);
    for (verb, route, answer) in [
        (
            "GET",
            format!("{account}.json"),
            ok(json!({"status": "active", "friendly_name": "Acme"})),
        ),
        (
            "GET",
            format!("{account}/Balance.json"),
            ok(json!({"balance": "3.50", "currency": "USD"})),
        ),
        (
            "POST",
            format!("{account}/Messages.json"),
            ResponseTemplate::new(201).set_body_json(
                json!({"sid": TWILIO_MESSAGE_SID, "status": "queued", "num_segments": "1"}),
            ),
        ),
        (
            "GET",
            format!("{account}/IncomingPhoneNumbers.json"),
            ok(json!({"incoming_phone_numbers": [
                {"sid": "PN0123456789abcdef0123456789abcdef", "phone_number": TWILIO_NUMBER}
            ]})),
        ),
        (
            "POST",
            format!("{account}/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json"),
            ok(json!({"sid": "PN0123456789abcdef0123456789abcdef"})),
        ),
    ] {
        Mock::given(method(verb))
            .and(path(route))
            .and(header("authorization", authorized.as_str()))
            .respond_with(answer)
            .mount(&app.twilio)
            .await;
    }
    Mock::given(path_regex("^/2010-04-01/"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        )
        .with_priority(10)
        .mount(&app.twilio)
        .await;
}
