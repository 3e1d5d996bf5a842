//! Jobs: only what the kanban board needs.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::PageRequest;
use crate::schema::jobs;
use crate::{DbConn, PersistenceError};

/// A stored job; `stages` is a JSON array of stage names in board order.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = jobs)]
pub struct Job {
    pub id: String,
    pub organization_id: String,
    pub title: String,
    pub stages: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Stores a new job.
pub async fn insert(conn: &mut DbConn, job: &Job) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(jobs::table)
        .values(job)
        .execute(c)
        .await)?;
    Ok(())
}

/// Job `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Job>, PersistenceError> {
    Ok(run!(conn, |c| jobs::table
        .filter(jobs::organization_id.eq(organization_id))
        .filter(jobs::id.eq(id))
        .select(Job::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The organization's jobs among `ids` (any order; missing ids are absent).
pub async fn find_many(
    conn: &mut DbConn,
    organization_id: &str,
    ids: &[String],
) -> Result<Vec<Job>, PersistenceError> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded IN lists keep every backend under its bind-parameter limit.
    for chunk in ids.chunks(500) {
        let rows: Vec<Job> = run!(conn, |c| jobs::table
            .filter(jobs::organization_id.eq(organization_id))
            .filter(jobs::id.eq_any(chunk))
            .select(Job::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}

/// One page of the organization's jobs in creation order.
pub async fn list(
    conn: &mut DbConn,
    organization_id: &str,
    page: &PageRequest,
) -> Result<Vec<Job>, PersistenceError> {
    let after = page.after.clone().unwrap_or_default();
    Ok(run!(conn, |c| jobs::table
        .filter(jobs::organization_id.eq(organization_id))
        .filter(jobs::id.gt(&after))
        .order(jobs::id.asc())
        .limit(page.limit)
        .select(Job::as_select())
        .load(c)
        .await)?)
}
