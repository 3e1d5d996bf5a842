//! The caller's organization and its settings.

use nextal_domain::AuditAction;
use nextal_domain::{CountryCode, DailySendCap, OrganizationName, QuietHours, Timezone};
use nextal_persistence::Db;
use nextal_persistence::repo::organizations::{self, Organization, OrganizationChanges};
use serde_json::json;

use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::send_caps::{self, DailySends};
use crate::services::{DbSource, ServiceError, now};

/// Settings to change, already validated; `None` keeps the current value.
#[derive(Default)]
pub struct OrganizationUpdate {
    pub name: Option<OrganizationName>,
    pub default_country: Option<CountryCode>,
    pub timezone: Option<Timezone>,
    /// `Some(None)` goes back to the service's default cap.
    pub daily_send_cap: Option<Option<DailySendCap>>,
    /// `Some(None)` removes quiet hours.
    pub quiet_hours: Option<Option<QuietHours>>,
}

/// An organization with its sending today.
pub struct OrganizationDetails {
    /// The stored organization.
    pub organization: Organization,
    /// Its sending today against its daily send cap.
    pub daily_sends: DailySends,
}

/// The caller's organization; `default_cap` is the service's daily send cap.
pub async fn get(
    db: &Db,
    default_cap: DailySendCap,
    current: &CurrentUser,
) -> Result<OrganizationDetails, ServiceError> {
    let mut conn = db.conn().await?;
    let organization = organizations::find(&mut conn, current.organization_id())
        .await?
        .ok_or(ServiceError::NotFound)?;
    let daily_sends = send_caps::today(&mut conn, default_cap, &organization, now()).await?;
    Ok(OrganizationDetails {
        organization,
        daily_sends,
    })
}

/// Changes the caller's organization's settings; `default_cap` is the service's daily
/// send cap.
pub async fn update(
    db: &Db,
    default_cap: DailySendCap,
    current: &CurrentUser,
    update: OrganizationUpdate,
) -> Result<OrganizationDetails, ServiceError> {
    let id = current.organization_id();
    let now = now();
    let daily_send_cap = update
        .daily_send_cap
        .map(|cap| cap.map(|cap| i32::try_from(cap.get()).unwrap_or(i32::MAX)));
    let changes = OrganizationChanges {
        name: update.name.map(|name| name.as_str().to_owned()),
        default_country: update
            .default_country
            .map(|country| country.as_str().to_owned()),
        timezone: update.timezone.map(|timezone| timezone.as_str().to_owned()),
        daily_send_cap,
        quiet_hours_start: update
            .quiet_hours
            .map(|quiet| quiet.map(|quiet| quiet.start().to_string())),
        quiet_hours_end: update
            .quiet_hours
            .map(|quiet| quiet.map(|quiet| quiet.end().to_string())),
        updated_at: now,
    };
    let mut tx = db.begin().await?;
    organizations::update(&mut tx, id, &changes).await?;
    audit::record(
        &mut tx,
        current,
        AuditAction::OrganizationUpdated,
        "organization",
        json!({
            "name": changes.name,
            "default_country": changes.default_country,
            "timezone": changes.timezone,
            // null: unchanged; "default": back to the service's default.
            "daily_send_cap": match daily_send_cap {
                None => json!(null),
                Some(None) => json!("default"),
                Some(Some(cap)) => json!(cap),
            },
            // null: unchanged; "none": removed.
            "quiet_hours": match (&changes.quiet_hours_start, &changes.quiet_hours_end) {
                (Some(Some(start)), Some(Some(end))) => json!({ "start": start, "end": end }),
                (Some(None), _) => json!("none"),
                _ => json!(null),
            },
        }),
    )
    .await?;
    let organization = organizations::find(&mut tx, id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let daily_sends = send_caps::today(&mut tx, default_cap, &organization, now).await?;
    tx.commit().await?;
    tracing::info!(organization_id = %id, changed_by = %current.user.id, "organization updated");
    Ok(OrganizationDetails {
        organization,
        daily_sends,
    })
}

/// The country national phone numbers are read in for the caller's organization.
pub async fn default_country(
    db: &impl DbSource,
    current: &CurrentUser,
) -> Result<CountryCode, ServiceError> {
    let mut conn = db.db().conn().await?;
    let organization = organizations::find(&mut conn, current.organization_id())
        .await?
        .ok_or(ServiceError::NotFound)?;
    Ok(CountryCode::parse(&organization.default_country).unwrap_or(CountryCode::DEFAULT))
}
