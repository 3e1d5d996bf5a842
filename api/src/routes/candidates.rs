//! `GET/POST /candidates`, `GET/PATCH /candidates/{id}` (any signed-in user).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use chrono::{DateTime, Utc};
use nextal_domain::{CountryCode, EmailAddress, PersonName, PhoneNumber, Validation};
use nextal_openapi::Problem;
use nextal_persistence::repo::candidates::Candidate;
use serde::{Deserialize, Serialize};
use utoipa::openapi::OpenApi;
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::pagination::{PageQuery, finish_page};
use crate::routes::refusals::{BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::{Choice, Shape, nullable, shapes, utc};
use crate::services::candidates::{self, CandidateUpdate, NewCandidateInput};
use crate::services::organization;
use crate::state::AppState;

/// A candidate: who recruiters text.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Candidate)]
pub struct CandidateBody {
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    id: String,
    #[schema(example = "Ann")]
    first_name: String,
    #[schema(example = "Lee")]
    last_name: String,
    /// E.164.
    #[schema(example = "+14155552671")]
    phone: Option<String>,
    #[schema(example = "ann.lee@example.com")]
    email: Option<String>,
    #[schema(format = Uuid)]
    job_id: Option<String>,
    /// One of the job's stages; null (shown in the first stage) when not set.
    #[schema(example = "Screening")]
    stage: Option<String>,
    /// The candidate replied STOP (or was marked so): no SMS may be sent to them.
    sms_opted_out: bool,
    /// A provider found the candidate's current number cannot take SMS (a landline):
    /// bulk sends skip them (`not_mobile`). Clears when the number changes.
    phone_not_mobile: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Candidate> for CandidateBody {
    fn from(candidate: Candidate) -> Self {
        let phone_not_mobile = candidate.phone_not_mobile();
        Self {
            id: candidate.id,
            first_name: candidate.first_name,
            last_name: candidate.last_name,
            phone: candidate.phone,
            email: candidate.email,
            job_id: candidate.job_id,
            stage: candidate.stage,
            phone_not_mobile,
            sms_opted_out: candidate.sms_opted_out,
            created_at: utc(candidate.created_at),
            updated_at: utc(candidate.updated_at),
        }
    }
}

/// A page of candidates.
#[derive(Debug, Serialize, ToSchema)]
pub struct CandidatePage {
    items: Vec<CandidateBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Which candidates to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandidateListQuery {
    /// Only the candidates of this job (one of the organization's jobs).
    #[param(format = Uuid)]
    job_id: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; omit for the first page.
    #[param(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    cursor: Option<String>,
}

/// A candidate to add.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewCandidate)]
#[serde(deny_unknown_fields)]
pub struct CreateCandidateRequest {
    #[schema(
        example = "Ann",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    first_name: String,
    #[schema(
        example = "Lee",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    last_name: String,
    /// International (`+…`) or national to the organization's default country; stored
    /// in E.164.
    #[schema(example = "+14155552671", format = "phone")]
    phone: Option<String>,
    #[schema(
        example = "ann.lee@example.com",
        max_length = 254,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]+@(?:[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f][^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*\.[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    email: Option<String>,
    /// One of the organization's jobs.
    #[schema(format = Uuid)]
    job_id: Option<String>,
    /// One of the job's stages (matched ignoring case); needs `job_id`. Omitted with a
    /// job: the job's first stage.
    #[schema(
        example = "Applied",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,58}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    stage: Option<String>,
}

/// States in `document` that a new candidate has a `stage` only with a `job_id`, and
/// that a change names a `stage` only with a `job_id` or without touching the job (the
/// candidate's own job then decides: 409 without one).
pub fn document(document: &mut OpenApi) {
    let without_stage = Shape {
        nulls: &["stage"],
        ..Shape::default()
    };
    let with_job = Shape {
        required: Some("job_id"),
        ..Shape::default()
    };
    shapes(
        document,
        &CreateCandidateRequest::name(),
        Choice::AtLeastOne,
        &[without_stage, with_job],
    );
    shapes(
        document,
        &UpdateCandidateRequest::name(),
        Choice::AtLeastOne,
        &[
            without_stage,
            with_job,
            Shape {
                absent: &["job_id"],
                ..Shape::default()
            },
        ],
    );
}

/// Changes to a candidate; omitted fields stay as they are, `null` clears a nullable one.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CandidateChanges)]
#[serde(deny_unknown_fields)]
pub struct UpdateCandidateRequest {
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    first_name: Option<String>,
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    last_name: Option<String>,
    /// International or national to the organization's default country; null removes
    /// the number.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "+447911123456", format = "phone")]
    phone: Option<Option<String>>,
    /// Null removes the address.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 254, pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]+@(?:[Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f][^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*\.[^@\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f]*[^@.\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    email: Option<Option<String>>,
    /// Another of the organization's jobs (the candidate moves to its first stage unless
    /// `stage` says otherwise); null takes the candidate off their job and stage.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(format = Uuid, value_type = Option<String>)]
    job_id: Option<Option<String>>,
    /// One of the job's stages (matched ignoring case); null clears it (the board shows
    /// the candidate in the first stage).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "Interview", pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,58}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    stage: Option<Option<String>>,
    /// True stops all SMS to the candidate; false opts them back in (admins only: a
    /// recruiter gets 403).
    sms_opted_out: Option<bool>,
}

/// List the organization's candidates, oldest first, optionally of one job.
#[utoipa::path(
    tag = "candidates",
    security(("bearer" = [])),
    params(CandidateListQuery),
    responses(
        (status = 200, description = "A page of candidates", body = CandidatePage),
        NoSession,
        (status = 409, description = "`job_id` names no job of this organization (`unknown-reference`, the field in `errors`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/candidates")]
pub async fn list_candidates(
    state: Data<AppState>,
    current: CurrentUser,
    query: Query<CandidateListQuery>,
) -> Result<Json<CandidatePage>, ApiError> {
    let query = query.into_inner();
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .into_request()?;
    let rows = candidates::list(&state.db, &current, query.job_id.as_deref(), &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |candidate| candidate.id.as_str());
    Ok(Json(CandidatePage {
        items: rows.into_iter().map(CandidateBody::from).collect(),
        next_cursor,
    }))
}

/// Add a candidate.
#[utoipa::path(
    tag = "candidates",
    security(("bearer" = [])),
    request_body = CreateCandidateRequest,
    responses(
        (status = 201, description = "Created", body = CandidateBody),
        BodyRefusals,
        NoSession,
        (status = 409, description = "`job_id` names no job of this organization, or `stage` no stage of the job (`unknown-reference`, the field in `errors`)", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    )
)]
#[post("/candidates")]
pub async fn create_candidate(
    state: Data<AppState>,
    current: CurrentUser,
    body: ApiJson<CreateCandidateRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let country = match &body.phone {
        Some(_) => organization::default_country(&state.db, &current).await?,
        None => CountryCode::DEFAULT,
    };
    let mut validation = Validation::new();
    let first_name = validation.check("first_name", PersonName::parse(&body.first_name));
    let last_name = validation.check("last_name", PersonName::parse(&body.last_name));
    let phone = validation.check_optional("phone", body.phone.as_deref(), |raw| {
        PhoneNumber::parse(raw, country)
    });
    let email = validation.check_optional("email", body.email.as_deref(), EmailAddress::parse);
    validation.finish()?;
    let (Some(first_name), Some(last_name)) = (first_name, last_name) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validation passed without values"
        )));
    };
    let input = NewCandidateInput {
        first_name,
        last_name,
        phone,
        email,
        job_id: body.job_id,
        stage: body.stage,
    };
    let candidate = candidates::create(&state.db, &current, input).await?;
    Ok(HttpResponse::Created().json(CandidateBody::from(candidate)))
}

/// One candidate of the organization.
#[utoipa::path(
    tag = "candidates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The candidate's id")),
    responses(
        (status = 200, description = "The candidate", body = CandidateBody),
        NoSession,
        (status = 404, description = "No such candidate in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/candidates/{id}")]
pub async fn get_candidate(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<CandidateBody>, ApiError> {
    let candidate = candidates::get(&state.db, &current, &id.to_string()).await?;
    Ok(Json(candidate.into()))
}

/// Change a candidate: names, phone, email, job, stage, SMS opt-out.
#[utoipa::path(
    tag = "candidates",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The candidate's id")),
    request_body = UpdateCandidateRequest,
    responses(
        (status = 200, description = "The updated candidate", body = CandidateBody),
        BodyRefusals,
        NoSession,
        (status = 403, description = "A recruiter tried to undo an opt-out", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such candidate in this organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`job_id` names no job of this organization or `stage` no stage of the job (`unknown-reference`), or `stage` without `job_id` for a candidate without a job (`stage-without-job`)", body = Problem, content_type = "application/problem+json"),
        InvalidFields,
    )
)]
#[patch("/candidates/{id}")]
pub async fn update_candidate(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
    body: ApiJson<UpdateCandidateRequest>,
) -> Result<Json<CandidateBody>, ApiError> {
    let body = body.into_inner()?;
    let country = match &body.phone {
        Some(Some(_)) => organization::default_country(&state.db, &current).await?,
        _ => CountryCode::DEFAULT,
    };
    let mut validation = Validation::new();
    let update = CandidateUpdate {
        first_name: validation.check_optional(
            "first_name",
            body.first_name.as_deref(),
            PersonName::parse,
        ),
        last_name: validation.check_optional(
            "last_name",
            body.last_name.as_deref(),
            PersonName::parse,
        ),
        phone: check_nullable(&mut validation, "phone", body.phone, |raw| {
            PhoneNumber::parse(&raw, country)
        }),
        email: check_nullable(&mut validation, "email", body.email, |raw| {
            EmailAddress::parse(&raw)
        }),
        job_id: body.job_id,
        stage: body.stage,
        sms_opted_out: body.sms_opted_out,
    };
    validation.finish()?;
    let candidate = candidates::update(&state.db, &current, &id.to_string(), update).await?;
    Ok(Json(candidate.into()))
}

/// Parses a nullable PATCH field: absent and `null` pass through, a value must be valid.
fn check_nullable<T>(
    validation: &mut Validation,
    field: &str,
    raw: Option<Option<String>>,
    parse: impl FnOnce(String) -> Result<T, nextal_domain::Invalid>,
) -> Option<Option<T>> {
    match raw {
        None => None,
        Some(None) => Some(None),
        Some(Some(raw)) => validation.check(field, parse(raw)).map(Some),
    }
}
