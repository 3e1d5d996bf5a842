//! A tenant: the company whose recruiters use Nextal SMS.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use crate::validation::{Invalid, bounded_text_type};

bounded_text_type!(
    /// The organization's display name, also the `{{organization.name}}` merge field.
    OrganizationName,
    200
);

/// An ISO 3166-1 alpha-2 country with a telephone numbering plan; national phone
/// numbers are read in this country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountryCode(phonenumber::country::Id);

impl CountryCode {
    /// The country assumed when an organization has not chosen one.
    pub const DEFAULT: CountryCode = CountryCode(phonenumber::country::Id::US);

    /// Accepts an upper- or lower-case alpha-2 code known to the numbering plan.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let code = raw.trim().to_ascii_uppercase();
        let refuse = || Invalid::new("must be an ISO 3166-1 alpha-2 country code such as US or GB");
        if code.len() != 2 || !code.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(refuse());
        }
        phonenumber::country::Id::from_str(&code)
            .map(Self)
            .map_err(|_| refuse())
    }

    /// The alpha-2 code.
    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// Every code [`CountryCode::parse`] accepts, upper-case, in alphabetical order.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        (b'A'..=b'Z')
            .flat_map(|first| (b'A'..=b'Z').map(move |second| [first, second]))
            .filter_map(|code| std::str::from_utf8(&code).ok().map(str::to_owned))
            .filter_map(|code| phonenumber::country::Id::from_str(&code).ok())
            .map(CountryCode)
    }

    /// The numbering-plan identifier, for phone-number parsing.
    pub fn id(&self) -> phonenumber::country::Id {
        self.0
    }
}

/// An IANA time zone such as `Europe/London`; schedules are shown in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timezone(chrono_tz::Tz);

impl Timezone {
    /// The zone assumed when an organization has not chosen one.
    pub const DEFAULT: Timezone = Timezone(chrono_tz::Tz::UTC);

    /// Accepts a name from the IANA time zone database.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        chrono_tz::Tz::from_str(raw.trim())
            .map(Self)
            .map_err(|_| Invalid::new("must be an IANA time zone such as America/New_York"))
    }

    /// The IANA name.
    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    pub(crate) fn from_tz(tz: chrono_tz::Tz) -> Self {
        Self(tz)
    }

    pub(crate) fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    /// Every name [`Timezone::parse`] accepts, as the time zone database spells it.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
    }

    /// The calendar day `at` falls on in this zone, and the instant that day ends: the
    /// zone's next midnight, or, where a daylight-saving change skips midnight, the first
    /// local time of the next day that exists.
    pub fn day_of(&self, at: DateTime<Utc>) -> (NaiveDate, DateTime<Utc>) {
        let day = at.with_timezone(&self.0).date_naive();
        let ends_at = day.succ_opt().and_then(|next| {
            (0..24).find_map(|hour| {
                let start = next.and_hms_opt(hour, 0, 0)?;
                // `earliest`: a midnight that happens twice ends the day the first time.
                self.0.from_local_datetime(&start).earliest()
            })
        });
        (
            day,
            ends_at.map_or(at + TimeDelta::days(1), |end| end.with_timezone(&Utc)),
        )
    }
}

/// How many messages an organization may send in one of its calendar days; 0 stops
/// sending altogether.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailySendCap(u32);

impl DailySendCap {
    /// The highest cap that may be set.
    pub const MAX: u32 = 1_000_000;

    /// Accepts 0 to [`Self::MAX`].
    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        u32::try_from(raw)
            .ok()
            .filter(|cap| *cap <= Self::MAX)
            .map(Self)
            .ok_or_else(|| Invalid::new(format!("must be between 0 and {}", Self::MAX)))
    }

    /// The number of messages.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The contract's `CountryCode`: every code [`CountryCode::parse`] accepts.
#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(
                CountryCode::all().map(|code| code.as_str().to_owned()),
            ))
            .description(Some(
                "An ISO 3166-1 alpha-2 code the numbering plan knows, e.g. `GB`.",
            ))
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for CountryCode {}

/// The contract's `TimeZone`: every name [`Timezone::parse`] accepts.
#[cfg(feature = "utoipa")]
impl utoipa::PartialSchema for Timezone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Timezone::all_names()))
            .description(Some("An IANA time zone, e.g. `Europe/London`."))
            .into()
    }
}

#[cfg(feature = "utoipa")]
impl utoipa::ToSchema for Timezone {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("TimeZone")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_are_checked_against_the_numbering_plan() {
        assert_eq!(
            CountryCode::parse("gb").map(|c| c.as_str().to_owned()),
            Ok("GB".to_owned())
        );
        assert_eq!(CountryCode::DEFAULT.as_str(), "US");
        for raw in ["", "G", "GBR", "ZZ", "1A"] {
            assert!(CountryCode::parse(raw).is_err(), "{raw:?} accepted");
        }
    }

    #[test]
    fn time_zones_come_from_the_iana_database() {
        assert_eq!(
            Timezone::parse("Europe/London").map(|t| t.as_str()),
            Ok("Europe/London")
        );
        assert!(Timezone::parse("Mars/Olympus").is_err());
        assert_eq!(Timezone::DEFAULT.as_str(), "UTC");
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .map(|at| at.with_timezone(&Utc))
            .expect("an RFC 3339 time")
    }

    #[test]
    fn a_day_is_the_zones_calendar_day_and_ends_at_its_next_midnight() {
        let new_york = Timezone::parse("America/New_York").expect("a zone");
        // 03:30 UTC is still the evening before in New York (UTC-5 in November).
        let (day, ends_at) = new_york.day_of(utc("2026-11-27T03:30:00Z"));
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 26).expect("a date"));
        assert_eq!(ends_at, utc("2026-11-27T05:00:00Z"));

        let (day, ends_at) = Timezone::DEFAULT.day_of(utc("2026-11-27T23:59:59Z"));
        assert_eq!(day, NaiveDate::from_ymd_opt(2026, 11, 27).expect("a date"));
        assert_eq!(ends_at, utc("2026-11-28T00:00:00Z"));
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_ends_when_the_next_day_begins() {
        // Santiago moved its clocks from 24:00 to 01:00 on 2024-09-08: that day began at
        // 01:00 local (UTC-3), 04:00 UTC.
        let santiago = Timezone::parse("America/Santiago").expect("a zone");
        let (day, ends_at) = santiago.day_of(utc("2024-09-07T12:00:00Z"));
        assert_eq!(day, NaiveDate::from_ymd_opt(2024, 9, 7).expect("a date"));
        assert_eq!(ends_at, utc("2024-09-08T04:00:00Z"));
    }

    #[test]
    fn a_daily_cap_lies_between_zero_and_a_million() {
        assert_eq!(DailySendCap::parse(0).map(DailySendCap::get), Ok(0));
        assert_eq!(
            DailySendCap::parse(1_000_000).map(DailySendCap::get),
            Ok(1_000_000)
        );
        assert!(DailySendCap::parse(-1).is_err());
        assert!(DailySendCap::parse(1_000_001).is_err());
    }
}
