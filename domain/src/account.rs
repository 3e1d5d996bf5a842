//! Users of an organization: who they are, how they sign in, what they may do.

use std::fmt;
use std::str::FromStr;

use crate::validation::{Invalid, bounded_text_type};

/// What a user may do. Admins manage the organization, users and integrations;
/// recruiters send and read messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages the organization, its users and its SMS providers.
    Admin,
    /// Texts candidates and works the inbox.
    Recruiter,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Recruiter => "recruiter",
        }
    }
}

impl FromStr for Role {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "admin" => Ok(Role::Admin),
            "recruiter" => Ok(Role::Recruiter),
            _ => Err(Invalid::new("must be `admin` or `recruiter`")),
        }
    }
}

/// A sign-in email address, trimmed and lower-cased so that one person has one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The longest address SMTP allows (RFC 5321).
    pub const MAX_LENGTH: usize = 254;

    /// Accepts `local@domain` with a dotted domain, or `local@localhost` for the bootstrap admin.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if email.chars().count() > Self::MAX_LENGTH {
            return Err(Invalid::new(format!(
                "must be at most {} characters",
                Self::MAX_LENGTH
            )));
        }
        let valid_shape = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && (domain.contains('.') || domain == "localhost")
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
        if !valid_shape || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "must be an email address such as name@example.com",
            ));
        }
        Ok(Self(email))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password chosen by a person. Its `Debug` never shows the text.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// Shortest accepted password, in characters (NIST SP 800-63B asks for at least 8).
    pub const MIN_LENGTH: usize = 12;
    /// Longest accepted password; bounds the hashing cost of a request.
    pub const MAX_LENGTH: usize = 128;

    /// Accepts any characters of a length between the bounds; spaces count.
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        let length = raw.chars().count();
        if length < Self::MIN_LENGTH {
            return Err(Invalid::new(format!(
                "must be at least {} characters",
                Self::MIN_LENGTH
            )));
        }
        if length > Self::MAX_LENGTH {
            return Err(Invalid::new(format!(
                "must be at most {} characters",
                Self::MAX_LENGTH
            )));
        }
        Ok(Self(raw))
    }

    /// The password itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword([redacted])")
    }
}

bounded_text_type!(
    /// A first or last name as shown to candidates in merge fields.
    PersonName,
    100
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalized() {
        let email = EmailAddress::parse("  Ann.Lee@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "ann.lee@example.com");
    }

    #[test]
    fn email_rejects_bad_shapes() {
        for raw in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@x.io",
            "a@b@c.io",
            "a@.io",
        ] {
            assert!(EmailAddress::parse(raw).is_err(), "{raw:?} accepted");
        }
        assert!(EmailAddress::parse("admin@localhost").is_ok());
    }

    #[test]
    fn password_length_is_bounded_and_hidden() {
        assert!(NewPassword::parse("short".into()).is_err());
        assert!(NewPassword::parse("x".repeat(129)).is_err());
        let password = NewPassword::parse("correct horse battery".into()).expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
    }

    #[test]
    fn role_round_trips() {
        for role in [Role::Admin, Role::Recruiter] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("owner".parse::<Role>().is_err());
    }
}
