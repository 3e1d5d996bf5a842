//! Which way a message travels.

use std::fmt;
use std::str::FromStr;

use crate::validation::Invalid;

/// Whether we sent a message to the candidate or the candidate sent it to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum Direction {
    /// A reply from the candidate.
    Inbound,
    /// A message we send.
    Outbound,
}

impl Direction {
    /// The stored and serialized name, e.g. `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Direction {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "inbound" => Ok(Direction::Inbound),
            "outbound" => Ok(Direction::Outbound),
            _ => Err(Invalid::new("must be `inbound` or `outbound`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for direction in [Direction::Inbound, Direction::Outbound] {
            assert_eq!(direction.as_str().parse::<Direction>(), Ok(direction));
        }
        assert!("sideways".parse::<Direction>().is_err());
    }
}
