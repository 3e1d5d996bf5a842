//! Building and running the HTTP server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::web::{self, Data, PayloadConfig};
use actix_web::{App, HttpResponse, HttpServer, http::header};
use anyhow::Context;
use nextal_domain::{DailySendCap, EmailAddress, NewPassword, OrganizationName};
use nextal_persistence::{DatabaseUrl, Db, PoolOptions};
use nextal_providers::ClientOptions;
use secrecy::ExposeSecret;
use utoipa_actix_web::AppExt;

use crate::clock::Clock;
use crate::config::Settings;
use crate::dispatcher::Dispatcher;
use crate::error::{ApiError, problem_for_foreign_errors};
use crate::events::EventBus;
use crate::ingest::{Ingest, Writers};
use crate::keys::load_keyring;
use crate::metrics::Metrics;
use crate::outbox::{DispatchSettings, HandoverGates};
use crate::passwords::Passwords;
use crate::reconcile::Reconciler;
use crate::request_context::{REQUEST_ID, request_context};
use crate::routes;
use crate::services::bootstrap::{self, BootstrapAdmin};
use crate::state::{AppState, ProviderEndpoints};
use crate::webhooks::{self, TokenCache, WebhookLimits, WebhookQuotas};

/// The bootstrap admin's email when none is configured.
const DEFAULT_BOOTSTRAP_EMAIL: &str = "admin@localhost";

/// A migrated database, a bootstrapped first organization and a bound listener, ready
/// to serve.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    bootstrap_admin: Option<BootstrapAdmin>,
    dispatcher: Dispatcher,
    reconciler: Reconciler,
    clock: Clock,
}

impl Application {
    /// Migrates, bootstraps an empty database and binds `settings.bind` (port 0 picks a
    /// free port).
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let url = DatabaseUrl::parse(&settings.database_url)?;
        let keyring = Arc::new(load_keyring(settings, &url)?);
        let applied = Db::migrate(&url).await?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied database migrations");
        }
        let db = Db::open(
            &url,
            PoolOptions {
                max_connections: settings.database_pool_size,
                ..PoolOptions::default()
            },
        )?;
        let events = EventBus::new(db.backend());
        if let DatabaseUrl::Postgres(url) = &url {
            events.listen(url.clone());
        }
        let metrics = Arc::new(Metrics::new());
        let ingest = Ingest::start(
            Writers {
                db: db.clone(),
                events: events.clone(),
                metrics: metrics.clone(),
            },
            usize::from(settings.webhook_writers),
            usize::try_from(settings.webhook_queue).unwrap_or(usize::MAX),
            settings.webhook_wait(),
        );
        let passwords = Passwords::new()?;
        let bootstrap_admin = bootstrap_first_organization(&db, &passwords, settings).await?;

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let state = Data::new(AppState {
            db,
            passwords,
            metrics,
            max_body_bytes: settings.max_body_bytes,
            session_ttl: settings.session_ttl(),
            keyring,
            providers: ProviderEndpoints {
                http: reqwest::Client::builder()
                    .user_agent(concat!("nextal-sms/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .context("building the provider HTTP client")?,
                base_urls: settings.provider_base_urls(),
                options: ClientOptions {
                    timeout: settings.provider_timeout(),
                },
            },
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
            gates: HandoverGates::default(),
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            chunk_signal: Arc::new(tokio::sync::Notify::new()),
            dispatch: DispatchSettings {
                claim_limit: settings.dispatch_batch,
                settle_delay: Duration::from_secs(settings.settle_delay_secs),
                poll_interval: Duration::from_secs(1),
            },
            events,
            ingest,
            webhook_tokens: TokenCache::default(),
            webhook_limits: WebhookLimits::start(&WebhookQuotas {
                rate_per_sec: settings.webhook_rate_per_sec,
                burst: settings.webhook_burst,
                failures_per_min: settings.webhook_failures_per_min,
                failure_burst: settings.webhook_failure_burst,
            }),
            daily_send_cap: DailySendCap::parse(i64::from(settings.daily_send_cap))
                .map_err(|invalid| anyhow::anyhow!("NEXTAL_DAILY_SEND_CAP {invalid}"))?,
            clock: Clock::default(),
        });
        let clock = state.clock.clone();
        let dispatcher = Dispatcher::new(state.clone());
        let reconciler = Reconciler::new(state.clone());
        if settings.dispatcher {
            dispatcher.clone().spawn();
            reconciler.clone().spawn(settings.reconcile_interval());
        }
        // Built once: the routes registered below plus the paths made from the provider
        // registry, which the app's own collection does not see.
        let document = routes::openapi_document();
        let routes_table = Data::new(routes::RouteTable::new(&document));
        let cors_origins = settings.cors_origins.clone();
        let max_body_bytes = settings.max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .openapi(routes::base_document())
                .app_data(state.clone())
                .app_data(PayloadConfig::new(max_body_bytes))
                .app_data(web::QueryConfig::default().error_handler(|error, _| {
                    ApiError::invalid_field("query", error.to_string()).into()
                }))
                .app_data(
                    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()),
                )
                .configure(routes::configure)
                .openapi_service(|_| nextal_openapi::swagger_ui(document.clone()))
                .into_app()
                .route("/docs", web::get().to(redirect_to_docs))
                .app_data(routes_table.clone())
                .default_service(web::to(routes::fallback))
                .wrap(from_fn(webhooks::guard::guard))
                .wrap(from_fn(crate::extract::refuse_nul_in_query))
                .wrap(cors(&cors_origins))
                .wrap(ErrorHandlers::new().default_handler(problem_for_foreign_errors))
                .wrap(from_fn(request_context))
        })
        .listen(listener)?
        .shutdown_timeout(30);
        if let Some(workers) = settings.http_workers {
            server = server.workers(workers.max(1));
        }
        Ok(Self {
            port,
            server: server.run(),
            bootstrap_admin,
            dispatcher,
            reconciler,
            clock,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The outbox dispatcher (running in the background unless turned off).
    pub fn dispatcher(&self) -> Dispatcher {
        self.dispatcher.clone()
    }

    /// The reconciliation with the providers' records (running in the background unless
    /// the dispatcher is turned off).
    pub fn reconciler(&self) -> Reconciler {
        self.reconciler.clone()
    }

    /// The clock sends are decided at; the system's until set.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// The admin created on this start, when the database was empty.
    pub fn bootstrap_admin(&self) -> Option<&BootstrapAdmin> {
        self.bootstrap_admin.as_ref()
    }

    /// Serves until stopped: SIGTERM drains in-flight requests for up to 30 s; SIGINT and
    /// SIGQUIT stop at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

async fn bootstrap_first_organization(
    db: &Db,
    passwords: &Passwords,
    settings: &Settings,
) -> anyhow::Result<Option<BootstrapAdmin>> {
    let name = OrganizationName::parse(&settings.bootstrap_organization_name)
        .map_err(|invalid| anyhow::anyhow!("NEXTAL_BOOTSTRAP_ORGANIZATION_NAME {invalid}"))?;
    let email = EmailAddress::parse(
        settings
            .bootstrap_admin_email
            .as_deref()
            .unwrap_or(DEFAULT_BOOTSTRAP_EMAIL),
    )
    .map_err(|invalid| anyhow::anyhow!("NEXTAL_BOOTSTRAP_ADMIN_EMAIL {invalid}"))?;
    let password = settings
        .bootstrap_admin_password
        .as_ref()
        .map(|secret| NewPassword::parse(secret.expose_secret().to_owned()))
        .transpose()
        .map_err(|invalid| anyhow::anyhow!("NEXTAL_BOOTSTRAP_ADMIN_PASSWORD {invalid}"))?;
    Ok(bootstrap::bootstrap_if_empty(db, passwords, &name, email, password).await?)
}

fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .map(|origin| origin.trim())
        .filter(|origin| !origin.is_empty())
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::HeaderName::from_static("idempotency-key"),
            REQUEST_ID.clone(),
        ])
        .expose_headers([
            REQUEST_ID.clone(),
            header::RETRY_AFTER,
            header::LOCATION,
            header::HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(3600)
}

async fn redirect_to_docs() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}
