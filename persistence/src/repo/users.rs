//! Users, always within one organization.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::organization_rows;
use crate::schema::users;
use crate::{DbConn, PersistenceError};

/// A stored user, without the password hash.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// A user to store, with the PHC string of their password hash.
#[derive(Clone, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser {
    #[diesel(embed)]
    pub user: User,
    pub password_hash: String,
}

/// Fields an admin may change; `None` leaves a field as it is.
#[derive(Clone, Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<String>,
    pub active: Option<bool>,
    pub password_hash: Option<String>,
    pub updated_at: Option<NaiveDateTime>,
}

organization_rows!(@insert users, NewUser, "user");
organization_rows!(@find users, User, "user");
organization_rows!(@list users, User, "user");

/// The user signing in with `email` (already normalized) and their password hash.
pub async fn find_for_login(
    conn: &mut DbConn,
    email: &str,
) -> Result<Option<(User, String)>, PersistenceError> {
    Ok(run!(conn, |c| users::table
        .filter(users::email.eq(email))
        .select((User::as_select(), users::password_hash))
        .first(c)
        .await
        .optional())?)
}

/// Applies `changes` to user `id` of `organization_id`; false when there is no such user.
pub async fn update(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
    changes: &UserChanges,
) -> Result<bool, PersistenceError> {
    let updated = run!(conn, |c| diesel::update(
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::id.eq(id))
    )
    .set(changes)
    .execute(c)
    .await)?;
    Ok(updated > 0)
}

/// How many active admins the organization has.
pub async fn count_active_admins(
    conn: &mut DbConn,
    organization_id: &str,
) -> Result<i64, PersistenceError> {
    Ok(run!(conn, |c| users::table
        .filter(users::organization_id.eq(organization_id))
        .filter(users::role.eq("admin"))
        .filter(users::active.eq(true))
        .count()
        .get_result(c)
        .await)?)
}
