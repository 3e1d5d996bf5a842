//! Phone numbers, always stored and compared in E.164.

use std::fmt;

use crate::organization::CountryCode;
use crate::validation::Invalid;

/// A valid phone number in E.164 form, e.g. `+14155550100`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads an international number (`+…`) or a national one in `country`'s plan.
    pub fn parse(raw: &str, country: CountryCode) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let refuse = || {
            Invalid::new(format!(
                "must be a valid phone number, in international form (+…) or national to {}",
                country.as_str()
            ))
        };
        if trimmed.is_empty() || trimmed.len() > 32 {
            return Err(refuse());
        }
        // A number that names its own country code is read by that country's rules.
        // Given a default country, phonenumber 0.3 applies the default's national
        // prefix to it instead: with US, `+20 100 123 4567` (an Egyptian mobile) lost
        // its leading 1 and was refused, and `+855 1800 123 456` became another number.
        let region = if trimmed.starts_with(['+', '＋']) {
            None
        } else {
            Some(country.id())
        };
        // The separators people type carry no meaning, but phonenumber 0.3 misreads
        // some groupings of them (`+968 2312345-6`, `+968 23-12-34-56` were refused).
        let digits: String = trimmed
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '/'))
            .collect();
        let number = phonenumber::parse(region, digits).map_err(|_| refuse())?;
        if !phonenumber::is_valid(&number) {
            return Err(refuse());
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_are_read_in_the_default_country() {
        let us = CountryCode::DEFAULT;
        let gb = CountryCode::parse("GB").expect("valid");
        assert_eq!(
            PhoneNumber::parse("(415) 555-2671", us).map(|p| p.0),
            Ok("+14155552671".into())
        );
        assert_eq!(
            PhoneNumber::parse("07911 123456", gb).map(|p| p.0),
            Ok("+447911123456".into())
        );
        assert_eq!(
            PhoneNumber::parse("+61 411 111 111", us).map(|p| p.0),
            Ok("+61411111111".into())
        );
    }

    #[test]
    fn an_international_number_is_read_by_its_own_countrys_rules() {
        // Found by the property tests: read with US rules, the leading 1 of these
        // national numbers was taken for the US trunk prefix and dropped.
        let us = CountryCode::DEFAULT;
        let kh = CountryCode::parse("KH").expect("valid");
        assert_eq!(
            PhoneNumber::parse("+20 100 123 4567", us).map(|p| p.0),
            Ok("+201001234567".into())
        );
        for country in [us, kh] {
            for raw in ["+8551 800123456", "+8551800123456"] {
                assert_eq!(
                    PhoneNumber::parse(raw, country).map(|p| p.0),
                    Ok("+8551800123456".into()),
                    "{raw:?} in {}",
                    country.as_str()
                );
            }
        }
        // A trunk 0 written after the country code is still dropped.
        assert_eq!(
            PhoneNumber::parse("+44 (0)7911 123456", us).map(|p| p.0),
            Ok("+447911123456".into())
        );
    }

    #[test]
    fn separators_may_stand_between_any_digits() {
        // Found by the property tests: phonenumber refused these groupings.
        let om = CountryCode::parse("OM").expect("valid");
        for raw in ["+9682312345-6", "+968 23-12-34-56", "+968.2312.3456"] {
            assert_eq!(
                PhoneNumber::parse(raw, om).map(|p| p.0),
                Ok("+96823123456".into()),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn invalid_numbers_are_refused() {
        for raw in ["", "12", "not a number", "+1 555", "+99912345678"] {
            assert!(
                PhoneNumber::parse(raw, CountryCode::DEFAULT).is_err(),
                "{raw:?}"
            );
        }
    }
}
