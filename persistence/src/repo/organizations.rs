//! Organizations (tenants).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::organizations;
use crate::{DbConn, PersistenceError};

/// A stored organization.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub default_country: String,
    pub timezone: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The organization's own daily send cap; `None` follows the service's default.
    pub daily_send_cap: Option<i32>,
    /// Quiet hours' start, `HH:MM`; set together with `quiet_hours_end` or not at all.
    pub quiet_hours_start: Option<String>,
    /// Quiet hours' end, `HH:MM`.
    pub quiet_hours_end: Option<String>,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    pub name: Option<String>,
    pub default_country: Option<String>,
    pub timezone: Option<String>,
    /// `Some(None)` goes back to the service's default.
    pub daily_send_cap: Option<Option<i32>>,
    /// `Some(None)` removes quiet hours (with `quiet_hours_end`).
    pub quiet_hours_start: Option<Option<String>>,
    pub quiet_hours_end: Option<Option<String>>,
    pub updated_at: NaiveDateTime,
}

/// Stores a new organization.
pub async fn insert(
    conn: &mut DbConn,
    organization: &Organization,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(organizations::table)
        .values(organization)
        .execute(c)
        .await)?;
    Ok(())
}

/// The organization with `id`.
pub async fn find(conn: &mut DbConn, id: &str) -> Result<Option<Organization>, PersistenceError> {
    Ok(run!(conn, |c| organizations::table
        .find(id)
        .select(Organization::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Applies `changes` to the organization with `id`.
pub async fn update(
    conn: &mut DbConn,
    id: &str,
    changes: &OrganizationChanges,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(organizations::table.find(id))
        .set(changes)
        .execute(c)
        .await)?;
    Ok(())
}

/// True when at least one organization exists.
pub async fn any_exist(conn: &mut DbConn) -> Result<bool, PersistenceError> {
    Ok(run!(conn, |c| diesel::select(diesel::dsl::exists(
        organizations::table.select(organizations::id)
    ))
    .get_result(c)
    .await)?)
}

/// Serialises changes to one organization's settings and users until the transaction
/// ends. PostgreSQL locks the organization's row; SQLite transactions already hold the
/// database's write lock from `BEGIN IMMEDIATE`. `FOR NO KEY UPDATE`, not `FOR UPDATE`:
/// rows that reference the organization (a bulk send's messages, written while holding
/// their provider's integration) may still be inserted, so that a deactivation, which
/// takes this lock and then the integration's, never deadlocks with such a writer.
pub async fn lock(conn: &mut DbConn, id: &str) -> Result<(), PersistenceError> {
    if let DbConn::Postgres(object) = conn {
        organizations::table
            .find(id)
            .select(organizations::id)
            .for_no_key_update()
            .first::<String>(&mut **object)
            .await
            .optional()?;
    }
    Ok(())
}
