//! The caller's organization and its settings.

use nextal_domain::{CountryCode, OrganizationName, Timezone};
use nextal_persistence::repo::organizations::{self, Organization, OrganizationChanges};

use crate::error::ApiError;
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
    let mut conn = state.db.conn().await?;
    organizations::update(&mut conn, id, &changes).await?;
    tracing::info!(organization_id = %id, changed_by = %current.user.id, "organization updated");
    organizations::find(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)
}
