//! `GET/POST /sms-templates`, `GET/PUT/DELETE /sms-templates/{id}`,
//! `POST /sms-templates/{id}/preview` (any signed-in user).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, delete, get, post, put};
use chrono::{DateTime, Utc};
use nextal_domain::{Encoding, MAX_SEGMENTS, Template, TemplateName, Validation};
use nextal_openapi::Problem;
use nextal_persistence::repo::templates::SmsTemplate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::pagination::{PageQuery, finish_page};
use crate::routes::refusals::{BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::utc;
use crate::services::templates::{self, TemplateInput};
use crate::state::AppState;

/// An SMS template.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Template)]
pub struct TemplateBody {
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    id: String,
    #[schema(example = "Interview invite")]
    name: String,
    /// The text as written, with merge fields such as `{{candidate.first_name}}`.
    #[schema(
        example = "Hi {{candidate.first_name}}, it's {{recruiter.first_name}} from {{organization.name}} about the {{job.title}} role."
    )]
    body: String,
    /// The merge fields the body uses, each once, in order of first appearance.
    #[schema(example = json!(["candidate.first_name", "recruiter.first_name", "organization.name", "job.title"]))]
    fields: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SmsTemplate> for TemplateBody {
    fn from(template: SmsTemplate) -> Self {
        let fields = match templates::parse_stored(&template) {
            Ok(parsed) => parsed
                .fields()
                .into_iter()
                .map(|field| field.name().to_owned())
                .collect(),
            Err(error) => {
                // One bad row must not hide the others; the body is still shown.
                tracing::error!(%error, "listing a template");
                Vec::new()
            }
        };
        Self {
            id: template.id,
            name: template.name,
            body: template.body,
            fields,
            created_at: utc(template.created_at),
            updated_at: utc(template.updated_at),
        }
    }
}

/// A page of templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplatePage {
    items: Vec<TemplateBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A template's name and body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TemplateFields)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    #[schema(
        example = "Interview invite",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: String,
    /// At most 2000 characters. Merge fields: `{{candidate.first_name}}`,
    /// `{{candidate.last_name}}`, `{{job.title}}`, `{{recruiter.first_name}}`,
    /// `{{organization.name}}` (spaces inside the braces are allowed); any other is
    /// refused with the list of known fields.
    #[schema(
        example = "Hi {{candidate.first_name}}, are you free for a call about the {{job.title}} role?",
        max_length = 2000,
        pattern = r"^[^\u0000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    body: String,
}

/// Whom to render a template for.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PreviewFor)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// One of the organization's candidates.
    #[schema(format = Uuid)]
    candidate_id: String,
}

/// A template rendered for one candidate, as the caller would send it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Preview)]
pub struct PreviewBody {
    #[schema(example = "Hi Ann, are you free for a call about the Registered Nurse role?")]
    text: String,
    encoding: Encoding,
    /// The length in the encoding: GSM-7 septets (`^{}\[~]|€` count 2) or UTF-16 units
    /// (an emoji counts 2).
    #[schema(example = 62)]
    characters: usize,
    /// How many SMS the text is sent as (160 GSM-7 / 70 UCS-2 characters in one, 153 /
    /// 67 per part beyond).
    #[schema(example = 1)]
    segments: usize,
    /// True when the text is longer than 6 segments: sending it would be refused.
    too_long: bool,
}

/// Checks a name and body.
fn validate(request: TemplateRequest) -> Result<TemplateInput, ApiError> {
    let mut validation = Validation::new();
    let name = validation.check("name", TemplateName::parse(&request.name));
    validation.check("body", Template::parse(&request.body));
    validation.finish()?;
    let Some(name) = name else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validation passed without values"
        )));
    };
    Ok(TemplateInput {
        name,
        body: request.body,
    })
}

/// List the organization's templates, oldest first.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of templates", body = TemplatePage),
        NoSession,
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms-templates")]
pub async fn list_templates(
    state: Data<AppState>,
    current: CurrentUser,
    query: Query<PageQuery>,
) -> Result<Json<TemplatePage>, ApiError> {
    let page = query.into_inner().into_request()?;
    let rows = templates::list(&state.db, &current, &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |template| template.id.as_str());
    Ok(Json(TemplatePage {
        items: rows.into_iter().map(TemplateBody::from).collect(),
        next_cursor,
    }))
}

/// Add a template.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    request_body = TemplateRequest,
    responses(
        (status = 201, description = "Created", body = TemplateBody),
        BodyRefusals,
        NoSession,
        (status = 422, description = "Invalid fields; an unknown merge field lists the known ones", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/sms-templates")]
pub async fn create_template(
    state: Data<AppState>,
    current: CurrentUser,
    body: ApiJson<TemplateRequest>,
) -> Result<HttpResponse, ApiError> {
    let input = validate(body.into_inner()?)?;
    let template = templates::create(&state.db, &current, input).await?;
    Ok(HttpResponse::Created().json(TemplateBody::from(template)))
}

/// One template of the organization.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    responses(
        (status = 200, description = "The template", body = TemplateBody),
        NoSession,
        (status = 404, description = "No such template in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/sms-templates/{id}")]
pub async fn get_template(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<TemplateBody>, ApiError> {
    let template = templates::get(&state.db, &current, &id.to_string()).await?;
    Ok(Json(template.into()))
}

/// Replace a template's name and body.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    request_body = TemplateRequest,
    responses(
        (status = 200, description = "The updated template", body = TemplateBody),
        BodyRefusals,
        NoSession,
        (status = 404, description = "No such template in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; an unknown merge field lists the known ones", body = Problem, content_type = "application/problem+json"),
    )
)]
#[put("/sms-templates/{id}")]
pub async fn update_template(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<TemplateRequest>,
) -> Result<Json<TemplateBody>, ApiError> {
    let input = validate(body.into_inner()?)?;
    let template = templates::update(&state.db, &current, &id.to_string(), input).await?;
    Ok(Json(template.into()))
}

/// Delete a template. Messages already sent from it keep their text.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    responses(
        (status = 204, description = "Deleted"),
        NoSession,
        (status = 404, description = "No such template in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/sms-templates/{id}")]
pub async fn delete_template(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<HttpResponse, ApiError> {
    templates::delete(&state.db, &current, &id.to_string()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Render a template for a candidate, as the caller would send it: the text, its
/// encoding, length and segment count.
///
/// `{{recruiter.first_name}}` is the caller's first name; `{{job.title}}` is empty when
/// the candidate has no job. A text over 6 segments is still rendered, with
/// `too_long: true`.
#[utoipa::path(
    tag = "templates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The template's id")),
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "The rendered text", body = PreviewBody),
        BodyRefusals,
        NoSession,
        (status = 404, description = "No such template in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`candidate_id` names no candidate of this organization (`unknown-reference`)", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    )
)]
#[post("/sms-templates/{id}/preview")]
pub async fn preview_template(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<PreviewRequest>,
) -> Result<Json<PreviewBody>, ApiError> {
    let body = body.into_inner()?;
    let preview =
        templates::preview(&state.db, &current, &id.to_string(), &body.candidate_id).await?;
    let segmentation = preview.segmentation;
    Ok(Json(PreviewBody {
        text: preview.text,
        encoding: segmentation.encoding,
        characters: segmentation.characters,
        segments: segmentation.segments,
        too_long: segmentation.segments > MAX_SEGMENTS,
    }))
}
