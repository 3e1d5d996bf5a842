//! HTTP routes: one module per resource. Each handler's `utoipa::path` annotation is
//! both its registration and its documentation.

mod audit;
mod auth;
mod candidates;
mod events;
mod fallback;
mod inbox;
mod integrations;
mod jobs;
mod messaging;
mod operations;
mod organization;
mod panel_bodies;
mod panel_docs;
mod panels;
mod problem_docs;
mod refusals;
mod schemas;
mod templates;
mod users;
mod webhooks;

pub use fallback::{RouteTable, fallback};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every documented route.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(auth::login)
        .service(auth::logout)
        .service(auth::me)
        .service(users::list_users)
        .service(users::create_user)
        .service(users::get_user)
        .service(users::update_user)
        .service(jobs::list_jobs)
        .service(jobs::create_job)
        .service(jobs::get_job_board)
        .service(candidates::list_candidates)
        .service(candidates::create_candidate)
        .service(candidates::get_candidate)
        .service(candidates::update_candidate)
        .service(templates::list_templates)
        .service(templates::create_template)
        .service(templates::get_template)
        .service(templates::update_template)
        .service(templates::delete_template)
        .service(templates::preview_template)
        .service(organization::get_organization)
        .service(organization::update_organization)
        .service(integrations::list_integrations)
        .map(panels::configure)
        .service(messaging::send_message)
        .service(messaging::send_bulk)
        .service(messaging::get_batch)
        .service(messaging::get_message)
        .service(messaging::cancel_message)
        .service(messaging::reply_in_thread)
        .service(inbox::list_threads)
        .service(inbox::get_thread)
        .service(inbox::list_thread_messages)
        .service(inbox::mark_thread_read)
        .service(inbox::mark_thread_unread)
        .service(inbox::assign_thread)
        .service(events::inbox_events)
        .map(webhooks::configure)
        .service(audit::list_audit_log)
        .service(operations::healthz)
        .service(operations::readyz)
        .service(operations::metrics);
}

/// The document's frame, worded with the registry's providers.
pub fn base_document() -> utoipa::openapi::OpenApi {
    let names: Vec<&str> = nextal_providers::registry()
        .map(|provider| provider.descriptor().display_name())
        .collect();
    nextal_openapi::base_document(&names)
}

/// The whole OpenAPI document, built from the same registrations the server uses.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, mut document) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(base_document())
        .configure(configure)
        .split_for_parts();
    panel_docs::document(&mut document);
    webhooks::document(&mut document);
    messaging::document(&mut document);
    candidates::document(&mut document);
    // Last: it types the error responses every other part added.
    problem_docs::document(&mut document);
    document
}
