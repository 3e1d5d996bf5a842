//! Recording and reading the audit log.

use nextal_domain::AuditAction;
use nextal_persistence::repo::PageRequest;
use nextal_persistence::repo::audit::{self, AuditEntry};
use nextal_persistence::{Db, DbConn};

use crate::services::auth::CurrentUser;
use crate::services::{ServiceError, new_id, now};

/// Records that `actor` did `action` to `target`; `details` must never hold a secret.
pub async fn record(
    conn: &mut DbConn,
    actor: &CurrentUser,
    action: AuditAction,
    target: &str,
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    audit::insert(
        conn,
        &AuditEntry {
            id: new_id(),
            organization_id: actor.organization_id().to_owned(),
            actor_user_id: Some(actor.user.id.clone()),
            action: action.as_str().to_owned(),
            target: target.to_owned(),
            details: details.to_string(),
            created_at: now(),
        },
    )
    .await?;
    Ok(())
}

/// One page of the caller's organization's log, newest first.
pub async fn list(
    db: &Db,
    current: &CurrentUser,
    page: &PageRequest,
) -> Result<Vec<AuditEntry>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(audit::list(&mut conn, current.organization_id(), page).await?)
}
