//! The OpenAPI document's frame (info, security, shared schemas), the committed copy of
//! the whole document and the Swagger UI mount. Paths are added by the `api` crate from
//! the same annotations that register its handlers, so code and contract cannot drift.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// Where the committed document lives; a test fails when it differs from the served one.
pub const COMMITTED_DOCUMENT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// Where the document is served.
pub const DOCUMENT_URL: &str = "/openapi.json";

/// The name of the bearer-token security scheme that protected operations require.
pub const BEARER_SCHEME: &str = "bearer";

/// An RFC 9457 problem: every error response has this shape.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "https://nextal.app/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "1 field is invalid",
    "errors": [{"field": "email", "message": "must be an email address such as name@example.com"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem, one of the listed values; stable, safe to
    /// switch on.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a person.
    pub detail: String,
    /// For validation problems: each refused field and why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<ProblemFieldError>,
}

/// One refused field of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProblemFieldError {
    /// The field's path in the request, e.g. `email` or `candidate_ids[3]`.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from `POST /auth/login`, sent as `Authorization: Bearer <token>`.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Nextal SMS API", license(name = "Proprietary")),
    components(schemas(Problem, ProblemFieldError)),
    modifiers(&BearerSecurity),
    tags(
        (name = "auth", description = "Signing in and out"),
        (name = "users", description = "The organization's users (admin)"),
        (name = "organization", description = "The organization's settings"),
        (name = "jobs", description = "Jobs and their kanban boards with each candidate's SMS summary"),
        (name = "candidates", description = "The people recruiters text: names, phone, job, stage, SMS opt-out"),
        (name = "templates", description = "SMS templates with merge fields, and their per-candidate preview"),
        (name = "integrations"),
        (name = "messaging", description = "Sending SMS to candidates: single, bulk, scheduled, replies"),
        (name = "inbox", description = "Threads, their messages and unread counts, and live events (server-sent)"),
        (name = "webhooks"),
        (name = "audit", description = "Who changed what, when (admin)"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct BaseDocument;

/// The document's frame, before the API's paths are added. `providers` are the
/// display names of the providers the service connects, in the screen's order; the
/// texts that list them are worded from it.
pub fn base_document(providers: &[&str]) -> utoipa::openapi::OpenApi {
    let mut document = BaseDocument::openapi();
    let any = providers.join(" or ");
    let all = providers.join(" and ");
    document.info.description = Some(format!(
        "Text candidates through {any} and keep every conversation in one inbox.\n\n\
         Errors are `application/problem+json` (RFC 9457). Lists use cursor pagination: \
         pass `next_cursor` back as `cursor` until it is null. Unknown JSON fields are rejected."
    ));
    for tag in document.tags.iter_mut().flatten() {
        let description = match tag.name.as_str() {
            "integrations" => format!("Connecting {any} (admin); one active at a time"),
            "webhooks" => format!(
                "Replies and delivery receipts from {all} (public; the URL carries the organization's secret token)"
            ),
            _ => continue,
        };
        tag.description = Some(description);
    }
    document
}

/// Serves Swagger UI (bundled into the binary) at `/docs/` and `document` at
/// [`DOCUMENT_URL`].
pub fn swagger_ui(document: utoipa::openapi::OpenApi) -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url(DOCUMENT_URL, document)
}

/// The document as committed: pretty JSON ending in a newline.
pub fn render(document: &utoipa::openapi::OpenApi) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(document).map(|json| json + "\n")
}
