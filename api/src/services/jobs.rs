//! Jobs and their kanban boards: only what SMS needs from the applicant-tracking side.

use nextal_domain::AuditAction;
use std::collections::HashMap;

use nextal_domain::{JobStages, JobTitle};
use nextal_persistence::Db;
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::candidates::{self, Candidate};
use nextal_persistence::repo::jobs::{self, Job};
use nextal_persistence::repo::threads::{self, Thread};
use serde_json::json;

use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::{ServiceError, new_id, now};

/// A job to create, already validated.
pub struct NewJobInput {
    pub title: JobTitle,
    pub stages: JobStages,
}

/// A job's board: each stage with its candidates, each candidate with the thread that
/// summarises their SMS conversation (if any).
pub struct Board {
    pub job: Job,
    pub stages: Vec<BoardStage>,
}

/// One column of a board.
pub struct BoardStage {
    pub name: String,
    pub candidates: Vec<(Candidate, Option<Thread>)>,
}

/// The stage names of a stored job, in board order.
pub fn stages_of(job: &Job) -> Result<Vec<String>, ServiceError> {
    serde_json::from_str(&job.stages).map_err(|error| {
        ServiceError::Internal(anyhow::anyhow!(
            "job {} has unreadable stages: {error}",
            job.id
        ))
    })
}

/// One page of the caller's organization's jobs, oldest first.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    page: &PageRequest,
) -> Result<Vec<Job>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(jobs::list(&mut conn, current.organization_id(), page).await?)
}

/// Adds a job to the caller's organization.
pub async fn create(
    db: &Db,
    current: &CurrentUser,
    input: NewJobInput,
) -> Result<Job, ServiceError> {
    let now = now();
    let job = Job {
        id: new_id(),
        organization_id: current.organization_id().to_owned(),
        title: input.title.into_inner(),
        stages: serde_json::to_string(input.stages.names())
            .map_err(|error| ServiceError::Internal(error.into()))?,
        created_at: now,
        updated_at: now,
    };
    let mut tx = db.begin().await?;
    jobs::insert(&mut tx, &job).await?;
    audit::record(
        &mut tx,
        current,
        AuditAction::JobCreated,
        &job.id,
        json!({ "title": job.title, "stages": input.stages.names() }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(job_id = %job.id, created_by = %current.user.id, "job created");
    Ok(job)
}

/// The board of job `id`. A candidate without a stage, or with one the job does not
/// have, is shown in the first stage.
pub async fn board(db: &Db, current: &CurrentUser, id: &str) -> Result<Board, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    let job = jobs::find(&mut conn, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let names = stages_of(&job)?;
    let members = candidates::for_job(&mut conn, organization_id, &job.id).await?;
    let ids: Vec<String> = members
        .iter()
        .map(|candidate| candidate.id.clone())
        .collect();
    let threads = threads::find_by_candidates(&mut conn, organization_id, &ids).await?;
    drop(conn);

    let mut by_candidate: HashMap<String, Vec<Thread>> = HashMap::new();
    for thread in threads {
        if let Some(candidate_id) = thread.candidate_id.clone() {
            by_candidate.entry(candidate_id).or_default().push(thread);
        }
    }
    let mut stages: Vec<BoardStage> = names
        .iter()
        .map(|name| BoardStage {
            name: name.clone(),
            candidates: Vec::new(),
        })
        .collect();
    for candidate in members {
        let column = candidate
            .stage
            .as_ref()
            .and_then(|stage| names.iter().position(|name| name == stage))
            .unwrap_or(0);
        let thread = summary_thread(&candidate, by_candidate.remove(&candidate.id));
        if let Some(stage) = stages.get_mut(column) {
            stage.candidates.push((candidate, thread));
        }
    }
    Ok(Board { job, stages })
}

/// The thread that stands for a candidate's conversation: the one with their current
/// number, otherwise (their number changed or was cleared) the most recently active.
fn summary_thread(candidate: &Candidate, threads: Option<Vec<Thread>>) -> Option<Thread> {
    let mut threads = threads?;
    let current = candidate
        .phone
        .as_ref()
        .and_then(|phone| threads.iter().position(|thread| &thread.phone == phone));
    if let Some(index) = current {
        return Some(threads.swap_remove(index));
    }
    threads
        .into_iter()
        .max_by(|a, b| (a.last_message_at, &a.id).cmp(&(b.last_message_at, &b.id)))
}
