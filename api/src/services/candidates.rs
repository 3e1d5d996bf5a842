//! Candidates: who recruiters text. Names, phone (E.164), job and stage, SMS consent.

use nextal_domain::AuditAction;
use nextal_domain::{EmailAddress, PersonName, PhoneNumber, Role};
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::candidates::{self, Candidate, CandidateChanges};
use nextal_persistence::repo::consent::{self, ConsentEvent};
use nextal_persistence::repo::jobs::{self, Job};
use nextal_persistence::repo::threads;
use nextal_persistence::{Db, DbConn};
use serde_json::json;

use crate::problem_kind::ProblemKind;
use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::jobs::stages_of;
use crate::services::{ServiceError, new_id, now};

/// A candidate to create, already validated; `job_id` and `stage` are checked against
/// the organization's jobs here.
pub struct NewCandidateInput {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub phone: Option<PhoneNumber>,
    pub email: Option<EmailAddress>,
    pub job_id: Option<String>,
    pub stage: Option<String>,
}

/// Changes to a candidate, already validated; `None` keeps a field, `Some(None)` clears
/// a nullable one.
#[derive(Default)]
pub struct CandidateUpdate {
    pub first_name: Option<PersonName>,
    pub last_name: Option<PersonName>,
    pub phone: Option<Option<PhoneNumber>>,
    pub email: Option<Option<EmailAddress>>,
    pub job_id: Option<Option<String>>,
    pub stage: Option<Option<String>>,
    pub sms_opted_out: Option<bool>,
}

impl CandidateUpdate {
    /// The names of the fields the update sets, in body order.
    fn changed_fields(&self) -> Vec<&'static str> {
        [
            ("first_name", self.first_name.is_some()),
            ("last_name", self.last_name.is_some()),
            ("phone", self.phone.is_some()),
            ("email", self.email.is_some()),
            ("job_id", self.job_id.is_some()),
            ("stage", self.stage.is_some()),
            ("sms_opted_out", self.sms_opted_out.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// One page of the caller's organization's candidates, oldest first, optionally only
/// those of job `job_id` (which must be one of the organization's jobs).
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    job_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<Candidate>, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    if let Some(job_id) = job_id {
        find_job(&mut conn, organization_id, job_id).await?;
    }
    Ok(candidates::list(&mut conn, organization_id, job_id, page).await?)
}

/// Candidate `id` of the caller's organization.
pub async fn get(db: &Db, current: &CurrentUser, id: &str) -> Result<Candidate, ServiceError> {
    let mut conn = db.conn().await?;
    candidates::find(&mut conn, current.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Candidate `id` of the organization, named by a request's `candidate_id`: one that is
/// not there is an unknown reference, not a missing resource.
pub async fn referenced_candidate(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Candidate, ServiceError> {
    candidates::find(conn, organization_id, id)
        .await?
        .ok_or_else(|| ServiceError::UnknownReference {
            field: "candidate_id",
            message: "is not a candidate of this organization".to_owned(),
        })
}

/// Adds a candidate. With a job and no stage the candidate starts in the job's first
/// stage. An earlier conversation with the candidate's number that belongs to no one
/// becomes theirs.
pub async fn create(
    db: &Db,
    current: &CurrentUser,
    input: NewCandidateInput,
) -> Result<Candidate, ServiceError> {
    let organization_id = current.organization_id();
    let now = now();
    let id = new_id();
    let mut tx = db.begin().await?;
    let job = match &input.job_id {
        Some(job_id) => Some(find_job(&mut tx, organization_id, job_id).await?),
        None => None,
    };
    let stage = match (&job, input.stage.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => return Err(stage_without_job()),
        (Some(job), None) => stages_of(job)?.into_iter().next(),
        (Some(job), Some(stage)) => Some(stage_of(job, stage)?),
    };
    let candidate = Candidate {
        id: id.clone(),
        organization_id: organization_id.to_owned(),
        job_id: job.map(|job| job.id),
        stage,
        first_name: input.first_name.into_inner(),
        last_name: input.last_name.into_inner(),
        phone: input.phone.map(|phone| phone.as_str().to_owned()),
        email: input.email.map(|email| email.as_str().to_owned()),
        sms_opted_out: false,
        created_at: now,
        updated_at: now,
        not_mobile_phone: None,
    };
    candidates::insert(&mut tx, &candidate).await?;
    if let Some(phone) = &candidate.phone {
        threads::link_unowned(&mut tx, organization_id, phone, &id, now).await?;
    }
    // Names, numbers and addresses are personal data: the log says what, not whose.
    audit::record(
        &mut tx,
        current,
        AuditAction::CandidateCreated,
        &id,
        json!({
            "job_id": candidate.job_id,
            "stage": candidate.stage,
            "phone_set": candidate.phone.is_some(),
            "email_set": candidate.email.is_some(),
        }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(candidate_id = %id, created_by = %current.user.id, "candidate created");
    Ok(candidate)
}

/// Changes candidate `id`. Moving the candidate to another job without naming a stage
/// puts them in its first stage; removing the job removes the stage.
pub async fn update(
    db: &Db,
    current: &CurrentUser,
    id: &str,
    update: CandidateUpdate,
) -> Result<Candidate, ServiceError> {
    let organization_id = current.organization_id();
    let changed = update.changed_fields();
    let mut tx = db.begin().await?;
    let existing = candidates::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if changed.is_empty() {
        return Ok(existing);
    }
    // Consent: anyone may record an opt-out, only an admin may undo one (a candidate
    // opts back in themselves by texting START).
    if update.sms_opted_out == Some(false) && existing.sms_opted_out && current.role != Role::Admin
    {
        return Err(ServiceError::Forbidden);
    }
    let now = now();

    let (job, job_changed) = match &update.job_id {
        None => (None, false),
        Some(None) => (None, existing.job_id.is_some()),
        Some(Some(job_id)) => (
            Some(find_job(&mut tx, organization_id, job_id).await?),
            existing.job_id.as_deref() != Some(job_id.as_str()),
        ),
    };
    let job = match (&update.job_id, job) {
        (Some(_), job) => job,
        // The job stays: load it only when a stage must be checked against it.
        (None, _) => match (&existing.job_id, &update.stage) {
            (Some(job_id), Some(Some(_))) => {
                Some(find_job(&mut tx, organization_id, job_id).await?)
            }
            _ => None,
        },
    };
    let stage: Option<Option<String>> = match (&update.stage, &job) {
        // The request itself removes the job.
        (Some(Some(_)), None) if update.job_id.is_some() => return Err(stage_without_job()),
        (Some(Some(_)), None) => {
            return Err(ServiceError::Conflict {
                kind: ProblemKind::StageWithoutJob,
                detail: "The candidate has no job, so no stage: send a job_id with the stage."
                    .to_owned(),
            });
        }
        (Some(Some(stage)), Some(job)) => Some(Some(stage_of(job, stage)?)),
        (Some(None), _) => Some(None),
        (None, Some(job)) if job_changed => Some(stages_of(job)?.into_iter().next()),
        (None, None) if job_changed => Some(None),
        (None, _) => None,
    };

    let details = json!({
        "changed": changed,
        "job_id": update.job_id,
        "stage": stage,
        "sms_opted_out": update.sms_opted_out,
    });
    let new_phone = match &update.phone {
        Some(Some(phone)) => Some(phone.as_str().to_owned()),
        _ => None,
    };
    let changes = CandidateChanges {
        job_id: update.job_id,
        stage,
        first_name: update.first_name.map(PersonName::into_inner),
        last_name: update.last_name.map(PersonName::into_inner),
        phone: update
            .phone
            .map(|phone| phone.map(|phone| phone.as_str().to_owned())),
        email: update
            .email
            .map(|email| email.map(|email| email.as_str().to_owned())),
        // Consent changes go through the consent history below.
        sms_opted_out: None,
        updated_at: Some(now),
    };
    if !candidates::update(&mut tx, organization_id, id, &changes).await? {
        return Err(ServiceError::NotFound);
    }
    if let Some(opted_out) = update.sms_opted_out {
        let event = ConsentEvent {
            id: new_id(),
            organization_id: organization_id.to_owned(),
            candidate_id: id.to_owned(),
            opted_out,
            source: "user".to_owned(),
            message_id: None,
            created_at: now,
        };
        consent::change(&mut tx, &event).await?;
    }
    if let Some(phone) = &new_phone {
        threads::link_unowned(&mut tx, organization_id, phone, id, now).await?;
    }
    audit::record(&mut tx, current, AuditAction::CandidateUpdated, id, details).await?;
    let candidate = candidates::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    tracing::info!(candidate_id = %id, changed_by = %current.user.id, ?changed, "candidate updated");
    Ok(candidate)
}

/// Job `job_id` of the organization, or a refused `job_id` field.
async fn find_job(
    conn: &mut DbConn,
    organization_id: &str,
    job_id: &str,
) -> Result<Job, ServiceError> {
    jobs::find(conn, organization_id, job_id)
        .await?
        .ok_or_else(unknown_job)
}

/// The job's own spelling of `stage` (matched ignoring case and surrounding spaces), or
/// an unknown reference listing the job's stages: like an id, a stage names something
/// that exists or not, which no schema can say.
fn stage_of(job: &Job, stage: &str) -> Result<String, ServiceError> {
    let stages = stages_of(job)?;
    let wanted = stage.trim().to_lowercase();
    stages
        .iter()
        .find(|name| name.to_lowercase() == wanted)
        .cloned()
        .ok_or_else(|| ServiceError::UnknownReference {
            field: "stage",
            message: format!("is not one of the job's stages: {}", stages.join(", ")),
        })
}

fn unknown_job() -> ServiceError {
    ServiceError::UnknownReference {
        field: "job_id",
        message: "is not a job of this organization".to_owned(),
    }
}

fn stage_without_job() -> ServiceError {
    ServiceError::invalid_field(
        "stage",
        "needs a job: only a candidate with a job_id has a stage",
    )
}
