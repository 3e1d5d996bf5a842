//! The service as its own process, so that its own peak memory and CPU time can be read:
//! the bench binary starts itself again with `NEXTAL_BENCH_ROLE=server`, and that copy
//! runs the service as `nextal-sms serve` does. Shared by the benches through `#[path]`.

#![allow(dead_code, reason = "each bench uses a part of this module")]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use nextal_api::Application;
use nextal_api::config::Cli;
use nextal_tests::{ADMIN_PASSWORD, random_master_key};
use serde_json::{Value, json};

/// The bootstrap admin the benches sign in as.
pub const ADMIN_EMAIL: &str = "admin@bench.test";
/// Marks the server process.
const ROLE_VARIABLE: &str = "NEXTAL_BENCH_ROLE";
/// The settings [`Service::start`] always sets, and the test harness's own variable.
const SET_HERE: &[&str] = &[
    "NEXTAL_TEST_DATABASE_URL",
    "NEXTAL_BIND",
    "NEXTAL_PUBLIC_URL",
    "NEXTAL_BOOTSTRAP_ADMIN_EMAIL",
    "NEXTAL_BOOTSTRAP_ADMIN_PASSWORD",
    "NEXTAL_MASTER_KEY",
];

/// Runs the service when this process was started as the server; returns whether it was
/// (the bench's `main` then returns).
pub fn serve_if_server() -> bool {
    if std::env::var(ROLE_VARIABLE).as_deref() != Ok("server") {
        return false;
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(async {
            let settings = Cli::parse_from(["nextal-sms"]).settings;
            nextal_api::telemetry::init(settings.log_format, std::io::stderr);
            let application = Application::build(&settings)
                .await
                .expect("the service starts");
            application
                .run_until_stopped()
                .await
                .expect("the service runs");
        });
    true
}

/// The service process on a free local port; killed when dropped. Other `NEXTAL_*`
/// variables in the bench's environment pass through to it.
pub struct Service {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

impl Service {
    /// Starts the service on `database_url` with the bootstrap admin, a fresh master key
    /// and `settings` besides; `RUST_LOG` is `BENCH_SERVICE_LOG`, else `warn`.
    pub fn start(database_url: &str, settings: &[(&str, String)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let mut command = Command::new(std::env::current_exe().expect("the bench binary"));
        command
            .env(ROLE_VARIABLE, "server")
            .env("DATABASE_URL", database_url)
            .env("NEXTAL_BIND", format!("127.0.0.1:{port}"))
            .env("NEXTAL_PUBLIC_URL", &base)
            .env("NEXTAL_BOOTSTRAP_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("NEXTAL_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("NEXTAL_MASTER_KEY", random_master_key())
            .env(
                "RUST_LOG",
                std::env::var("BENCH_SERVICE_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .envs(settings.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command.spawn().expect("the service process starts");
        Self { child, port, base }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to two minutes for `/readyz`.
    pub async fn wait_until_ready(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", self.base)).send().await
                && response.status().is_success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the service (pid {}) did not become ready",
                self.pid()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The API as the bootstrap admin, signed in.
    pub async fn api(&self, client: &reqwest::Client) -> Api {
        Api {
            token: self.login(client).await,
            client: client.clone(),
            base: self.base.clone(),
        }
    }

    /// Signs in as the bootstrap admin; the bearer token.
    async fn login(&self, client: &reqwest::Client) -> String {
        let response = client
            .post(format!("{}/auth/login", self.base))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
            .send()
            .await
            .expect("the service answers");
        assert!(response.status().is_success(), "signing in");
        let body: Value = response.json().await.expect("JSON");
        body["token"].as_str().expect("a token").to_owned()
    }
}

/// The service's API, signed in as the admin.
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    /// Calls `path`, asserts a 2xx answer and returns its JSON.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the service answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).expect("JSON")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `NEXTAL_*` settings the service inherits from the bench's environment (not those
/// the bench sets: always, or `also_set`), secrets hidden.
pub fn passed_through(also_set: &[&str]) -> String {
    let set: Vec<String> = std::env::vars()
        .filter(|(name, _)| {
            name.starts_with("NEXTAL_")
                && !SET_HERE.contains(&name.as_str())
                && !also_set.contains(&name.as_str())
        })
        .map(|(name, value)| {
            if name.contains("KEY") || name.contains("PASSWORD") {
                format!("{name}=(hidden)")
            } else {
                format!("{name}={value}")
            }
        })
        .collect();
    if set.is_empty() {
        "defaults".to_owned()
    } else {
        format!("defaults, plus {}", set.join(" "))
    }
}
