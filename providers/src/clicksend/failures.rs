//! ClickSend's codes as failure reasons.
//!
//! Two kinds of code reach us: the per-message `status` of a refused send
//! (`INVALID_RECIPIENT`, …) and the gateway `error_code` of a failed receipt or history
//! record (8 unknown subscriber, 12 absent subscriber, …; ClickSend's "SMS gateway
//! error codes"). ClickSend's help pages have renumbered that table once, so the
//! gateway's own words (`error_text`, else `status_text`) decide when they name the
//! failure, and the code only when they do not; what neither names is `unknown`, and the
//! message keeps ClickSend's code and text beside the reason.

use nextal_domain::FailureReason;

/// The reason ClickSend's `text` (and, failing that, its `code`) stands for.
pub(super) fn failure_reason(code: &str, text: Option<&str>) -> FailureReason {
    text.and_then(by_text)
        .or_else(|| by_code(code))
        .unwrap_or(FailureReason::Unknown)
}

fn by_code(code: &str) -> Option<FailureReason> {
    Some(match code {
        "INVALID_RECIPIENT" | "8" | "9" | "10" => FailureReason::InvalidNumber,
        // 11: SMS not supported by the handset or number.
        "11" => FailureReason::NotMobile,
        // 12 absent subscriber, 13 memory full, 14 network congestion, 16 temporary
        // network error, 17 network timeout, 18 routing error.
        "12" | "13" | "14" | "16" | "17" | "18" => FailureReason::Unreachable,
        // 15 rejected by the network, 19 anti-spam rejection.
        "15" | "19" => FailureReason::CarrierBlocked,
        // 20: the delivery receipt expired before the handset took the message.
        "20" => FailureReason::Expired,
        _ => return None,
    })
}

/// The gateway's own words.
fn by_text(text: &str) -> Option<FailureReason> {
    let text = text.to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|word| text.contains(word));
    if says(&["unsubscribed", "opted out", "opt-out", "opt out"]) {
        Some(FailureReason::OptedOut)
    } else if says(&["sms not supported", "landline", "not a mobile"]) {
        Some(FailureReason::NotMobile)
    } else if says(&[
        "unknown subscriber",
        "unidentified subscriber",
        "illegal subscriber",
        "invalid number",
        "invalid recipient",
    ]) {
        Some(FailureReason::InvalidNumber)
    } else if says(&["spam", "rejected by network", "blocked"]) {
        Some(FailureReason::CarrierBlocked)
    } else if says(&["absent subscriber", "memory full", "congestion", "timeout"]) {
        Some(FailureReason::Unreachable)
    } else if says(&["expired"]) {
        Some(FailureReason::Expired)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_codes_and_send_statuses_have_their_reasons() {
        let cases = [
            ("INVALID_RECIPIENT", FailureReason::InvalidNumber),
            ("8", FailureReason::InvalidNumber),
            ("11", FailureReason::NotMobile),
            ("12", FailureReason::Unreachable),
            ("19", FailureReason::CarrierBlocked),
            ("20", FailureReason::Expired),
            ("7", FailureReason::Unknown),
            ("INSUFFICIENT_CREDIT", FailureReason::Unknown),
        ];
        for (code, reason) in cases {
            assert_eq!(failure_reason(code, None), reason, "code {code}");
        }
    }

    #[test]
    fn a_code_is_read_by_its_text() {
        assert_eq!(
            failure_reason("99", Some("Failed: Absent subscriber")),
            FailureReason::Unreachable
        );
        assert_eq!(
            failure_reason("", Some("SMS not supported")),
            FailureReason::NotMobile
        );
        assert_eq!(failure_reason("99", Some("Failed")), FailureReason::Unknown);
    }

    #[test]
    fn a_recipient_who_opted_out_is_told_by_the_words_whatever_the_code() {
        for text in [
            "Failed: Recipient unsubscribed",
            "OPTED OUT",
            "Carrier opt-out",
            "Recipient chose to opt out",
        ] {
            assert_eq!(
                failure_reason("7", Some(text)),
                FailureReason::OptedOut,
                "{text}"
            );
        }
        assert_eq!(
            failure_reason("11", Some("Recipient unsubscribed")),
            FailureReason::OptedOut
        );
    }

    #[test]
    fn the_text_wins_over_a_code_whose_numbering_changed() {
        assert_eq!(
            failure_reason("8", Some("Absent subscriber")),
            FailureReason::Unreachable
        );
        assert_eq!(
            failure_reason("8", Some("Failed")),
            FailureReason::InvalidNumber
        );
    }
}
