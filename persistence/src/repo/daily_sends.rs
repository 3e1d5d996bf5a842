//! Messages accepted for sending per organization and calendar day, for the daily send
//! cap. Rows of past days are kept: one per organization per day it sent.

use chrono::NaiveDate;
use diesel::prelude::*;
// `filter` on an upsert (its `ON CONFLICT … DO UPDATE … WHERE`) is not a query method.
use diesel::query_dsl::methods::FilterDsl as _;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::sms_daily_sends;
use crate::{DbConn, PersistenceError};

/// Messages counted for the organization on `day` (0 when none).
pub async fn sent_on(
    conn: &mut DbConn,
    organization_id: &str,
    day: NaiveDate,
) -> Result<i32, PersistenceError> {
    let sent: Option<i32> = run!(conn, |c| sms_daily_sends::table
        .find((organization_id, day))
        .select(sms_daily_sends::sent)
        .first(c)
        .await
        .optional())?;
    Ok(sent.unwrap_or(0))
}

/// Counts `messages` more for the organization on `day` unless that would take the day
/// past `cap`; true when counted. One statement, so concurrent senders cannot both take
/// the last places: on PostgreSQL the conflicting row is locked and the guard is checked
/// against its latest value, and SQLite transactions already hold the write lock. The
/// row stays locked until the transaction ends.
pub async fn try_count(
    conn: &mut DbConn,
    organization_id: &str,
    day: NaiveDate,
    messages: i32,
    cap: i32,
) -> Result<bool, PersistenceError> {
    // A first row is inserted unguarded: `messages` must fit a cap of its own.
    if messages > cap {
        return Ok(false);
    }
    let changed = run!(conn, |c| diesel::insert_into(sms_daily_sends::table)
        .values((
            sms_daily_sends::organization_id.eq(organization_id),
            sms_daily_sends::day.eq(day),
            sms_daily_sends::sent.eq(messages),
        ))
        .on_conflict((sms_daily_sends::organization_id, sms_daily_sends::day))
        .do_update()
        .set(sms_daily_sends::sent.eq(sms_daily_sends::sent + messages))
        .filter(sms_daily_sends::sent.le(cap - messages))
        .execute(c)
        .await)?;
    Ok(changed == 1)
}
