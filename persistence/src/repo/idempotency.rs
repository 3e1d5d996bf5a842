//! Stored responses of requests sent with an `Idempotency-Key`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::idempotency_keys;
use crate::{DbConn, PersistenceError};

/// The first response given for a key.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct StoredResponse {
    pub organization_id: String,
    pub key: String,
    /// SHA-256 of the request, to tell a replay from a different request reusing the key.
    pub request_hash: Vec<u8>,
    pub response_status: i32,
    pub response_body: String,
    pub created_at: NaiveDateTime,
}

/// The response stored for `key`, if any.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    key: &str,
) -> Result<Option<StoredResponse>, PersistenceError> {
    Ok(run!(conn, |c| idempotency_keys::table
        .filter(idempotency_keys::organization_id.eq(organization_id))
        .filter(idempotency_keys::key.eq(key))
        .select(StoredResponse::as_select())
        .first(c)
        .await
        .optional())?)
}

/// Stores the response for a key; a concurrent request with the same key makes this a
/// `UniqueViolation`.
pub async fn insert(conn: &mut DbConn, stored: &StoredResponse) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(idempotency_keys::table)
        .values(stored)
        .execute(c)
        .await)?;
    Ok(())
}
