//! The caller's organization and its settings.

use nextal_domain::{CountryCode, OrganizationName, Timezone};
use nextal_persistence::repo::organizations::{self, Organization, OrganizationChanges};
use serde_json::json;

use crate::error::ApiError;
use crate::services::audit;
use crate::services::auth::CurrentUser;
use crate::services::now;
use crate::state::AppState;

/// Settings to change, already validated; `None` keeps the current value.
#[derive(Default)]
pub struct OrganizationUpdate {
    pub name: Option<OrganizationName>,
    pub default_country: Option<CountryCode>,
    pub timezone: Option<Timezone>,
}

/// The caller's organization.
pub async fn get(state: &AppState, current: &CurrentUser) -> Result<Organization, ApiError> {
    let mut conn = state.db.conn().await?;
    organizations::find(&mut conn, current.organization_id())
        .await?
        .ok_or(ApiError::NotFound)
}

/// Changes the caller's organization's settings.
pub async fn update(
    state: &AppState,
    current: &CurrentUser,
    update: OrganizationUpdate,
) -> Result<Organization, ApiError> {
    let id = current.organization_id();
    let changes = OrganizationChanges {
        name: update.name.map(|name| name.as_str().to_owned()),
        default_country: update
            .default_country
            .map(|country| country.as_str().to_owned()),
        timezone: update.timezone.map(|timezone| timezone.as_str().to_owned()),
        updated_at: now(),
    };
    let mut tx = state.db.begin().await?;
    organizations::update(&mut tx, id, &changes).await?;
    audit::record(
        &mut tx,
        current,
        "organization.updated",
        "organization",
        json!({
            "name": changes.name,
            "default_country": changes.default_country,
            "timezone": changes.timezone,
        }),
    )
    .await?;
    let organization = organizations::find(&mut tx, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tx.commit().await?;
    tracing::info!(organization_id = %id, changed_by = %current.user.id, "organization updated");
    Ok(organization)
}

/// The country national phone numbers are read in for the caller's organization.
pub async fn default_country(
    state: &AppState,
    current: &CurrentUser,
) -> Result<CountryCode, ApiError> {
    let organization = get(state, current).await?;
    Ok(CountryCode::parse(&organization.default_country).unwrap_or(CountryCode::DEFAULT))
}
