//! Candidates: names, phone (E.164), job and stage, SMS consent.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::PageRequest;
use crate::repo::organization_rows;
use crate::schema::candidates;
use crate::{DbConn, PersistenceError};

/// A stored candidate.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = candidates)]
pub struct Candidate {
    pub id: String,
    pub organization_id: String,
    pub job_id: Option<String>,
    pub stage: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub sms_opted_out: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The number a provider found cannot take SMS; the candidate is flagged while
    /// `phone` is still that number.
    pub not_mobile_phone: Option<String>,
}

impl Candidate {
    /// Whether a provider found the candidate's current number cannot take SMS.
    pub fn phone_not_mobile(&self) -> bool {
        self.phone.is_some() && self.phone == self.not_mobile_phone
    }
}

/// Changes to a candidate; `None` keeps a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = candidates)]
pub struct CandidateChanges {
    pub job_id: Option<Option<String>>,
    pub stage: Option<Option<String>>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub sms_opted_out: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

organization_rows!(@insert candidates, Candidate, "candidate");
organization_rows!(@find candidates, Candidate, "candidate");
organization_rows!(@find_many candidates, Candidate, "candidate");

/// The organization's candidates of job `job_id`, oldest first.
pub async fn for_job(
    conn: &mut DbConn,
    organization_id: &str,
    job_id: &str,
) -> Result<Vec<Candidate>, PersistenceError> {
    Ok(run!(conn, |c| candidates::table
        .filter(candidates::organization_id.eq(organization_id))
        .filter(candidates::job_id.eq(job_id))
        .order(candidates::id.asc())
        .select(Candidate::as_select())
        .load(c)
        .await)?)
}

/// One page of the organization's candidates, optionally of one job.
pub async fn list(
    conn: &mut DbConn,
    organization_id: &str,
    job_id: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<Candidate>, PersistenceError> {
    let after = page.after.clone().unwrap_or_default();
    Ok(run!(conn, |c| {
        let mut query = candidates::table
            .filter(candidates::organization_id.eq(organization_id))
            .filter(candidates::id.gt(&after))
            .into_boxed();
        if let Some(job_id) = job_id {
            query = query.filter(candidates::job_id.eq(job_id));
        }
        query
            .order(candidates::id.asc())
            .limit(page.limit)
            .select(Candidate::as_select())
            .load(c)
            .await
    })?)
}

/// Applies `changes` to candidate `id`; false when there is no such candidate.
pub async fn update(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    changes: &CandidateChanges,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        candidates::table
            .filter(candidates::organization_id.eq(organization_id))
            .filter(candidates::id.eq(id))
    )
    .set(changes)
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

/// The organization's candidates whose phone is one of `phones`, most recently updated
/// first.
pub async fn find_by_phones(
    conn: &mut DbConn,
    organization_id: &str,
    phones: &[String],
) -> Result<Vec<Candidate>, PersistenceError> {
    let mut found = Vec::new();
    for chunk in phones.chunks(500) {
        let rows: Vec<Candidate> = run!(conn, |c| candidates::table
            .filter(candidates::organization_id.eq(organization_id))
            .filter(candidates::phone.eq_any(chunk))
            .order((candidates::updated_at.desc(), candidates::id.desc()))
            .select(Candidate::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}
