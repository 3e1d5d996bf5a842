//! `GET/PATCH /organization`.

use actix_web::web::{Data, Json};
use actix_web::{get, patch};
use chrono::{DateTime, NaiveDate, Utc};
use nextal_domain::{CountryCode, DailySendCap, OrganizationName, Timezone, Validation};
use nextal_openapi::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson, CurrentUser};
use crate::routes::schemas::{nullable_whole_number, utc};
use crate::services::organization::{self, OrganizationDetails, OrganizationUpdate};
use crate::services::send_caps::DailySends;
use crate::state::AppState;

/// The caller's organization.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationBody {
    #[schema(format = Uuid)]
    id: String,
    #[schema(example = "Acme Recruiting")]
    name: String,
    /// ISO 3166-1 alpha-2; national phone numbers are read in this country.
    #[schema(example = "US")]
    default_country: String,
    /// IANA time zone; the daily send cap counts the organization's calendar days in it.
    #[schema(example = "America/New_York")]
    timezone: String,
    /// The organization's own daily send cap; null follows the service's default
    /// (`NEXTAL_DAILY_SEND_CAP`). `daily_sends.cap` is the one in force.
    #[schema(minimum = 0, maximum = 1_000_000)]
    daily_send_cap: Option<u32>,
    daily_sends: DailySendsBody,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Messages sent today against the daily send cap. Every message accepted for sending
/// counts on the day it is accepted (scheduled ones included); replies received do not.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DailySends)]
pub struct DailySendsBody {
    /// The cap in force today: the organization's own, or the service's default. 0 stops
    /// sending.
    #[schema(example = 10_000)]
    cap: u32,
    /// Messages accepted for sending today.
    #[schema(example = 120)]
    sent: u32,
    /// Messages that may still be sent today.
    #[schema(example = 9_880)]
    remaining: u32,
    /// Today, in the organization's time zone.
    day: NaiveDate,
    /// When the count restarts: the organization's next midnight.
    resets_at: DateTime<Utc>,
}

impl From<DailySends> for DailySendsBody {
    fn from(sends: DailySends) -> Self {
        Self {
            cap: sends.cap,
            sent: sends.sent,
            remaining: sends.remaining(),
            day: sends.day,
            resets_at: sends.resets_at,
        }
    }
}

impl From<OrganizationDetails> for OrganizationBody {
    fn from(details: OrganizationDetails) -> Self {
        let organization = details.organization;
        Self {
            id: organization.id,
            name: organization.name,
            default_country: organization.default_country,
            timezone: organization.timezone,
            daily_send_cap: organization
                .daily_send_cap
                .and_then(|cap| u32::try_from(cap).ok()),
            daily_sends: details.daily_sends.into(),
            created_at: utc(organization.created_at),
            updated_at: utc(organization.updated_at),
        }
    }
}

/// Settings to change; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(
        example = "Acme Recruiting",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,198}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: Option<String>,
    /// An ISO 3166-1 alpha-2 code the numbering plan knows, e.g. `GB`.
    #[schema(schema_with = country_codes)]
    default_country: Option<String>,
    /// An IANA time zone, e.g. `Europe/London`.
    #[schema(schema_with = time_zones)]
    timezone: Option<String>,
    /// The organization's own daily send cap, 0 to 1,000,000 messages per calendar day
    /// (0 stops sending); null goes back to the service's default.
    #[serde(default, deserialize_with = "nullable_whole_number")]
    #[schema(value_type = Option<u32>, example = 500, minimum = 0, maximum = 1_000_000)]
    daily_send_cap: Option<Option<i64>>,
}

/// `default_country` as the contract states it: one of the codes the service accepts, or
/// null (unchanged).
fn country_codes() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            CountryCode::all()
                .map(|code| Value::from(code.as_str()))
                .chain([Value::Null]),
        ))
        .description(Some(
            "An ISO 3166-1 alpha-2 code the numbering plan knows, e.g. `GB`.",
        ))
        .build()
}

/// `timezone` as the contract states it: one of the IANA zones the service accepts, or
/// null (unchanged).
fn time_zones() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            Timezone::all_names().map(Value::from).chain([Value::Null]),
        ))
        .description(Some("An IANA time zone, e.g. `Europe/London`."))
        .build()
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
    Ok(Json(
        organization::get(&state.db, state.daily_send_cap, &current)
            .await?
            .into(),
    ))
}

/// Change the organization's name, default country, time zone or daily send cap (admins).
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
        daily_send_cap: body.daily_send_cap.map(|cap| {
            cap.and_then(|cap| validation.check("daily_send_cap", DailySendCap::parse(cap)))
        }),
    };
    validation.finish()?;
    Ok(Json(
        organization::update(&state.db, state.daily_send_cap, &admin, update)
            .await?
            .into(),
    ))
}
