//! Where an outbound message is on its way to the candidate's phone.
//!
//! An inbound reply is `received` from the start and never changes.
//!
//! Status moves only forward: `scheduled`/`queued` → `sending` → `sent` → `delivered` |
//! `undelivered`; `failed` and `cancelled` are final. Receipts that arrive twice or out of
//! order must not move a message back.

use std::fmt;
use std::str::FromStr;

use crate::validation::Invalid;

/// The status of an outbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "diesel", derive(diesel::AsExpression, diesel::FromSqlRow))]
#[cfg_attr(feature = "diesel", diesel(sql_type = diesel::sql_types::Text))]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum MessageStatus {
    /// Waiting for its `send_at` time.
    Scheduled,
    /// In the outbox, waiting for the dispatcher.
    Queued,
    /// Being handed to the provider; the outcome is not known yet.
    Sending,
    /// Accepted by the provider.
    Sent,
    /// The provider reports it reached the phone. Final.
    Delivered,
    /// The provider reports it could not reach the phone. Final.
    Undelivered,
    /// Refused by the provider, or its hand-over could not be settled. Final.
    Failed,
    /// Stopped before it was handed over, e.g. the provider was deactivated. Final.
    Cancelled,
    /// An inbound reply from the candidate. Final.
    Received,
}

impl MessageStatus {
    /// Every status, in the order a message passes through them.
    pub const ALL: [MessageStatus; 9] = [
        MessageStatus::Scheduled,
        MessageStatus::Queued,
        MessageStatus::Sending,
        MessageStatus::Sent,
        MessageStatus::Delivered,
        MessageStatus::Undelivered,
        MessageStatus::Failed,
        MessageStatus::Cancelled,
        MessageStatus::Received,
    ];

    /// The stored and serialized name, e.g. `undelivered`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Scheduled => "scheduled",
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Undelivered => "undelivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Cancelled => "cancelled",
            MessageStatus::Received => "received",
        }
    }

    /// True when nothing can change the status any more: delivered, undelivered, failed,
    /// cancelled or received.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            MessageStatus::Delivered
                | MessageStatus::Undelivered
                | MessageStatus::Failed
                | MessageStatus::Cancelled
                | MessageStatus::Received
        )
    }

    /// Whether a message in this status may move to `next`; staying put is not a move.
    ///
    /// - scheduled → queued, sending, cancelled or failed;
    /// - queued → sending, cancelled or failed;
    /// - sending → queued (a retry), sent, delivered, undelivered or failed;
    /// - sent → delivered, undelivered or failed;
    /// - final statuses → nothing.
    pub fn can_move_to(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match self {
            Scheduled => matches!(next, Queued | Sending | Cancelled | Failed),
            Queued => matches!(next, Sending | Cancelled | Failed),
            Sending => matches!(next, Queued | Sent | Delivered | Undelivered | Failed),
            Sent => matches!(next, Delivered | Undelivered | Failed),
            Delivered | Undelivered | Failed | Cancelled | Received => false,
        }
    }

    /// How far along the status is, for "most final wins" when reports disagree:
    /// scheduled, queued and received 0, sending 1, sent 2, undelivered, failed and cancelled 3,
    /// delivered 4. It orders reports only; [`can_move_to`](Self::can_move_to) decides
    /// whether a stored status may change.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Scheduled | MessageStatus::Queued | MessageStatus::Received => 0,
            MessageStatus::Sending => 1,
            MessageStatus::Sent => 2,
            MessageStatus::Undelivered | MessageStatus::Failed | MessageStatus::Cancelled => 3,
            MessageStatus::Delivered => 4,
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessageStatus {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(
                    "must be one of `scheduled`, `queued`, `sending`, `sent`, `delivered`, \
                     `undelivered`, `failed`, `cancelled`, `received`",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in MessageStatus::ALL {
            assert_eq!(status.as_str().parse::<MessageStatus>(), Ok(status));
            assert_eq!(status.to_string(), status.as_str());
        }
        assert_eq!(Undelivered.as_str(), "undelivered");
        assert!("Delivered".parse::<MessageStatus>().is_err());
        assert!("".parse::<MessageStatus>().is_err());
    }

    #[test]
    fn final_statuses() {
        let finals: Vec<_> = MessageStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [Delivered, Undelivered, Failed, Cancelled, Received]
        );
    }

    #[test]
    fn transition_table() {
        // Rows: from; columns: to, in `ALL` order
        // (scheduled, queued, sending, sent, delivered, undelivered, failed, cancelled,
        // received).
        let table: [(MessageStatus, [bool; 9]); 9] = [
            (
                Scheduled,
                [false, true, true, false, false, false, true, true, false],
            ),
            (
                Queued,
                [false, false, true, false, false, false, true, true, false],
            ),
            (
                Sending,
                [false, true, false, true, true, true, true, false, false],
            ),
            (
                Sent,
                [false, false, false, false, true, true, true, false, false],
            ),
            (Delivered, [false; 9]),
            (Undelivered, [false; 9]),
            (Failed, [false; 9]),
            (Cancelled, [false; 9]),
            (Received, [false; 9]),
        ];
        for (from, row) in table {
            for (to, allowed) in MessageStatus::ALL.into_iter().zip(row) {
                assert_eq!(from.can_move_to(to), allowed, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn final_statuses_never_move_and_nothing_moves_to_itself() {
        for from in MessageStatus::ALL {
            assert!(!from.can_move_to(from), "{from}");
            if from.is_final() {
                assert!(MessageStatus::ALL.iter().all(|&to| !from.can_move_to(to)));
            }
        }
    }

    #[test]
    fn nothing_moves_back_to_scheduled_or_away_from_a_receipt() {
        for from in MessageStatus::ALL {
            assert!(!from.can_move_to(Scheduled), "{from}");
        }
        // A late "sent" after the delivery receipt changes nothing.
        assert!(!Delivered.can_move_to(Sent));
        assert!(!Undelivered.can_move_to(Sent));
    }

    #[test]
    fn ranks_order_reports() {
        let ranks: Vec<_> = MessageStatus::ALL
            .into_iter()
            .map(MessageStatus::rank)
            .collect();
        assert_eq!(ranks, [0, 0, 1, 2, 4, 3, 3, 3, 0]);
        // Every allowed move except a retry goes to an equal or higher rank.
        for from in MessageStatus::ALL {
            for to in MessageStatus::ALL {
                if from.can_move_to(to) && !(from == Sending && to == Queued) {
                    assert!(to.rank() >= from.rank(), "{from} -> {to}");
                }
            }
        }
        assert!(Delivered.rank() > Sent.rank());
        assert!(Failed.rank() > Sent.rank());
    }

    #[test]
    fn deserializes_snake_case() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for status in MessageStatus::ALL {
            let raw: StrDeserializer<'_, Error> = status.as_str().into_deserializer();
            assert_eq!(MessageStatus::deserialize(raw), Ok(status));
        }
    }
}
