//! Twilio webhooks: the inbound message request (form POST, or GET with the parameters
//! in the query) and the outbound status callback (form POST). Check the signature with
//! [`super::verify_twilio_form`] before trusting either.
//!
//! Twilio adds parameters without notice, so only the fields used here are looked at.

use super::{
    DeliveryReport, InboundSms, Params, ReportedState, WebhookError, error_code, error_text,
    required, unknown_status,
};

/// The id fields, newest name first: `SmsMessageSid` and `SmsSid` are legacy copies.
const SID_FIELDS: &[&str] = &["MessageSid", "SmsMessageSid", "SmsSid"];

/// Reads an inbound message. Needs a message SID, `From` and `To`; `Body` may be empty
/// or absent (a picture-only MMS) and is kept untrimmed.
pub fn inbound(params: &Params) -> Result<InboundSms, WebhookError> {
    Ok(InboundSms {
        message_id: required(params, SID_FIELDS)?,
        from: required(params, &["From"])?,
        to: required(params, &["To"])?,
        body: params.get("Body").unwrap_or_default().to_owned(),
        sent_at: None,
        original_message_id: None,
    })
}

/// Reads a status callback. The status is `MessageStatus` (else the legacy `SmsStatus`),
/// matched case-insensitively:
/// - `queued`, `accepted`, `scheduled`, `sending`, `sent` → [`ReportedState::Sent`];
/// - `delivered`, `read`, `partially_delivered` → [`ReportedState::Delivered`];
/// - `undelivered` → [`ReportedState::Undelivered`];
/// - `failed` → [`ReportedState::Failed`];
/// - `canceled` (or `cancelled`) → [`ReportedState::Cancelled`].
///
/// `receiving`/`received` (an inbound message's statuses, so the wrong webhook) and
/// unknown statuses are [`WebhookError::Invalid`]; no status is `Missing("MessageStatus")`.
pub fn status(params: &Params) -> Result<DeliveryReport, WebhookError> {
    let message_id = required(params, SID_FIELDS)?;
    let raw_status = required(params, &["MessageStatus", "SmsStatus"])?;
    Ok(DeliveryReport {
        message_id,
        reference: None,
        state: state_of(&raw_status)?,
        raw_status,
        error_code: error_code(params, &["ErrorCode"]),
        error_text: error_text(params, &["ErrorMessage"]),
    })
}

/// The state a Twilio message status stands for, as [`status`] documents it. Shared with
/// the client, which reads the same statuses from the Messages resource, so that a
/// callback and a read-back of the same message never disagree.
pub(crate) fn state_of(raw_status: &str) -> Result<ReportedState, WebhookError> {
    match raw_status.to_ascii_lowercase().as_str() {
        "queued" | "accepted" | "scheduled" | "sending" | "sent" => Ok(ReportedState::Sent),
        "delivered" | "read" | "partially_delivered" => Ok(ReportedState::Delivered),
        "undelivered" => Ok(ReportedState::Undelivered),
        "failed" => Ok(ReportedState::Failed),
        "canceled" | "cancelled" => Ok(ReportedState::Cancelled),
        "receiving" | "received" => Err(WebhookError::Invalid {
            field: "MessageStatus",
            reason: "an inbound message's status, not an outbound one".to_owned(),
        }),
        _ => Err(WebhookError::Invalid {
            field: "MessageStatus",
            reason: unknown_status(raw_status),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::{ParamSource, verify_twilio_form};

    const SID: &str = "SM1234567890abcdef1234567890abcdef";

    fn form(body: &str) -> Params {
        Params::read(
            Some("application/x-www-form-urlencoded"),
            "",
            body.as_bytes(),
        )
        .unwrap()
    }

    /// A real-shaped inbound request, as the nuntius gem documents one.
    fn inbound_body(text: &str) -> String {
        format!(
            "ToCountry=US&ToState=CA&SmsMessageSid={SID}&NumMedia=0&ToCity=&FromZip=94107\
             &SmsSid={SID}&FromState=CA&SmsStatus=received&FromCity=SAN+FRANCISCO\
             &Body={text}&FromCountry=US&To=%2B15017122661&ToZip=&NumSegments=1\
             &MessageSid={SID}&AccountSid=AC0123456789abcdef0123456789abcdef\
             &From=%2B14155552671&ApiVersion=2010-04-01"
        )
    }

    #[test]
    fn inbound_form() {
        let params = form(&inbound_body("Yes%2C+I%27ll+be+there+"));
        assert_eq!(
            inbound(&params).unwrap(),
            InboundSms {
                message_id: SID.to_owned(),
                from: "+14155552671".to_owned(),
                to: "+15017122661".to_owned(),
                body: "Yes, I'll be there ".to_owned(),
                sent_at: None,
                original_message_id: None,
            }
        );
    }

    #[test]
    fn inbound_get_query_and_signature() {
        let query = format!("From=%2B14155552671&To=%2B15017122661&Body=STOP&SmsSid={SID}");
        let params = Params::read(None, &query, b"").unwrap();
        assert_eq!(params.source(), ParamSource::Query);
        let reply = inbound(&params).unwrap();
        assert_eq!(
            (reply.message_id.as_str(), reply.body.as_str()),
            (SID, "STOP")
        );

        // A GET is signed over the URL alone.
        let url = format!("https://sms.example.com/webhooks/twilio/inbound?{query}");
        let signature = {
            use base64::Engine as _;
            use hmac::Mac as _;
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"token").unwrap();
            mac.update(url.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        assert!(verify_twilio_form("token", &url, &[], &signature));
    }

    #[test]
    fn inbound_with_media_only_has_an_empty_body() {
        let params = form(&format!(
            "MessageSid=MM{}&From=%2B14155552671&To=%2B15017122661&NumMedia=1\
             &MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fmedia&MediaContentType0=image%2Fjpeg",
            &SID[2..]
        ));
        assert_eq!(inbound(&params).unwrap().body, "");
        let params = form(&format!("MessageSid={SID}&From=%2B1415&To=%2B1501&Body="));
        assert_eq!(inbound(&params).unwrap().body, "");
    }

    #[test]
    fn inbound_needs_sid_from_and_to() {
        assert_eq!(
            inbound(&form("From=%2B14155552671&To=%2B15017122661&Body=hi")).unwrap_err(),
            WebhookError::Missing("MessageSid")
        );
        assert_eq!(
            inbound(&form(&format!(
                "MessageSid={SID}&To=%2B15017122661&Body=hi"
            )))
            .unwrap_err(),
            WebhookError::Missing("From")
        );
        assert_eq!(
            inbound(&form(&format!("MessageSid={SID}&From=%2B1415&To=&Body=hi"))).unwrap_err(),
            WebhookError::Missing("To")
        );
    }

    fn status_body(status: &str, extra: &str) -> String {
        format!(
            "SmsSid={SID}&SmsStatus={status}&MessageStatus={status}&To=%2B14155552671\
             &MessageSid={SID}&AccountSid=AC0123456789abcdef0123456789abcdef\
             &From=%2B15017122661&ApiVersion=2010-04-01{extra}"
        )
    }

    #[test]
    fn status_callbacks_for_every_outbound_status() {
        for (raw, state) in [
            ("queued", ReportedState::Sent),
            ("accepted", ReportedState::Sent),
            ("scheduled", ReportedState::Sent),
            ("sending", ReportedState::Sent),
            ("sent", ReportedState::Sent),
            ("delivered", ReportedState::Delivered),
            ("read", ReportedState::Delivered),
            ("partially_delivered", ReportedState::Delivered),
            ("undelivered", ReportedState::Undelivered),
            ("failed", ReportedState::Failed),
            ("canceled", ReportedState::Cancelled),
        ] {
            let report = status(&form(&status_body(raw, ""))).unwrap();
            assert_eq!(
                report,
                DeliveryReport {
                    message_id: SID.to_owned(),
                    reference: None,
                    state,
                    raw_status: raw.to_owned(),
                    error_code: None,
                    error_text: None,
                },
                "{raw}"
            );
        }
    }

    #[test]
    fn status_carries_error_code_and_message() {
        let report = status(&form(&status_body(
            "undelivered",
            "&ErrorCode=30003&ErrorMessage=Unreachable+destination+handset",
        )))
        .unwrap();
        assert_eq!(report.state, ReportedState::Undelivered);
        assert_eq!(report.error_code.as_deref(), Some("30003"));
        assert_eq!(
            report.error_text.as_deref(),
            Some("Unreachable destination handset")
        );
        let report = status(&form(&status_body(
            "delivered",
            "&ErrorCode=0&ErrorMessage=",
        )))
        .unwrap();
        assert_eq!((report.error_code, report.error_text), (None, None));
    }

    #[test]
    fn status_falls_back_to_legacy_fields() {
        let report = status(&form(&format!("SmsSid={SID}&SmsStatus=Delivered"))).unwrap();
        assert_eq!(report.message_id, SID);
        assert_eq!(report.state, ReportedState::Delivered);
        assert_eq!(report.raw_status, "Delivered");
    }

    #[test]
    fn status_refuses_inbound_unknown_and_missing_statuses() {
        for raw in ["received", "receiving"] {
            assert_eq!(
                status(&form(&status_body(raw, ""))).unwrap_err(),
                WebhookError::Invalid {
                    field: "MessageStatus",
                    reason: "an inbound message's status, not an outbound one".to_owned()
                }
            );
        }
        assert_eq!(
            status(&form(&status_body("teleported", ""))).unwrap_err(),
            WebhookError::Invalid {
                field: "MessageStatus",
                reason: "unknown status `teleported`".to_owned()
            }
        );
        assert_eq!(
            status(&form(&format!("MessageSid={SID}&To=%2B14155552671"))).unwrap_err(),
            WebhookError::Missing("MessageStatus")
        );
        assert_eq!(
            status(&form("MessageStatus=delivered")).unwrap_err(),
            WebhookError::Missing("MessageSid")
        );
    }

    #[test]
    fn a_signed_status_callback_verifies_over_its_form_pairs() {
        let params = form(&status_body("delivered", ""));
        let url = "https://sms.example.com/webhooks/twilio/status?account=7";
        let signature = {
            use base64::Engine as _;
            use hmac::Mac as _;
            let mut pairs = params.pairs().to_vec();
            pairs.sort();
            let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"token").unwrap();
            mac.update(url.as_bytes());
            for (name, value) in &pairs {
                mac.update(name.as_bytes());
                mac.update(value.as_bytes());
            }
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        };
        assert!(verify_twilio_form("token", url, params.pairs(), &signature));
        assert!(!verify_twilio_form("token", url, &[], &signature));
    }
}
