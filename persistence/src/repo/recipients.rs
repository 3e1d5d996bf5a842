//! What a failed message tells about its recipient: that they opted out of our number,
//! or that their number cannot take SMS.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nextal_domain::{Failure, FailureReason};

use crate::db::run;
use crate::repo::consent::{self, ConsentEvent};
use crate::schema::{candidates, sms_messages};
use crate::{DbConn, PersistenceError};

/// What a consent change made by a failure records as its source.
const CONSENT_SOURCE: &str = "provider_refusal";

/// Applies what `failure` of message `message_id` says about its candidate: an opt-out
/// (`opted_out`: the provider's "unsubscribed recipient" or a carrier opt-out) is recorded as a consent change
/// with `consent_event_id`; a number that cannot take SMS (`not_mobile`) is flagged on
/// the candidate while it is still their number. Other reasons say nothing about them.
pub async fn learn_from_failure(
    conn: &mut DbConn,
    message_id: &str,
    failure: &Failure,
    consent_event_id: String,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    if !matches!(
        failure.reason,
        FailureReason::OptedOut | FailureReason::NotMobile
    ) {
        return Ok(());
    }
    let recipient: Option<(String, Option<String>, String)> = run!(conn, |c| sms_messages::table
        .filter(sms_messages::id.eq(message_id))
        .select((
            sms_messages::organization_id,
            sms_messages::candidate_id,
            sms_messages::to_number,
        ))
        .first(c)
        .await
        .optional())?;
    let Some((organization_id, Some(candidate_id), number)) = recipient else {
        return Ok(());
    };
    if failure.reason == FailureReason::OptedOut {
        let event = ConsentEvent {
            id: consent_event_id,
            organization_id,
            candidate_id,
            opted_out: true,
            source: CONSENT_SOURCE.to_owned(),
            message_id: Some(message_id.to_owned()),
            created_at: now,
        };
        consent::change(conn, &event).await?;
        return Ok(());
    }
    run!(conn, |c| diesel::update(
        candidates::table
            .filter(candidates::organization_id.eq(&organization_id))
            .filter(candidates::id.eq(&candidate_id))
            .filter(candidates::phone.eq(&number))
    )
    .set((
        candidates::not_mobile_phone.eq(&number),
        candidates::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(())
}
