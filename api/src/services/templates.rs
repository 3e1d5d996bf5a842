//! SMS templates: text with merge fields, rendered per candidate.

use nextal_domain::AuditAction;
use std::collections::HashMap;

use nextal_domain::{MergeValues, Segmentation, Template, TemplateName, segment};
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::candidates::Candidate;
use nextal_persistence::repo::jobs;
use nextal_persistence::repo::organizations::{self, Organization};
use nextal_persistence::repo::templates::{self, SmsTemplate};
use nextal_persistence::repo::users::User;
use nextal_persistence::{Db, DbConn};
use serde_json::json;

use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::candidates::referenced_candidate;
use crate::services::{ServiceError, new_id, now};

/// A template's name and body, already validated: the body is stored as written, and
/// only after [`Template::parse`] accepted it.
pub struct TemplateInput {
    pub name: TemplateName,
    pub body: String,
}

/// A template rendered for one candidate.
pub struct Preview {
    pub text: String,
    pub segmentation: Segmentation,
}

/// The parsed form of a stored template. Stored bodies were parsed before they were
/// saved, so a failure here is a bug (or a merge field that was since removed).
pub fn parse_stored(template: &SmsTemplate) -> Result<Template, ServiceError> {
    Template::parse(&template.body).map_err(|invalid| {
        ServiceError::Internal(anyhow::anyhow!(
            "stored template {} no longer parses: {invalid}",
            template.id
        ))
    })
}

/// The values a template is rendered with when `recruiter` texts `candidate`.
/// `{{job.title}}` is empty when the candidate has no job.
pub async fn merge_values(
    conn: &mut DbConn,
    organization: &Organization,
    recruiter: &User,
    candidate: &Candidate,
) -> Result<MergeValues, ServiceError> {
    let job_title = match &candidate.job_id {
        Some(job_id) => jobs::find(conn, &organization.id, job_id)
            .await?
            .map(|job| job.title),
        None => None,
    };
    Ok(values_for(organization, recruiter, candidate, job_title))
}

/// The merge values for `candidate`, texted by `recruiter`, whose job (if any) is titled
/// `job_title`.
pub fn values_for(
    organization: &Organization,
    recruiter: &User,
    candidate: &Candidate,
    job_title: Option<String>,
) -> MergeValues {
    MergeValues {
        candidate_first_name: candidate.first_name.clone(),
        candidate_last_name: candidate.last_name.clone(),
        job_title,
        recruiter_first_name: recruiter.first_name.clone(),
        organization_name: organization.name.clone(),
    }
}

/// The titles of the organization's jobs among `job_ids`, by job id, in one query per
/// 500 ids (for rendering a template for many candidates). Unknown ids are absent.
pub async fn job_titles(
    conn: &mut DbConn,
    organization_id: &str,
    job_ids: &[String],
) -> Result<HashMap<String, String>, ServiceError> {
    let mut unique: Vec<String> = job_ids.to_vec();
    unique.sort_unstable();
    unique.dedup();
    Ok(jobs::find_many(conn, organization_id, &unique)
        .await?
        .into_iter()
        .map(|job| (job.id, job.title))
        .collect())
}

/// One page of the caller's organization's templates, oldest first.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    page: &PageRequest,
) -> Result<Vec<SmsTemplate>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(templates::list(&mut conn, current.organization_id(), page).await?)
}

/// Template `id` of the caller's organization.
pub async fn get(db: &Db, current: &CurrentUser, id: &str) -> Result<SmsTemplate, ServiceError> {
    let mut conn = db.conn().await?;
    templates::find(&mut conn, current.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// Adds a template.
pub async fn create(
    db: &Db,
    current: &CurrentUser,
    input: TemplateInput,
) -> Result<SmsTemplate, ServiceError> {
    let now = now();
    let template = SmsTemplate {
        id: new_id(),
        organization_id: current.organization_id().to_owned(),
        name: input.name.into_inner(),
        body: input.body,
        created_at: now,
        updated_at: now,
    };
    let mut tx = db.begin().await?;
    templates::insert(&mut tx, &template).await?;
    audit::record(
        &mut tx,
        current,
        AuditAction::TemplateCreated,
        &template.id,
        json!({ "name": template.name }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(template_id = %template.id, created_by = %current.user.id, "template created");
    Ok(template)
}

/// Replaces the name and body of template `id`.
pub async fn update(
    db: &Db,
    current: &CurrentUser,
    id: &str,
    input: TemplateInput,
) -> Result<SmsTemplate, ServiceError> {
    let organization_id = current.organization_id();
    let name = input.name.into_inner();
    let mut tx = db.begin().await?;
    if !templates::update(&mut tx, organization_id, id, &name, &input.body, now()).await? {
        return Err(ServiceError::NotFound);
    }
    audit::record(
        &mut tx,
        current,
        AuditAction::TemplateUpdated,
        id,
        json!({ "name": name }),
    )
    .await?;
    let template = templates::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    tx.commit().await?;
    tracing::info!(template_id = %id, changed_by = %current.user.id, "template updated");
    Ok(template)
}

/// Deletes template `id`. Messages already sent from it keep their text.
pub async fn delete(db: &Db, current: &CurrentUser, id: &str) -> Result<(), ServiceError> {
    let organization_id = current.organization_id();
    let mut tx = db.begin().await?;
    let template = templates::find(&mut tx, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    if !templates::delete(&mut tx, organization_id, id).await? {
        return Err(ServiceError::NotFound);
    }
    audit::record(
        &mut tx,
        current,
        AuditAction::TemplateDeleted,
        id,
        json!({ "name": template.name }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(template_id = %id, deleted_by = %current.user.id, "template deleted");
    Ok(())
}

/// Template `id` rendered for candidate `candidate_id` as sent by the caller. An unknown
/// template is not found; an unknown candidate a refused `candidate_id` field.
pub async fn preview(
    db: &Db,
    current: &CurrentUser,
    id: &str,
    candidate_id: &str,
) -> Result<Preview, ServiceError> {
    let organization_id = current.organization_id();
    let mut conn = db.conn().await?;
    let stored = templates::find(&mut conn, organization_id, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let template = parse_stored(&stored)?;
    let candidate = referenced_candidate(&mut conn, organization_id, candidate_id).await?;
    let organization = organizations::find(&mut conn, organization_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let values = merge_values(&mut conn, &organization, &current.user, &candidate).await?;
    let text = template.render(&values);
    let segmentation = segment(&text);
    Ok(Preview { text, segmentation })
}
