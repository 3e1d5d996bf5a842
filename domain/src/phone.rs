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
        let number = phonenumber::parse(Some(country.id()), trimmed).map_err(|_| refuse())?;
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
    fn invalid_numbers_are_refused() {
        for raw in ["", "12", "not a number", "+1 555", "+99912345678"] {
            assert!(
                PhoneNumber::parse(raw, CountryCode::DEFAULT).is_err(),
                "{raw:?}"
            );
        }
    }
}
