//! The audit log: who changed what, when. Never holds a secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::repo::PageRequest;
use crate::schema::audit_log;
use crate::{DbConn, PersistenceError};

/// One recorded change.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: String,
    pub organization_id: String,
    pub actor_user_id: Option<String>,
    pub action: String,
    pub target: String,
    /// JSON object with the changed fields.
    pub details: String,
    pub created_at: NaiveDateTime,
}

/// Records `entry`.
pub async fn insert(conn: &mut DbConn, entry: &AuditEntry) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(c)
        .await)?;
    Ok(())
}

/// One page of the organization's log, newest first; `after` is the last id of the
/// previous page.
pub async fn list(
    conn: &mut DbConn,
    organization_id: &str,
    page: &PageRequest,
) -> Result<Vec<AuditEntry>, PersistenceError> {
    // Ids are lower-case UUIDs, so "~" sorts after every one of them.
    let before = page.after.clone().unwrap_or_else(|| "~".to_owned());
    Ok(run!(conn, |c| audit_log::table
        .filter(audit_log::organization_id.eq(organization_id))
        .filter(audit_log::id.lt(&before))
        .order(audit_log::id.desc())
        .limit(page.limit)
        .select(AuditEntry::as_select())
        .load(c)
        .await)?)
}
