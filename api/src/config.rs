//! Command line and environment configuration of `nextal-sms`.

use std::collections::HashMap;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use nextal_domain::{DailySendCap, ProviderKind};
use secrecy::SecretString;

/// The Nextal SMS service and its operator commands.
#[derive(Parser)]
#[command(name = "nextal-sms", version, about, long_about = None)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The operator commands.
#[derive(Subcommand)]
pub enum Command {
    /// Apply migrations, bootstrap an empty database and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an organization (a tenant) with its first admin. The admin's password is read
    /// from NEXTAL_ADMIN_PASSWORD, or from standard input when that is unset.
    CreateOrg {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// The first admin's sign-in email.
        #[arg(long)]
        admin_email: String,
        /// The admin's password (prefer setting it in the environment, not on the command line).
        #[arg(long, env = "NEXTAL_ADMIN_PASSWORD", hide_env_values = true, value_parser = parse_secret)]
        admin_password: Option<SecretString>,
    },
    /// Re-seal every stored secret under NEXTAL_MASTER_KEY; NEXTAL_PREVIOUS_MASTER_KEYS
    /// must hold the keys that sealed them. Afterwards the previous keys can be dropped.
    RotateMasterKey,
    /// Print the OpenAPI document (the API contract) as JSON.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Settings from flags or the environment (flags win).
#[derive(Args, Clone)]
pub struct Settings {
    /// Database: sqlite://PATH (embedded, the default) or postgres://USER:PASSWORD@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/nextal-sms.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Address and port to listen on.
    #[arg(
        long,
        env = "NEXTAL_BIND",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub bind: String,

    /// The URL at which users and providers reach this service; used in printed links
    /// and webhook URLs.
    #[arg(
        long,
        env = "NEXTAL_PUBLIC_URL",
        default_value = "http://localhost:8080",
        global = true
    )]
    pub public_url: String,

    /// Browser origins allowed to call the API (comma-separated), e.g. https://app.example.com.
    #[arg(
        long,
        env = "NEXTAL_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,

    /// Largest request body accepted, in bytes; larger ones get 413.
    #[arg(
        long,
        env = "NEXTAL_MAX_BODY_BYTES",
        default_value_t = 1_048_576,
        global = true
    )]
    pub max_body_bytes: usize,

    /// How long a sign-in session lasts, in hours.
    #[arg(long, env = "NEXTAL_SESSION_TTL_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=720), global = true)]
    pub session_ttl_hours: u32,

    /// Most database connections this process holds.
    #[arg(
        long,
        env = "NEXTAL_DATABASE_POOL_SIZE",
        default_value_t = 12,
        global = true
    )]
    pub database_pool_size: usize,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "NEXTAL_HTTP_WORKERS", global = true)]
    pub http_workers: Option<usize>,

    /// Log line format.
    #[arg(
        long,
        env = "NEXTAL_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    /// The master key that seals provider secrets at rest: 32 bytes in base64. With
    /// SQLite and no key, one is generated once into `master.key` beside the database.
    #[arg(long, env = "NEXTAL_MASTER_KEY", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub master_key: Option<SecretString>,

    /// Retired master keys (comma-separated base64) that still open old values, for a
    /// rotation with `rotate-master-key`.
    #[arg(long, env = "NEXTAL_PREVIOUS_MASTER_KEYS", hide_env_values = true, value_delimiter = ',', value_parser = parse_secret, global = true)]
    pub previous_master_keys: Vec<SecretString>,

    /// ClickSend's API base URL (tests point it at a local fake).
    #[arg(
        long,
        env = "NEXTAL_CLICKSEND_BASE_URL",
        default_value = "https://rest.clicksend.com",
        global = true
    )]
    pub clicksend_base_url: String,

    /// Twilio's API base URL (tests point it at a local fake).
    #[arg(
        long,
        env = "NEXTAL_TWILIO_BASE_URL",
        default_value = "https://api.twilio.com",
        global = true
    )]
    pub twilio_base_url: String,

    /// How long one provider call may take, in seconds, before it counts as failed.
    #[arg(long, env = "NEXTAL_PROVIDER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120), global = true)]
    pub provider_timeout_secs: u64,

    /// Run the background work in this process: the outbox dispatcher and the
    /// reconciliation with the providers' records (turn off for API-only replicas).
    #[arg(long, env = "NEXTAL_DISPATCHER", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub dispatcher: bool,

    /// Seconds between two reconciliations with the providers' records (replies and
    /// receipts whose webhook never came); one also runs at start-up.
    #[arg(long, env = "NEXTAL_RECONCILE_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub reconcile_interval_secs: u64,

    /// Most messages the dispatcher claims in one round.
    #[arg(long, env = "NEXTAL_DISPATCH_BATCH", default_value_t = 5000, value_parser = clap::value_parser!(i64).range(1..=100_000), global = true)]
    pub dispatch_batch: i64,

    /// Seconds after an unanswered ClickSend hand-over before its history is checked.
    #[arg(
        long,
        env = "NEXTAL_SETTLE_DELAY_SECS",
        default_value_t = 5,
        global = true
    )]
    pub settle_delay_secs: u64,

    /// Webhook writer tasks: each commits a batch of deliveries while the others gather
    /// the next.
    #[arg(long, env = "NEXTAL_WEBHOOK_WRITERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub webhook_writers: u16,

    /// Webhook deliveries that may wait for a writer; beyond that a delivery waits for
    /// room (up to NEXTAL_WEBHOOK_WAIT_SECS).
    #[arg(long, env = "NEXTAL_WEBHOOK_QUEUE", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub webhook_queue: u32,

    /// Seconds a webhook delivery waits for room in a full queue before it is answered
    /// 503 with Retry-After. Keep it below the providers' timeouts (Twilio: 15 s).
    #[arg(long, env = "NEXTAL_WEBHOOK_WAIT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=120), global = true)]
    pub webhook_wait_secs: u64,

    /// Messages an organization may send per calendar day (in its time zone) unless an
    /// admin set its own cap; 0 stops sending.
    #[arg(long, env = "NEXTAL_DAILY_SEND_CAP", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(0..=i64::from(DailySendCap::MAX)), global = true)]
    pub daily_send_cap: u32,

    /// Webhook deliveries each integration's URL takes per second, on average; more are
    /// answered 429. Providers do not resend a refused reply: keep it far above real
    /// traffic (a slow database slows deliveries down instead, see NEXTAL_WEBHOOK_WAIT_SECS).
    #[arg(long, env = "NEXTAL_WEBHOOK_RATE_PER_SEC", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub webhook_rate_per_sec: u32,

    /// Webhook deliveries an integration's URL takes at once above its rate.
    #[arg(long, env = "NEXTAL_WEBHOOK_BURST", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub webhook_burst: u32,

    /// Webhook requests per minute, per client address, that may fail authentication
    /// (unknown token, bad Twilio signature) on average; beyond that the address gets 429.
    #[arg(long, env = "NEXTAL_WEBHOOK_FAILURES_PER_MIN", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub webhook_failures_per_min: u32,

    /// Failed webhook authentications a client address may make at once.
    #[arg(long, env = "NEXTAL_WEBHOOK_FAILURE_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub webhook_failure_burst: u32,

    /// Name of the organization created on first start with an empty database.
    #[arg(
        long,
        env = "NEXTAL_BOOTSTRAP_ORGANIZATION_NAME",
        default_value = "My organization",
        global = true
    )]
    pub bootstrap_organization_name: String,

    /// Email of the admin created on first start (default admin@localhost).
    #[arg(long, env = "NEXTAL_BOOTSTRAP_ADMIN_EMAIL", global = true)]
    pub bootstrap_admin_email: Option<String>,

    /// Password of the admin created on first start; when unset a random one is printed once.
    #[arg(long, env = "NEXTAL_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true, value_parser = parse_secret, global = true)]
    pub bootstrap_admin_password: Option<SecretString>,
}

impl Settings {
    /// Each provider's API base URL, from its own variable.
    pub fn provider_base_urls(&self) -> HashMap<ProviderKind, String> {
        HashMap::from([
            (ProviderKind::ClickSend, self.clicksend_base_url.clone()),
            (ProviderKind::Twilio, self.twilio_base_url.clone()),
        ])
    }

    /// Settings as if no flag were given (environment variables still apply).
    pub fn defaults() -> Self {
        Cli::parse_from(["nextal-sms"]).settings
    }

    /// The time between two reconciliation rounds.
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.reconcile_interval_secs)
    }

    /// The provider call timeout.
    pub fn provider_timeout(&self) -> Duration {
        Duration::from_secs(self.provider_timeout_secs)
    }

    /// How long a webhook delivery waits for room in a full queue.
    pub fn webhook_wait(&self) -> Duration {
        Duration::from_secs(self.webhook_wait_secs)
    }

    /// The session lifetime.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_ttl_hours) * 3600)
    }
}

fn parse_secret(raw: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default() {
        let cli = Cli::parse_from(["nextal-sms", "--bind", "0.0.0.0:9000"]);
        assert!(cli.command.is_none());
        assert_eq!(cli.settings.bind, "0.0.0.0:9000");
    }
}
