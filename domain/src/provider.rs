//! The SMS providers an organization can connect.

use std::fmt;
use std::str::FromStr;

use crate::validation::Invalid;

/// An SMS provider; an organization has at most one active at a time.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum ProviderKind {
    /// ClickSend REST v3.
    ClickSend,
    /// Twilio Programmable Messaging.
    Twilio,
}

impl ProviderKind {
    /// Every provider, in the order the integrations screen shows them.
    pub const ALL: [ProviderKind; 2] = [ProviderKind::ClickSend, ProviderKind::Twilio];

    /// The stored name and path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::ClickSend => "clicksend",
            ProviderKind::Twilio => "twilio",
        }
    }

    /// The name people know it by.
    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::ClickSend => "ClickSend",
            ProviderKind::Twilio => "Twilio",
        }
    }

    /// The other provider.
    pub fn other(self) -> ProviderKind {
        match self {
            ProviderKind::ClickSend => ProviderKind::Twilio,
            ProviderKind::Twilio => ProviderKind::ClickSend,
        }
    }

    /// What the provider calls the secret half of its credentials.
    pub fn secret_name(self) -> &'static str {
        match self {
            ProviderKind::ClickSend => "API key",
            ProviderKind::Twilio => "auth token",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for ProviderKind {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "clicksend" => Ok(ProviderKind::ClickSend),
            "twilio" => Ok(ProviderKind::Twilio),
            _ => Err(Invalid::new("must be `clicksend` or `twilio`")),
        }
    }
}

/// The secret half of a provider's credentials as an admin typed it: trimmed, 8 to 256
/// printable characters without spaces. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSecret(String);

impl ProviderSecret {
    /// Accepts a key or token as providers issue them.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let secret = raw.trim();
        // Characters, as the API documents the limits, not bytes.
        let length = secret.chars().count();
        if !(8..=256).contains(&length) {
            return Err(Invalid::new("must be 8 to 256 characters"));
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Invalid::new(
                "must not contain spaces or control characters",
            ));
        }
        Ok(Self(secret.to_owned()))
    }

    /// The secret itself, for sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ProviderSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProviderSecret([redacted])")
    }
}

/// A ClickSend API username or a Twilio Account SID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUsername(String);

impl ProviderUsername {
    /// ClickSend: 1 to 254 characters without spaces. Twilio: `AC` and 32 hex digits.
    pub fn parse(provider: ProviderKind, raw: &str) -> Result<Self, Invalid> {
        let username = raw.trim();
        match provider {
            ProviderKind::ClickSend => {
                if username.is_empty() || username.chars().count() > 254 {
                    return Err(Invalid::new("must be 1 to 254 characters"));
                }
                if username
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(Invalid::new("must not contain spaces"));
                }
            }
            ProviderKind::Twilio => {
                let valid = username.len() == 34
                    && username.starts_with("AC")
                    && username[2..].chars().all(|c| c.is_ascii_hexdigit());
                if !valid {
                    return Err(Invalid::new(
                        "must be a Twilio Account SID: AC followed by 32 hexadecimal digits",
                    ));
                }
            }
        }
        Ok(Self(username.to_owned()))
    }

    /// The username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for kind in ProviderKind::ALL {
            assert_eq!(kind.as_str().parse::<ProviderKind>(), Ok(kind));
            assert_eq!(kind.other().other(), kind);
        }
    }

    #[test]
    fn secrets_are_hidden_and_checked() {
        let secret = ProviderSecret::parse(" ABCD-1234-EFGH ").expect("valid");
        assert_eq!(secret.expose(), "ABCD-1234-EFGH");
        assert!(!format!("{secret:?}").contains("ABCD"));
        assert!(ProviderSecret::parse("short").is_err());
        assert!(ProviderSecret::parse("has a space in it").is_err());
        // Limits count characters: seven two-byte characters are too short.
        assert!(ProviderSecret::parse("ééééééé").is_err());
        assert!(ProviderSecret::parse("éééééééé").is_ok());
    }

    #[test]
    fn twilio_usernames_are_account_sids() {
        let sid = format!("AC{}", "0a".repeat(16));
        assert!(ProviderUsername::parse(ProviderKind::Twilio, &sid).is_ok());
        assert!(ProviderUsername::parse(ProviderKind::Twilio, "someone@example.com").is_err());
        assert!(ProviderUsername::parse(ProviderKind::ClickSend, "someone@example.com").is_ok());
        assert!(ProviderUsername::parse(ProviderKind::ClickSend, "").is_err());
    }
}
