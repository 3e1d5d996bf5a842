//! Consent history: each opt-out and opt-in of a candidate, with its time and source.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::{candidates, consent_events};
use crate::{DbConn, PersistenceError};

/// One change of a candidate's SMS consent.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consent_events, treat_none_as_default_value = false)]
pub struct ConsentEvent {
    pub id: String,
    pub organization_id: String,
    pub candidate_id: String,
    pub opted_out: bool,
    /// What made the change: `reply_keyword`, `provider_refusal` or `user`.
    pub source: String,
    /// The reply or the refused message behind it.
    pub message_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// Sets the candidate's consent and records the change; nothing happens (and `false` is
/// returned) when the candidate already had that consent.
pub async fn change(conn: &mut DbConn, event: &ConsentEvent) -> Result<bool, PersistenceError> {
    let changed = run!(conn, |c| diesel::update(
        candidates::table
            .filter(candidates::organization_id.eq(&event.organization_id))
            .filter(candidates::id.eq(&event.candidate_id))
            .filter(candidates::sms_opted_out.ne(event.opted_out))
    )
    .set((
        candidates::sms_opted_out.eq(event.opted_out),
        candidates::updated_at.eq(event.created_at),
    ))
    .execute(c)
    .await)?;
    if changed == 0 {
        return Ok(false);
    }
    run!(conn, |c| diesel::insert_into(consent_events::table)
        .values(event)
        .execute(c)
        .await)?;
    Ok(true)
}
