//! A tenant: the company whose recruiters use Nextal SMS.

use std::str::FromStr;

use crate::validation::{Invalid, bounded_text};

/// The organization's display name, also the `{{organization.name}}` merge field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// Longest accepted name, in characters.
    pub const MAX_LENGTH: usize = 200;

    /// Trimmed, 1 to 200 characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        bounded_text(raw, 1, Self::MAX_LENGTH).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

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
}
