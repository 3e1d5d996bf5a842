//! Bulk sends from the kanban board.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nextal_domain::MessageStatus;

use crate::db::run;
use crate::schema::{sms_batches, sms_messages};
use crate::{DbConn, PersistenceError};

/// A stored batch; `skipped` is a JSON array of `{candidate_id, reason}`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_batches)]
pub struct Batch {
    pub id: String,
    pub organization_id: String,
    pub created_by: String,
    pub requested: i32,
    pub accepted: i32,
    pub skipped: String,
    pub created_at: NaiveDateTime,
}

/// Stores a new batch.
pub async fn insert(conn: &mut DbConn, batch: &Batch) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(sms_batches::table)
        .values(batch)
        .execute(c)
        .await)?;
    Ok(())
}

/// Batch `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Batch>, PersistenceError> {
    Ok(run!(conn, |c| sms_batches::table
        .filter(sms_batches::organization_id.eq(organization_id))
        .filter(sms_batches::id.eq(id))
        .select(Batch::as_select())
        .first(c)
        .await
        .optional())?)
}

/// How many of the batch's messages are in each status.
pub async fn status_counts(
    conn: &mut DbConn,
    id: &str,
) -> Result<Vec<(MessageStatus, i64)>, PersistenceError> {
    Ok(run!(conn, |c| sms_messages::table
        .filter(sms_messages::batch_id.eq(id))
        .group_by(sms_messages::status)
        .select((sms_messages::status, diesel::dsl::count_star()))
        .load(c)
        .await)?)
}
