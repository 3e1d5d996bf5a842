//! ClickSend pushes: inbound SMS (automation rule with `action: URL`, sent as a form
//! POST, a GET query or JSON) and delivery receipts (form POST). No provider document
//! defines either payload, so fields are read leniently: numbers may come as strings,
//! legacy duplicate keys stand in for missing ones, and `""` counts as absent.
//!
//! ClickSend does not sign its pushes; authenticate them by a secret in the URL.

use super::{
    DeliveryReport, InboundSms, Params, ReportedState, WebhookError, error_code, error_text,
    first_present, parse_integer, required, unknown_status,
};

/// The inbound fields documented as text: in a JSON body, a number or an object there
/// is a malformed delivery.
const INBOUND_TEXT: [&str; 11] = [
    "message_id",
    "from",
    "sms",
    "to",
    "originalsenderid",
    "body",
    "message",
    "original_message_id",
    "originalmessageid",
    "custom_string",
    "customstring",
];

/// The receipt fields documented as text.
const RECEIPT_TEXT: [&str; 5] = [
    "message_id",
    "status_text",
    "error_text",
    "custom_string",
    "customstring",
];

/// Reads an inbound SMS (a reply). Needs `message_id` and `from` (or `sms`); everything
/// else is optional. `to` falls back to `originalsenderid` (our number the candidate
/// replied to) and may end up empty; `body` falls back to `message` and may be empty;
/// an unreadable `timestamp`/`timestamp_send` is `None`, not an error. In JSON, the
/// text fields must be strings (or null).
pub fn inbound(params: &Params) -> Result<InboundSms, WebhookError> {
    params.expect_text(&INBOUND_TEXT)?;
    let message_id = required(params, &["message_id"])?;
    let from = required(params, &["from", "sms"])?;
    let to = first_present(params, &["to", "originalsenderid"]).unwrap_or_default();
    // The text is kept exactly as sent: leading/trailing spaces are the candidate's.
    let body = ["body", "message"]
        .iter()
        .filter_map(|name| params.get(name))
        .find(|text| !text.is_empty())
        .unwrap_or_default()
        .to_owned();
    let sent_at = ["timestamp", "timestamp_send"]
        .iter()
        .find_map(|name| params.get(name).and_then(parse_integer));
    let original_message_id = first_present(params, &["original_message_id", "originalmessageid"]);
    Ok(InboundSms {
        message_id,
        from,
        to,
        body,
        sent_at,
        original_message_id,
    })
}

/// Reads a delivery receipt. `message_id` is required. The state comes from
/// `status_code` (a number or numeric string): 200 sent, 201 delivered, 300 retrying,
/// 301 undelivered; another number or a non-number is [`WebhookError::Invalid`]. Without
/// a `status_code`, the legacy `status` word is mapped (case-insensitive: `Delivered`;
/// `Undelivered`/`Failed`; `Queued`/`Scheduled`/`WaitApproval`/`Sent`;
/// `Cancelled`/`CancelledAfterReview`); an unknown word is `Invalid`, and neither field
/// is [`WebhookError::Missing`] (`status_code`).
///
/// In JSON, `message_id`, `status_text`, `error_text` and `custom_string` must be strings
/// (or null); `status_code` and `error_code` may be numbers.
///
/// `Completed` (a history status) is deliberately not mapped: no source says whether it
/// means delivered or merely sent.
pub fn receipt(params: &Params) -> Result<DeliveryReport, WebhookError> {
    params.expect_text(&RECEIPT_TEXT)?;
    let message_id = required(params, &["message_id"])?;
    let reference = first_present(params, &["custom_string", "customstring"]);
    let (state, raw_status) = if let Some(code) = first_present(params, &["status_code"]) {
        (state_from_code(&code)?, code)
    } else if let Some(word) = first_present(params, &["status"]) {
        (state_from_word(&word)?, word)
    } else {
        return Err(WebhookError::Missing("status_code"));
    };
    let failed = !matches!(state, ReportedState::Sent | ReportedState::Delivered);
    Ok(DeliveryReport {
        message_id,
        reference,
        state,
        raw_status,
        error_code: error_code(params, &["error_code"]),
        // ClickSend's `status_text` on success is "Success: Message received on
        // handset." and the like: only worth carrying when something went wrong.
        error_text: failed
            .then(|| error_text(params, &["error_text", "status_text"]))
            .flatten(),
    })
}

/// The state a receipt `status_code` stands for (200/201/300/301, see [`receipt`]).
/// Shared with the client, which reads the same codes from the history and the receipt
/// lookup, so that a push and a read-back of the same message never disagree.
pub(crate) fn state_from_code(code: &str) -> Result<ReportedState, WebhookError> {
    let invalid = |reason: String| WebhookError::Invalid {
        field: "status_code",
        reason,
    };
    match parse_integer(code) {
        Some(200) => Ok(ReportedState::Sent),
        Some(201) => Ok(ReportedState::Delivered),
        Some(300) => Ok(ReportedState::Retrying),
        Some(301) => Ok(ReportedState::Undelivered),
        Some(other) => Err(invalid(format!("unknown status code {other}"))),
        None => Err(invalid("not a number".to_owned())),
    }
}

/// The state a legacy receipt `status` word stands for (see [`receipt`]); shared with the
/// client's history reader for entries without a `status_code`.
pub(crate) fn state_from_word(word: &str) -> Result<ReportedState, WebhookError> {
    match word.to_ascii_lowercase().as_str() {
        "delivered" => Ok(ReportedState::Delivered),
        // Status code 301 covers both, and its receipts say "Failed" in the history.
        "undelivered" | "failed" => Ok(ReportedState::Undelivered),
        "queued" | "scheduled" | "waitapproval" | "sent" => Ok(ReportedState::Sent),
        "cancelled" | "canceled" | "cancelledafterreview" => Ok(ReportedState::Cancelled),
        _ => Err(WebhookError::Invalid {
            field: "status",
            reason: unknown_status(word),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::ParamSource;

    const MESSAGE_ID: &str = "4B6D7E5C-8E0F-4E5A-9C35-1A2B3C4D5E6F";
    const ORIGINAL_ID: &str = "1F0C2E7A-0B3D-4C2E-8F61-6A5B4C3D2E1F";

    fn form(body: &str) -> Params {
        Params::read(
            Some("application/x-www-form-urlencoded"),
            "secret=abc",
            body.as_bytes(),
        )
        .unwrap()
    }

    fn json(body: &str) -> Params {
        Params::read(Some("application/json"), "", body.as_bytes()).unwrap()
    }

    fn expected_reply() -> InboundSms {
        InboundSms {
            message_id: MESSAGE_ID.to_owned(),
            from: "+61411111111".to_owned(),
            to: "+61480000000".to_owned(),
            body: "Yes, I can start Monday".to_owned(),
            sent_at: Some(1_436_174_407),
            original_message_id: Some(ORIGINAL_ID.to_owned()),
        }
    }

    #[test]
    fn inbound_json_in_the_n8n_sample_shape() {
        let params = json(&format!(
            r#"{{
                "originalsenderid": "+61480000000",
                "body": "Yes, I can start Monday",
                "message": "Yes, I can start Monday",
                "sms": "+61411111111",
                "from": "+61411111111",
                "to": "+61480000000",
                "timestamp": 1436174407,
                "message_id": "{MESSAGE_ID}",
                "original_message_id": "{ORIGINAL_ID}",
                "original_body": "Can you start Monday?",
                "user_id": 12345,
                "subaccount_id": 67890,
                "custom_string": ""
            }}"#
        ));
        assert_eq!(inbound(&params).unwrap(), expected_reply());
    }

    #[test]
    fn inbound_form_with_legacy_duplicate_keys() {
        let params = form(&format!(
            "originalsenderid=%2B61480000000&body=Yes%2C+I+can+start+Monday\
             &message=Yes%2C+I+can+start+Monday&sms=%2B61411111111&custom_string=\
             &to=%2B61480000000&original_message_id={ORIGINAL_ID}\
             &originalmessageid={ORIGINAL_ID}&customstring=&from=%2B61411111111\
             &originalmessage=Can+you+start+Monday%3F&user_id=12345&subaccount_id=67890\
             &original_body=Can+you+start+Monday%3F&timestamp=1436174407&message_id={MESSAGE_ID}"
        ));
        assert_eq!(inbound(&params).unwrap(), expected_reply());

        // Only the legacy and fallback keys.
        let params = form(&format!(
            "originalsenderid=%2B61480000000&message=Yes%2C+I+can+start+Monday\
             &sms=+%2B61411111111+&originalmessageid={ORIGINAL_ID}\
             &timestamp=1436174407&message_id={MESSAGE_ID}"
        ));
        assert_eq!(inbound(&params).unwrap(), expected_reply());
    }

    #[test]
    fn inbound_get_query() {
        let params = Params::read(
            None,
            &format!(
                "?from=%2B61411111111&to=%2B61480000000&body=Yes%2C%20I%20can%20start%20Monday\
                 &timestamp=1436174407&message_id={MESSAGE_ID}&original_message_id={ORIGINAL_ID}"
            ),
            b"",
        )
        .unwrap();
        assert_eq!(params.source(), ParamSource::Query);
        assert_eq!(inbound(&params).unwrap(), expected_reply());
    }

    #[test]
    fn inbound_timestamps_as_strings_or_timestamp_send() {
        let base = format!(
            r#""from": "+61411111111", "to": "+61480000000", "body": "Yes, I can start Monday",
               "message_id": "{MESSAGE_ID}", "original_message_id": "{ORIGINAL_ID}""#
        );
        for times in [
            r#""timestamp": "1436174407""#,
            r#""timestamp_send": 1436174407"#,
            r#""timestamp_send": "1436174407""#,
            r#""timestamp": "", "timestamp_send": "1436174407,""#,
            r#""timestamp": "not a time", "timestamp_send": 1436174407"#,
        ] {
            let params = json(&format!("{{{base}, {times}}}"));
            assert_eq!(inbound(&params).unwrap(), expected_reply(), "{times}");
        }
        for times in [
            r#""timestamp": "soon""#,
            r#""timestamp": null"#,
            r#""other": 1"#,
        ] {
            let params = json(&format!("{{{base}, {times}}}"));
            assert_eq!(inbound(&params).unwrap().sent_at, None, "{times}");
        }
    }

    #[test]
    fn inbound_tolerates_empty_text_and_a_missing_to() {
        let params = form(&format!(
            "from=%2B61411111111&body=&message=&message_id={MESSAGE_ID}&original_message_id="
        ));
        let reply = inbound(&params).unwrap();
        assert_eq!(reply.body, "");
        assert_eq!(reply.to, "");
        assert_eq!(reply.sent_at, None);
        assert_eq!(reply.original_message_id, None);

        // The text is not trimmed; numbers and ids are.
        let params = form(&format!(
            "from=+%2B61411111111+&to=%2B61480000000&body=+stop+&message_id=+{MESSAGE_ID}+"
        ));
        let reply = inbound(&params).unwrap();
        assert_eq!(reply.body, " stop ");
        assert_eq!(reply.from, "+61411111111");
        assert_eq!(reply.message_id, MESSAGE_ID);
    }

    #[test]
    fn json_text_fields_must_be_strings() {
        let invalid = |field| WebhookError::Invalid {
            field,
            reason: "must be a string".to_owned(),
        };
        let reply = |extra: &str| {
            json(&format!(
                r#"{{"message_id": "{MESSAGE_ID}", "from": "+61411111111", {extra}}}"#
            ))
        };
        assert_eq!(
            inbound(&reply(r#""to": 61480000000"#)).unwrap_err(),
            invalid("to")
        );
        assert_eq!(
            inbound(&reply(r#""body": ["hi"]"#)).unwrap_err(),
            invalid("body")
        );
        assert_eq!(
            inbound(&reply(r#""body": null, "to": null, "user_id": 5"#))
                .unwrap()
                .body,
            ""
        );
        let params = json(r#"{"message_id": 12345, "from": "+61411111111"}"#);
        assert_eq!(inbound(&params).unwrap_err(), invalid("message_id"));
        let params = json(&format!(
            r#"{{"message_id": "{MESSAGE_ID}", "status_code": 201, "status_text": false}}"#
        ));
        assert_eq!(receipt(&params).unwrap_err(), invalid("status_text"));
        let params = json(&format!(
            r#"{{"message_id": "{MESSAGE_ID}", "status_code": 201, "error_code": 0}}"#
        ));
        assert_eq!(receipt(&params).unwrap().state, ReportedState::Delivered);
    }

    #[test]
    fn inbound_needs_an_id_and_a_sender() {
        let params = form("from=%2B61411111111&body=hi");
        assert_eq!(
            inbound(&params).unwrap_err(),
            WebhookError::Missing("message_id")
        );
        let params = form(&format!("from=&sms=+&body=hi&message_id={MESSAGE_ID}"));
        assert_eq!(inbound(&params).unwrap_err(), WebhookError::Missing("from"));
    }

    fn receipt_form(extra: &str) -> Params {
        form(&format!(
            "timestamp_send=1436174407&timestamp=1436174410&message_id={MESSAGE_ID}\
             &custom_string=msg_0190&subaccount_id=67890&message_type=sms{extra}"
        ))
    }

    #[test]
    fn receipt_delivered_as_string_and_as_json_number() {
        let expected = DeliveryReport {
            message_id: MESSAGE_ID.to_owned(),
            reference: Some("msg_0190".to_owned()),
            state: ReportedState::Delivered,
            raw_status: "201".to_owned(),
            error_code: None,
            error_text: None,
        };
        let params = receipt_form(
            "&status_code=201&status_text=Success%3A+Message+received+on+handset.\
             &error_code=&error_text=",
        );
        assert_eq!(receipt(&params).unwrap(), expected);

        let params = json(&format!(
            r#"{{"timestamp_send": 1436174407, "timestamp": 1436174410,
                "message_id": "{MESSAGE_ID}", "status_code": 201,
                "status_text": "Success: Message received on handset.",
                "error_code": null, "error_text": null, "custom_string": "msg_0190",
                "subaccount_id": 67890, "message_type": "sms", "digits": null}}"#
        ));
        assert_eq!(receipt(&params).unwrap(), expected);

        // Error code 0 (the test receipt) is no error either.
        let params = json(&format!(
            r#"{{"message_id": "{MESSAGE_ID}", "status_code": "201", "error_code": 0,
                "customstring": "msg_0190"}}"#
        ));
        assert_eq!(receipt(&params).unwrap(), expected);
    }

    #[test]
    fn receipt_sent_retrying_and_undelivered() {
        let report = receipt(&receipt_form("&status_code=200&status_text=Sent")).unwrap();
        assert_eq!(report.state, ReportedState::Sent);
        assert_eq!(report.error_text, None);

        let report = receipt(&receipt_form(
            "&status_code=300&status_text=Temporary+network+error&error_code=16&error_text=",
        ))
        .unwrap();
        assert_eq!(report.state, ReportedState::Retrying);
        assert_eq!(report.raw_status, "300");
        assert_eq!(report.error_code.as_deref(), Some("16"));
        assert_eq!(
            report.error_text.as_deref(),
            Some("Temporary network error")
        );

        let report = receipt(&receipt_form(
            "&status_code=301&status_text=Failed&error_code=7\
             &error_text=Unknown+subscriber%0A",
        ))
        .unwrap();
        assert_eq!(
            report,
            DeliveryReport {
                message_id: MESSAGE_ID.to_owned(),
                reference: Some("msg_0190".to_owned()),
                state: ReportedState::Undelivered,
                raw_status: "301".to_owned(),
                error_code: Some("7".to_owned()),
                error_text: Some("Unknown subscriber".to_owned()),
            }
        );
    }

    #[test]
    fn receipt_legacy_status_word() {
        for (word, state) in [
            ("Delivered", ReportedState::Delivered),
            ("DELIVERED", ReportedState::Delivered),
            ("Undelivered", ReportedState::Undelivered),
            ("Failed", ReportedState::Undelivered),
            ("Queued", ReportedState::Sent),
            ("WaitApproval", ReportedState::Sent),
            ("Cancelled", ReportedState::Cancelled),
        ] {
            let report = receipt(&receipt_form(&format!("&status_code=&status={word}"))).unwrap();
            assert_eq!((report.state, report.raw_status.as_str()), (state, word));
        }
        assert_eq!(
            receipt(&receipt_form("&status=Completed")).unwrap_err(),
            WebhookError::Invalid {
                field: "status",
                reason: "unknown status `Completed`".to_owned()
            }
        );
    }

    #[test]
    fn receipt_refuses_unknown_and_missing_statuses() {
        assert_eq!(
            receipt(&receipt_form("&status_code=202")).unwrap_err(),
            WebhookError::Invalid {
                field: "status_code",
                reason: "unknown status code 202".to_owned()
            }
        );
        assert_eq!(
            receipt(&receipt_form("&status_code=Completed")).unwrap_err(),
            WebhookError::Invalid {
                field: "status_code",
                reason: "not a number".to_owned()
            }
        );
        assert_eq!(
            receipt(&receipt_form("")).unwrap_err(),
            WebhookError::Missing("status_code")
        );
        assert_eq!(
            receipt(&form("status_code=201&custom_string=msg_0190")).unwrap_err(),
            WebhookError::Missing("message_id")
        );
        let params = receipt_form("&status_code=201").pairs().to_vec();
        let without_reference: Vec<_> = params
            .into_iter()
            .filter(|(name, _)| name != "custom_string")
            .collect();
        let report = receipt(&Params::new(ParamSource::Form, without_reference)).unwrap();
        assert_eq!(report.reference, None);
    }
}
