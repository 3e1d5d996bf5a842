//! The black-box test harness: each test gets its own database (a SQLite file, or a
//! fresh PostgreSQL database when `NEXTAL_TEST_DATABASE_URL` is set, dropped at the
//! end) and its own server on a free port, driven over real HTTP.

use chrono::{DateTime, Utc};
use clap::Parser;
use diesel_async::RunQueryDsl;
use nextal_api::Application;
use nextal_api::dispatcher::{DispatchReport, Dispatcher};
use nextal_api::reconcile::{ReconcileReport, Reconciler};
use nextal_persistence::repo::candidates::{self, Candidate};
pub mod fakes;

use std::sync::{Arc, Mutex, OnceLock};

use nextal_api::config::{Cli, LogFormat, Settings};
use nextal_persistence::{DatabaseUrl, Db, DbConn, PoolOptions};
use reqwest::{Response, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wiremock::MockServer;

/// The password of every admin the harness creates.
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// Names the backend of a run, for messages.
pub fn backend_name() -> &'static str {
    if postgres_server_url().is_some() {
        "postgres"
    } else {
        "sqlite"
    }
}

fn postgres_server_url() -> Option<String> {
    std::env::var("NEXTAL_TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A database that exists for one test.
pub enum TestDatabase {
    /// A SQLite file in a temporary folder, removed with it.
    Sqlite {
        folder: tempfile::TempDir,
        url: String,
    },
    /// A PostgreSQL database created for the test and dropped after it.
    Postgres {
        server_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    /// Creates an empty database on the backend this run targets.
    pub async fn create() -> Self {
        Self::create_on(postgres_server_url()).await
    }

    /// Creates an empty database on the PostgreSQL server at `server_url`, or in a
    /// SQLite file when there is none.
    pub async fn create_on(server_url: Option<String>) -> Self {
        match server_url {
            None => {
                let folder = tempfile::tempdir().expect("a temporary folder");
                let url = format!("sqlite://{}", folder.path().join("nextal-sms.db").display());
                TestDatabase::Sqlite { folder, url }
            }
            Some(server_url) => {
                let name = format!("nextal_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = admin_connection(&server_url).await;
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .await
                    .expect("creating the test database");
                let url = with_database(&server_url, &name);
                TestDatabase::Postgres {
                    server_url,
                    name,
                    url,
                }
            }
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        match self {
            TestDatabase::Sqlite { url, .. } | TestDatabase::Postgres { url, .. } => url,
        }
    }

    /// Where the SQLite file lives (none for PostgreSQL).
    pub fn sqlite_folder(&self) -> Option<&std::path::Path> {
        match self {
            TestDatabase::Sqlite { folder, .. } => Some(folder.path()),
            TestDatabase::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres {
            server_url, name, ..
        } = self
        {
            let server_url = server_url.clone();
            let statement = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            // Drop runs inside the test's runtime, which cannot block on itself.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                runtime.block_on(async {
                    let mut admin = admin_connection(&server_url).await;
                    diesel::sql_query(statement).execute(&mut admin).await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(_))) {
                eprintln!("could not drop test database {name}");
            }
        }
    }
}

async fn admin_connection(server_url: &str) -> diesel_async::AsyncPgConnection {
    use diesel_async::AsyncConnection;
    diesel_async::AsyncPgConnection::establish(server_url)
        .await
        .unwrap_or_else(|error| {
            panic!("PostgreSQL at NEXTAL_TEST_DATABASE_URL is unreachable: {error}")
        })
}

/// `server_url` with its database name replaced by `name`.
fn with_database(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(index) => &base[..scheme_end + index],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{name}?{query}"),
        None => format!("{host_part}/{name}"),
    }
}

/// Every log line the services of this test process wrote, as JSON lines.
static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the logs of every service this process starts (once per process).
fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(buffer.clone());
        nextal_api::telemetry::init(LogFormat::Json, move || writer.clone());
        buffer
    });
}

/// Everything logged so far by services in this test process.
pub fn captured_logs() -> String {
    LOGS.get()
        .map(|buffer| {
            String::from_utf8_lossy(
                &buffer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
            .into_owned()
        })
        .unwrap_or_default()
}

/// A fresh random master key, base64.
pub fn random_master_key() -> String {
    base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        rand::random::<[u8; 32]>(),
    )
}

/// Options for spawning the service.
#[derive(Default)]
pub struct AppOptions {
    /// Leave NEXTAL_BOOTSTRAP_ADMIN_PASSWORD unset so that one is generated.
    pub generate_admin_password: bool,
    /// Override NEXTAL_MAX_BODY_BYTES.
    pub max_body_bytes: Option<usize>,
    /// Override NEXTAL_PROVIDER_TIMEOUT_SECS.
    pub provider_timeout_secs: Option<u64>,
    /// Override NEXTAL_DISPATCH_BATCH.
    pub dispatch_batch: Option<i64>,
    /// Run the dispatcher in the background, as in production (tests otherwise run
    /// rounds themselves).
    pub background_dispatcher: bool,
    /// Changes any other setting, after the harness has made its own.
    pub configure: Option<fn(&mut Settings)>,
}

/// A running service and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client that keeps no cookies and follows no redirects.
    pub client: reqwest::Client,
    /// Direct access to the service's database, for arranging and inspecting state.
    pub db: Db,
    /// The bootstrap admin's email.
    pub admin_email: String,
    /// The bootstrap admin's password (generated or [`ADMIN_PASSWORD`]).
    pub admin_password: String,
    /// Keeps the database alive for the test.
    pub database: TestDatabase,
    /// The fake ClickSend API the service is pointed at.
    pub clicksend: MockServer,
    /// The fake Twilio API the service is pointed at.
    pub twilio: MockServer,
    /// The service's NEXTAL_MASTER_KEY.
    pub master_key: String,
    /// The settings the service was started with.
    pub settings: Settings,
    /// The service's outbox dispatcher; tests run its rounds at chosen times.
    pub dispatcher: Dispatcher,
    /// The service's reconciliation with the providers' records; tests run its rounds
    /// at chosen times.
    pub reconciler: Reconciler,
    /// The clock the service decides sends at; `clock.set(at)` makes it `at` there.
    pub clock: nextal_api::Clock,
}

/// Starts the service on a new, empty database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

/// Starts the service on a new, empty database with `options`.
pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    capture_logs();
    let database = TestDatabase::create().await;
    let (clicksend, twilio) = (MockServer::start().await, MockServer::start().await);
    let mut settings = settings_for(database.url());
    let master_key = settings
        .master_key
        .as_ref()
        .map(|key| key.expose_secret().to_owned())
        .unwrap_or_default();
    settings.clicksend_base_url = clicksend.uri();
    settings.twilio_base_url = twilio.uri();
    if let Some(timeout) = options.provider_timeout_secs {
        settings.provider_timeout_secs = timeout;
    }
    if let Some(batch) = options.dispatch_batch {
        settings.dispatch_batch = batch;
    }
    settings.dispatcher = options.background_dispatcher;
    if !options.generate_admin_password {
        settings.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    }
    if let Some(limit) = options.max_body_bytes {
        settings.max_body_bytes = limit;
    }
    settings.bootstrap_admin_email = Some("admin@acme.test".to_owned());
    if let Some(configure) = options.configure {
        configure(&mut settings);
    }
    let application = Application::build(&settings)
        .await
        .expect("the service starts");
    let admin_password = application
        .bootstrap_admin()
        .and_then(|admin| admin.generated_password.clone())
        .unwrap_or_else(|| ADMIN_PASSWORD.to_owned());
    let address = format!("http://127.0.0.1:{}", application.port());
    let dispatcher = application.dispatcher();
    let reconciler = application.reconciler();
    let clock = application.clock();
    tokio::spawn(application.run_until_stopped());
    let db = Db::open(
        &DatabaseUrl::parse(database.url()).expect("a valid url"),
        PoolOptions {
            max_connections: 2,
            ..PoolOptions::default()
        },
    )
    .expect("a pool");
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // actix closes a keep-alive connection after 5 idle seconds; a test slowed
            // down by a busy machine must not send its next request on one the server
            // is closing at that moment (hyper's `IncompleteMessage`).
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("a client"),
        db,
        admin_email: "admin@acme.test".to_owned(),
        admin_password,
        database,
        clicksend,
        twilio,
        master_key,
        settings,
        dispatcher,
        reconciler,
        clock,
    }
}

/// Settings for a test server on `database_url`: a free port, one worker, small pool.
pub fn settings_for(database_url: &str) -> Settings {
    let mut settings = Settings::defaults();
    settings.database_url = database_url.to_owned();
    settings.bind = "127.0.0.1:0".to_owned();
    settings.http_workers = Some(1);
    settings.database_pool_size = 4;
    settings.bootstrap_admin_email = None;
    settings.bootstrap_admin_password = None;
    settings.master_key = Some(random_master_key().into());
    // Tests run dispatch rounds themselves, at the times they choose.
    settings.dispatcher = false;
    settings
}

impl TestApp {
    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs `body` as JSON, with `token` when given.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send(self.client.post(self.url(path)).json(body), token)
            .await
    }

    /// PATCHes `body` as JSON.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send(self.client.patch(self.url(path)).json(body), token)
            .await
    }

    /// PUTs `body` as JSON.
    pub async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send(self.client.put(self.url(path)).json(body), token)
            .await
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.send(self.client.get(self.url(path)), token).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: Option<&str>) -> Response {
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        request.send().await.expect("the service answers")
    }

    /// Signs in and returns the raw response.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/auth/login",
            None,
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in as `email` and returns the token.
    pub async fn token_for(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), StatusCode::OK, "signing in as {email}");
        let body: Value = response.json().await.expect("a JSON body");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// The bootstrap admin's token.
    pub async fn admin_token(&self) -> String {
        self.token_for(&self.admin_email, &self.admin_password)
            .await
    }

    /// Creates a user with `role` through the API and returns (id, token).
    pub async fn create_user(
        &self,
        admin_token: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let response = self
            .post(
                "/users",
                Some(admin_token),
                &json!({
                    "email": email,
                    "password": ADMIN_PASSWORD,
                    "first_name": "Rita",
                    "last_name": "Cruz",
                    "role": role
                }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "creating {email}");
        let user: Value = response.json().await.expect("a JSON body");
        let id = user["id"].as_str().expect("an id").to_owned();
        (id, self.token_for(email, ADMIN_PASSWORD).await)
    }

    /// Creates another organization with the `create-org` command and returns its
    /// admin's token.
    pub async fn create_other_organization(&self, name: &str, admin_email: &str) -> String {
        let cli = Cli::parse_from([
            "nextal-sms",
            "--database-url",
            self.database.url(),
            "create-org",
            "--name",
            name,
            "--admin-email",
            admin_email,
            "--admin-password",
            ADMIN_PASSWORD,
        ]);
        nextal_api::commands::run(cli)
            .await
            .expect("create-org succeeds");
        self.token_for(admin_email, ADMIN_PASSWORD).await
    }

    /// One dispatch round at `now`.
    pub async fn dispatch_at(&self, now: DateTime<Utc>) -> DispatchReport {
        self.dispatcher
            .run_once(now)
            .await
            .expect("the dispatch round runs")
    }

    /// Writes accepted bulk sends' messages, as the outbox does right after a bulk send
    /// (every dispatch round does it too); how many it wrote.
    pub async fn write_bulk_messages(&self) -> usize {
        self.dispatcher
            .write_waiting_chunks()
            .await
            .expect("the bulk messages are written")
    }

    /// One reconciliation round at `now`.
    pub async fn reconcile_at(&self, now: DateTime<Utc>) -> ReconcileReport {
        self.reconciler
            .run_once(now)
            .await
            .expect("the reconciliation round runs")
    }

    /// Dispatch rounds at `now` until one claims and settles nothing; the sum of them.
    pub async fn drain_at(&self, now: DateTime<Utc>) -> DispatchReport {
        let mut total = DispatchReport::default();
        loop {
            let round = self.dispatch_at(now).await;
            total.claimed += round.claimed;
            total.sent += round.sent;
            total.failed += round.failed;
            total.retried += round.retried;
            total.in_doubt += round.in_doubt;
            total.settled += round.settled;
            total.cancelled += round.cancelled;
            total.provider_requests += round.provider_requests;
            if round.claimed == 0 && round.settled == 0 {
                return total;
            }
        }
    }

    /// The caller's organization id.
    pub async fn organization_id(&self, token: &str) -> String {
        let organization: Value = self
            .get("/organization", Some(token))
            .await
            .json()
            .await
            .expect("JSON");
        organization["id"].as_str().expect("an id").to_owned()
    }

    /// Stores candidates straight in the database (faster than the API for thousands).
    pub async fn insert_candidates(
        &self,
        organization_id: &str,
        candidates: Vec<NewCandidate>,
    ) -> Vec<String> {
        let now = Utc::now().naive_utc();
        let rows: Vec<Candidate> = candidates
            .into_iter()
            .map(|candidate| Candidate {
                id: uuid::Uuid::now_v7().to_string(),
                organization_id: organization_id.to_owned(),
                job_id: None,
                stage: None,
                first_name: candidate.first_name,
                last_name: "Tester".to_owned(),
                phone: candidate.phone,
                email: None,
                sms_opted_out: candidate.opted_out,
                created_at: now,
                updated_at: now,
                not_mobile_phone: None,
            })
            .collect();
        let mut tx = self.db.begin().await.expect("a transaction");
        for row in &rows {
            candidates::insert(&mut tx, row)
                .await
                .expect("the candidate is stored");
        }
        tx.commit().await.expect("committed");
        rows.into_iter().map(|row| row.id).collect()
    }

    /// The number a `SELECT COUNT(*) AS n …` query returns.
    pub async fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.conn().await.expect("a connection");
        let query = diesel::sql_query(sql);
        let row: Count = match &mut conn {
            DbConn::Postgres(object) => query.get_result(&mut **object).await,
            DbConn::Sqlite(object) => query.get_result(&mut **object).await,
        }
        .expect("the count runs");
        row.n
    }

    /// `GET path` as `token`, which must answer 200: its JSON body.
    pub async fn get_json(&self, path: &str, token: &str) -> Value {
        let response = self.get(path, Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// Makes the database refuse, as a constraint would, every row inserted into `table`
    /// for which `condition` (SQL over `NEW`, read alike by both backends) holds.
    pub async fn refuse_inserts(&self, table: &str, condition: &str) {
        if backend_name() == "postgres" {
            self.execute_sql(&format!(
                "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF {condition} THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$"
            ))
            .await;
            self.execute_sql(&format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"
            ))
            .await;
        } else {
            self.execute_sql(&format!(
                "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} \
                 WHEN {condition} BEGIN SELECT RAISE(ABORT, 'refused'); END"
            ))
            .await;
        }
    }

    /// Ends [`TestApp::refuse_inserts`] on `table`.
    pub async fn accept_inserts(&self, table: &str) {
        let on = if backend_name() == "postgres" {
            format!(" ON {table}")
        } else {
            String::new()
        };
        self.execute_sql(&format!("DROP TRIGGER refuse_{table}{on}"))
            .await;
    }

    /// Runs one SQL statement against the service's database.
    pub async fn execute_sql(&self, sql: &str) -> usize {
        let mut conn = self.db.conn().await.expect("a connection");
        let query = diesel::sql_query(sql);
        match &mut conn {
            DbConn::Postgres(object) => query.execute(&mut **object).await,
            DbConn::Sqlite(object) => query.execute(&mut **object).await,
        }
        .expect("the statement runs")
    }
}

/// A candidate for [`TestApp::insert_candidates`].
pub struct NewCandidate {
    pub first_name: String,
    pub phone: Option<String>,
    pub opted_out: bool,
}

impl NewCandidate {
    /// A reachable candidate.
    pub fn new(first_name: &str, phone: &str) -> Self {
        Self {
            first_name: first_name.to_owned(),
            phone: Some(phone.to_owned()),
            opted_out: false,
        }
    }
}

/// Reads a problem+json body, checking the media type and the status it repeats.
pub async fn problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("https://"))
    );
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn test_database_urls_replace_only_the_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(with_database("postgres://u@h", "t1"), "postgres://u@h/t1");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
    }
}
