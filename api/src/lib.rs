//! The Nextal SMS HTTP service: configuration, the actix-web application, its routes
//! and services, and the operator commands of the `nextal-sms` binary.

mod clock;
pub mod commands;
pub mod config;
pub mod dispatcher;
mod error;
mod events;
mod extract;
mod ingest;
mod keys;
mod metrics;
mod outbox;
mod pagination;
mod passwords;
mod problem_kind;
pub mod reconcile;
mod request_context;
mod routes;
mod services;
mod startup;
mod state;
pub mod telemetry;
mod webhooks;

pub use clock::Clock;
pub use error::ApiError;
pub use routes::openapi_document;
pub use startup::Application;
