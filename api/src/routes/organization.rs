//! `GET/PATCH /organization`.

use actix_web::web::{Data, Json};
use actix_web::{get, patch};
use chrono::{DateTime, NaiveDate, Utc};
use nextal_domain::{
    ClockTime, CountryCode, DailySendCap, Invalid, OrganizationName, QuietHours, Timezone,
    Validation,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::extract::{AdminUser, ApiJson, CurrentUser};
use crate::routes::refusals::{AdminsOnly, BodyRefusals, InvalidFields, NoSession};
use crate::routes::schemas::{nullable, nullable_whole_number, utc};
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
    /// National phone numbers are read in this country.
    #[schema(value_type = CountryCode)]
    default_country: String,
    /// The daily send cap counts the organization's calendar days in this zone.
    #[schema(value_type = Timezone)]
    timezone: String,
    /// The organization's own daily send cap; null follows the service's default
    /// (`NEXTAL_DAILY_SEND_CAP`). `daily_sends.cap` is the one in force.
    #[schema(minimum = 0, maximum = 1_000_000)]
    daily_send_cap: Option<u32>,
    daily_sends: DailySendsBody,
    /// When no SMS goes out, read in each candidate's local time; null: none.
    quiet_hours: Option<QuietHoursBody>,
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

/// A daily window, `start` up to `end`, read on the candidate's local wall clock: the
/// time zone of their phone number's country when that country has one, else the
/// organization's `timezone`. It crosses midnight when `end` comes before `start`. A
/// send (single, bulk or scheduled) that would go out inside it is held until its end
/// (status `scheduled`, `status_reason` `quiet_hours`), except a reply in a thread whose
/// candidate wrote within the last hour, and the test SMS of an integration.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QuietHours)]
pub struct QuietHoursBody {
    #[schema(example = "21:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start: String,
    #[schema(example = "08:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: String,
}

/// Quiet hours to set: two different times `HH:MM` (00:00 to 23:59).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NewQuietHours)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursRequest {
    #[schema(value_type = String, example = "21:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    start: Option<String>,
    #[schema(value_type = String, example = "08:00", pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    end: Option<String>,
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
            quiet_hours: organization
                .quiet_hours_start
                .zip(organization.quiet_hours_end)
                .map(|(start, end)| QuietHoursBody { start, end }),
            created_at: utc(organization.created_at),
            updated_at: utc(organization.updated_at),
        }
    }
}

/// Settings to change; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = OrganizationChanges)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(
        example = "Acme Recruiting",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,198}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f])?[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    name: Option<String>,
    /// National phone numbers are read in this country; null leaves it unchanged.
    #[schema(value_type = Option<CountryCode>)]
    default_country: Option<String>,
    /// The daily send cap counts calendar days in this zone; null leaves it unchanged.
    #[schema(value_type = Option<Timezone>)]
    timezone: Option<String>,
    /// The organization's own daily send cap, 0 to 1,000,000 messages per calendar day
    /// (0 stops sending); null goes back to the service's default.
    #[serde(default, deserialize_with = "nullable_whole_number")]
    #[schema(value_type = Option<u32>, example = 500, minimum = 0, maximum = 1_000_000)]
    daily_send_cap: Option<Option<i64>>,
    /// The organization's quiet hours; null removes them. Messages already held keep
    /// their `send_at`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(nullable)]
    quiet_hours: Option<Option<QuietHoursRequest>>,
}

/// The caller's organization (any role).
#[utoipa::path(
    tag = "organization",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organization", body = OrganizationBody),
        NoSession,
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

/// Change the organization's name, default country, time zone, daily send cap or quiet
/// hours (admins).
#[utoipa::path(
    tag = "organization",
    security(("bearer" = [])),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "The updated organization", body = OrganizationBody),
        BodyRefusals,
        NoSession,
        AdminsOnly,
        InvalidFields,
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
        quiet_hours: body
            .quiet_hours
            .map(|quiet| quiet.and_then(|quiet| quiet_hours(&mut validation, quiet))),
    };
    validation.finish()?;
    Ok(Json(
        organization::update(&state.db, state.daily_send_cap, &admin, update)
            .await?
            .into(),
    ))
}

/// Quiet hours from the request, each field's problem recorded in `validation`.
fn quiet_hours(validation: &mut Validation, request: QuietHoursRequest) -> Option<QuietHours> {
    let time = |raw: Option<String>| {
        raw.ok_or_else(|| Invalid::new("is required"))
            .and_then(|raw| ClockTime::parse(&raw))
    };
    let start = validation.check("quiet_hours.start", time(request.start));
    let end = validation.check("quiet_hours.end", time(request.end));
    let (start, end) = start.zip(end)?;
    validation.check("quiet_hours.end", QuietHours::new(start, end))
}
