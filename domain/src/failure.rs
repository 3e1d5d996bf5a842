//! Why an outbound message did not reach the candidate, in words a recruiter can act on.
//!
//! Each provider has its own codes (per-message statuses, gateway error numbers, error
//! codes); the providers crate maps them onto this closed set and the message keeps the
//! provider's own code and text beside it.

use std::fmt;
use std::str::FromStr;

use crate::validation::Invalid;

/// The reason a message failed or went undelivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum FailureReason {
    /// The phone is off, out of coverage or otherwise not reachable now; a later
    /// message may get through.
    Unreachable,
    /// The number is a landline or otherwise cannot take SMS.
    NotMobile,
    /// The carrier or the provider filtered the message (spam rules, unregistered
    /// sender, blocked content).
    CarrierBlocked,
    /// The recipient opted out of our number (STOP), at the provider or the carrier.
    OptedOut,
    /// The number does not exist or is malformed.
    InvalidNumber,
    /// The message could not be delivered or sent in time and was given up.
    Expired,
    /// Anything else: the provider's code and text say more.
    Unknown,
}

impl FailureReason {
    /// Every reason.
    pub const ALL: [FailureReason; 7] = [
        FailureReason::Unreachable,
        FailureReason::NotMobile,
        FailureReason::CarrierBlocked,
        FailureReason::OptedOut,
        FailureReason::InvalidNumber,
        FailureReason::Expired,
        FailureReason::Unknown,
    ];

    /// The stored and serialized name, e.g. `not_mobile`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Unreachable => "unreachable",
            FailureReason::NotMobile => "not_mobile",
            FailureReason::CarrierBlocked => "carrier_blocked",
            FailureReason::OptedOut => "opted_out",
            FailureReason::InvalidNumber => "invalid_number",
            FailureReason::Expired => "expired",
            FailureReason::Unknown => "unknown",
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FailureReason {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        FailureReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == raw)
            .ok_or_else(|| Invalid::new("is not a known failure reason"))
    }
}

/// A failure as a message keeps it: our reason and, when the provider gave one, its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// The provider's own code, e.g. `30003` or `INVALID_RECIPIENT`.
    pub provider_code: Option<String>,
}

impl Failure {
    /// A failure of ours, with no provider code (the hand-over was given up, say).
    pub fn ours(reason: FailureReason) -> Self {
        Self {
            reason,
            provider_code: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for reason in FailureReason::ALL {
            assert_eq!(reason.as_str().parse::<FailureReason>(), Ok(reason));
        }
        assert!("bad_luck".parse::<FailureReason>().is_err());
    }
}
