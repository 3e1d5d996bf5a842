//! `GET/PATCH /organization`.

use actix_web::web::{Data, Json};
use actix_web::{get, patch};
use chrono::{DateTime, Utc};
use nextal_domain::{CountryCode, OrganizationName, Timezone, Validation};
use nextal_openapi::Problem;
use nextal_persistence::repo::organizations::Organization;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson, CurrentUser};
use crate::routes::schemas::utc;
use crate::services::organization::{self, OrganizationUpdate};
use crate::state::AppState;

/// The caller's organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationBody {
    id: String,
    #[schema(example = "Acme Recruiting")]
    name: String,
    /// ISO 3166-1 alpha-2; national phone numbers are read in this country.
    #[schema(example = "US")]
    default_country: String,
    /// IANA time zone.
    #[schema(example = "America/New_York")]
    timezone: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationBody {
    fn from(organization: Organization) -> Self {
        Self {
            id: organization.id,
            name: organization.name,
            default_country: organization.default_country,
            timezone: organization.timezone,
            created_at: utc(organization.created_at),
            updated_at: utc(organization.updated_at),
        }
    }
}

/// Settings to change; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(example = "Acme Recruiting", min_length = 1, max_length = 200)]
    name: Option<String>,
    #[schema(example = "GB", min_length = 2, max_length = 2)]
    default_country: Option<String>,
    #[schema(example = "Europe/London")]
    timezone: Option<String>,
}

/// The caller's organization (any role).
#[utoipa::path(
    tag = "organization",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/organization")]
pub async fn get_organization(
    state: Data<AppState>,
    current: CurrentUser,
) -> Result<Json<OrganizationBody>, ApiError> {
    Ok(Json(organization::get(&state, &current).await?.into()))
}

/// Change the organization's name, default country or time zone (admins).
#[utoipa::path(
    tag = "organization",
    security(("bearer" = [])),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "The updated organization", body = OrganizationBody),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/organization")]
pub async fn update_organization(
    state: Data<AppState>,
    AdminUser(admin): AdminUser,
    body: ApiJson<UpdateOrganizationRequest>,
) -> Result<Json<OrganizationBody>, ApiError> {
    let body = body.into_inner()?;
    let mut validation = Validation::new();
    let update = OrganizationUpdate {
        name: validation.check_optional("name", body.name.as_deref(), OrganizationName::parse),
        default_country: validation.check_optional(
            "default_country",
            body.default_country.as_deref(),
            CountryCode::parse,
        ),
        timezone: validation.check_optional("timezone", body.timezone.as_deref(), Timezone::parse),
    };
    validation.finish()?;
    Ok(Json(
        organization::update(&state, &admin, update).await?.into(),
    ))
}
