//! Twilio's error codes as failure reasons.
//!
//! The codes come from the `code` of a refused `POST …/Messages.json` (21xxx) and the
//! `ErrorCode` of a `failed` or `undelivered` status callback (30xxx), as listed in
//! Twilio's error dictionary (twilio.com/docs/api/errors). A code not listed here is
//! `unknown`; the message keeps the code and Twilio's text beside the reason.

use nextal_domain::FailureReason;

/// The reason Twilio's error `code` stands for.
pub(super) fn failure_reason(code: &str, _text: Option<&str>) -> FailureReason {
    match code {
        // 21610: the recipient texted STOP to our number; Twilio refuses every message
        // until they opt back in.
        "21610" => FailureReason::OptedOut,
        // 21211 invalid 'To', 21217 number not valid, 30005 unknown destination
        // handset (the number does not exist).
        "21211" | "21217" | "30005" => FailureReason::InvalidNumber,
        // 21614 'To' is not a mobile number, 30006 landline or unreachable carrier.
        "21614" | "30006" => FailureReason::NotMobile,
        // 21612 'To' not reachable over SMS from this number, 30003 unreachable
        // destination handset (off, out of coverage).
        "21612" | "30003" => FailureReason::Unreachable,
        // 30004 blocked, 30007 carrier filtering, 30032 toll-free number not verified,
        // 30034 US A2P 10DLC sender not registered.
        "30004" | "30007" | "30032" | "30034" => FailureReason::CarrierBlocked,
        // 30001 queue overflow and 30036 validity period expired: not sent in time.
        "30001" | "30036" => FailureReason::Expired,
        _ => FailureReason::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_codes_have_their_reasons() {
        let cases = [
            ("21610", FailureReason::OptedOut),
            ("21211", FailureReason::InvalidNumber),
            ("30005", FailureReason::InvalidNumber),
            ("21614", FailureReason::NotMobile),
            ("30006", FailureReason::NotMobile),
            ("30003", FailureReason::Unreachable),
            ("30007", FailureReason::CarrierBlocked),
            ("30034", FailureReason::CarrierBlocked),
            ("30036", FailureReason::Expired),
            ("30008", FailureReason::Unknown),
            ("", FailureReason::Unknown),
        ];
        for (code, reason) in cases {
            assert_eq!(failure_reason(code, None), reason, "code {code}");
        }
    }
}
