//! `GET /audit-log` (admins).

use actix_web::get;
use actix_web::web::{Data, Json, Query};
use chrono::{DateTime, Utc};
use nextal_openapi::Problem;
use nextal_persistence::repo::audit::AuditEntry;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::AdminUser;
use crate::pagination::{PageQuery, finish_page};
use crate::routes::refusals::{AdminsOnly, NoSession};
use crate::routes::schemas::utc;
use crate::services::audit;
use crate::state::AppState;

/// One recorded change. Never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEntryBody {
    #[schema(format = Uuid)]
    id: String,
    /// The admin who made the change.
    #[schema(format = Uuid)]
    actor_user_id: Option<String>,
    /// What was done.
    #[schema(value_type = nextal_domain::AuditAction)]
    action: String,
    /// What it was done to: a provider, a user id, `organization`.
    #[schema(example = json!(nextal_domain::ProviderKind::ALL[0]))]
    target: String,
    /// The changed fields.
    #[schema(value_type = Object, example = json!({"active": true, "phone_number": "+61411111111"}))]
    details: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<AuditEntry> for AuditEntryBody {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            actor_user_id: entry.actor_user_id,
            action: entry.action,
            target: entry.target,
            details: serde_json::from_str(&entry.details).unwrap_or(serde_json::Value::Null),
            created_at: utc(entry.created_at),
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    items: Vec<AuditEntryBody>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    next_cursor: Option<String>,
}

/// The organization's audit log, newest first.
#[utoipa::path(
    tag = "audit",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        NoSession,
        AdminsOnly,
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/audit-log")]
pub async fn list_audit_log(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    query: Query<PageQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let page = query.into_inner().into_request()?;
    let rows = audit::list(&state.db, &admin, &page).await?;
    let (rows, next_cursor) = finish_page(rows, &page, |entry| entry.id.as_str());
    Ok(Json(AuditPage {
        items: rows.into_iter().map(AuditEntryBody::from).collect(),
        next_cursor,
    }))
}
