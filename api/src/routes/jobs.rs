//! `GET/POST /jobs`, `GET /jobs/{id}/board` (any signed-in user).

use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpResponse, get, post};
use chrono::{DateTime, Utc};
use nextal_domain::{JobStages, JobTitle, StageName, Validation};
use nextal_openapi::Problem;
use nextal_persistence::repo::candidates::Candidate;
use nextal_persistence::repo::jobs::Job;
use nextal_persistence::repo::threads::Thread;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, SchemaType, Type};

use crate::error::ApiError;
use crate::extract::{ApiJson, CurrentUser};
use crate::pagination::{PageQuery, finish_page};
use crate::routes::refusals::{BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::utc;
use crate::services::jobs::{self, NewJobInput, stages_of};
use crate::state::AppState;

/// How much of the last message the board shows, in characters.
const PREVIEW_CHARACTERS: usize = 160;

/// A job and its pipeline.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Job)]
pub struct JobBody {
    #[schema(format = Uuid, example = "01936b2e-7c1a-7cc0-a6f5-3f0c2b1d9e10")]
    id: String,
    #[schema(example = "Registered Nurse")]
    title: String,
    /// The board's columns, in order.
    #[schema(example = json!(["Applied", "Screening", "Interview", "Offer", "Hired"]))]
    stages: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl JobBody {
    fn new(job: Job) -> Result<Self, ApiError> {
        Ok(Self {
            stages: stages_of(&job)?,
            id: job.id,
            title: job.title,
            created_at: utc(job.created_at),
            updated_at: utc(job.updated_at),
        })
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    items: Vec<JobBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A job to add.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewJob)]
#[serde(deny_unknown_fields)]
pub struct CreateJobRequest {
    #[schema(
        example = "Registered Nurse",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,198}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    title: String,
    /// 1 to 20 distinct names (ignoring case) of at most 60 characters, in board order.
    /// Omitted: Applied, Screening, Interview, Offer, Hired.
    #[schema(schema_with = stage_names, example = json!(["Applied", "Phone screen", "Interview", "Hired"]))]
    stages: Option<Vec<String>>,
}

/// `stages` as the contract states it: 1 to 20 names of 1 to 60 characters once trimmed,
/// without control characters, or null (the default stages). That two names may not be
/// the same ignoring case is said in words: JSON Schema compares case-sensitively.
fn stage_names() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,58}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")),
        )
        .min_items(Some(1))
        .max_items(Some(JobStages::MAX_STAGES))
        .unique_items(true)
        .description(Some(
            "1 to 20 stage names of at most 60 characters, in board order, no two the same \
             ignoring case and surrounding spaces (refused with 422). Omitted or null: \
             Applied, Screening, Interview, Offer, Hired.",
        ))
        .build()
}

/// A job's kanban board.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Board)]
pub struct BoardBody {
    job: JobBody,
    /// Every stage of the job in order, each with its candidates (oldest first). A
    /// candidate without a stage, or with one the job does not have, is in the first.
    stages: Vec<BoardStageBody>,
}

/// One column of the board.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BoardStage)]
pub struct BoardStageBody {
    #[schema(example = "Screening")]
    name: String,
    candidates: Vec<BoardCandidateBody>,
}

/// A candidate's card on the board.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = BoardCandidate)]
pub struct BoardCandidateBody {
    #[schema(format = Uuid)]
    id: String,
    #[schema(example = "Ann")]
    first_name: String,
    #[schema(example = "Lee")]
    last_name: String,
    /// E.164; null when the candidate has no number.
    #[schema(example = "+14155552671")]
    phone: Option<String>,
    /// The candidate replied STOP (or was marked so): no SMS may be sent to them.
    sms_opted_out: bool,
    /// A provider found the candidate's current number cannot take SMS (a landline):
    /// bulk sends skip them (`not_mobile`). Clears when the number changes.
    phone_not_mobile: bool,
    /// The candidate's SMS conversation; null when there has been none.
    sms: Option<SmsSummaryBody>,
}

/// The state of a candidate's SMS conversation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SmsSummary)]
pub struct SmsSummaryBody {
    /// Open it with `GET /sms/threads/{id}`.
    #[schema(format = Uuid)]
    thread_id: String,
    /// Inbound messages not yet read.
    #[schema(minimum = 0)]
    unread_count: u32,
    /// The start (up to 160 characters) of the newest message, in either direction.
    #[schema(example = "Yes, Tuesday at 10 works for me")]
    last_message_preview: Option<String>,
    last_message_at: Option<DateTime<Utc>>,
}

impl SmsSummaryBody {
    fn from_thread(thread: Thread) -> Self {
        Self {
            thread_id: thread.id,
            unread_count: u32::try_from(thread.unread_count).unwrap_or(0),
            last_message_preview: thread
                .last_message_preview
                .map(|text| text.chars().take(PREVIEW_CHARACTERS).collect()),
            last_message_at: thread.last_message_at.map(utc),
        }
    }
}

impl BoardCandidateBody {
    fn new(candidate: Candidate, thread: Option<Thread>) -> Self {
        let phone_not_mobile = candidate.phone_not_mobile();
        Self {
            id: candidate.id,
            first_name: candidate.first_name,
            last_name: candidate.last_name,
            phone: candidate.phone,
            phone_not_mobile,
            sms_opted_out: candidate.sms_opted_out,
            sms: thread.map(SmsSummaryBody::from_thread),
        }
    }
}

/// List the organization's jobs, oldest first.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        NoSession,
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs")]
pub async fn list_jobs(
    state: Data<AppState>,
    current: CurrentUser,
    query: Query<PageQuery>,
) -> Result<Json<JobPage>, ApiError> {
    let page = query.into_inner().into_request()?;
    let rows = jobs::list(&state.db, &current, &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |job| job.id.as_str());
    Ok(Json(JobPage {
        items: rows
            .into_iter()
            .map(JobBody::new)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// Add a job with its pipeline of stages.
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    request_body = CreateJobRequest,
    responses(
        (status = 201, description = "Created", body = JobBody),
        BodyRefusals,
        NoSession,
        InvalidFields,
    )
)]
#[post("/jobs")]
pub async fn create_job(
    state: Data<AppState>,
    current: CurrentUser,
    body: ApiJson<CreateJobRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let title = validation.check("title", JobTitle::parse(&body.title));
    let stages = match body.stages {
        None => Some(JobStages::default_stages()),
        Some(raw) => parse_stages(&mut validation, &raw),
    };
    validation.finish()?;
    let (Some(title), Some(stages)) = (title, stages) else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "validation passed without values"
        )));
    };
    let job = jobs::create(&state.db, &current, NewJobInput { title, stages }).await?;
    Ok(HttpResponse::Created().json(JobBody::new(job)?))
}

/// Checks the count, then each name (refused as `stages[i]`), then that they differ.
fn parse_stages(validation: &mut Validation, raw: &[String]) -> Option<JobStages> {
    validation.check("stages", JobStages::check_count(raw.len()))?;
    let names: Vec<Option<StageName>> = raw
        .iter()
        .enumerate()
        .map(|(index, name)| validation.check(&format!("stages[{index}]"), StageName::parse(name)))
        .collect();
    let names: Option<Vec<StageName>> = names.into_iter().collect();
    validation.check("stages", JobStages::new(names?))
}

/// A job's kanban board: its stages with their candidates and each candidate's SMS
/// conversation (thread, unread count, last message).
#[utoipa::path(
    tag = "jobs",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The board", body = BoardBody),
        NoSession,
        (status = 404, description = "No such job in this organization", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/jobs/{id}/board")]
pub async fn get_job_board(
    state: Data<AppState>,
    current: CurrentUser,
    id: Path<uuid::Uuid>,
) -> Result<Json<BoardBody>, ApiError> {
    let board = jobs::board(&state.db, &current, &id.to_string()).await?;
    Ok(Json(BoardBody {
        job: JobBody::new(board.job)?,
        stages: board
            .stages
            .into_iter()
            .map(|stage| BoardStageBody {
                name: stage.name,
                candidates: stage
                    .candidates
                    .into_iter()
                    .map(|(candidate, thread)| BoardCandidateBody::new(candidate, thread))
                    .collect(),
            })
            .collect(),
    }))
}
