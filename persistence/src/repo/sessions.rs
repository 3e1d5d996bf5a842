//! Bearer sessions, stored by the SHA-256 of their token only.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::users::User;
use crate::schema::{sessions, users};
use crate::{DbConn, PersistenceError};

/// A stored session.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id: String,
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub organization_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

/// Stores a new session.
pub async fn insert(conn: &mut DbConn, session: &Session) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(sessions::table)
        .values(session)
        .execute(c)
        .await)?;
    Ok(())
}

/// The live session with `token_hash` and its active user: not revoked, not expired at `now`.
pub async fn find_live(
    conn: &mut DbConn,
    token_hash: &[u8],
    now: NaiveDateTime,
) -> Result<Option<(Session, User)>, PersistenceError> {
    Ok(run!(conn, |c| sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::active.eq(true))
        .select((Session::as_select(), User::as_select()))
        .first(c)
        .await
        .optional())?)
}

/// Revokes session `id`.
pub async fn revoke(
    conn: &mut DbConn,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(sessions::table.find(id))
        .set(sessions::revoked_at.eq(now))
        .execute(c)
        .await)?;
    Ok(())
}

/// Revokes every live session of `user_id`, e.g. when the user is deactivated.
pub async fn revoke_all_for_user(
    conn: &mut DbConn,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
    )
    .set(sessions::revoked_at.eq(now))
    .execute(c)
    .await)?;
    Ok(())
}
