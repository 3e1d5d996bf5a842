//! Counters of failed sign-ins, per account and per client address, shared by all replicas.

use chrono::NaiveDateTime;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamp};
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::login_throttle;
use crate::{DbConn, PersistenceError};

/// Failures counted for one key since `window_started_at`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = login_throttle)]
pub struct FailureWindow {
    pub key: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
}

/// The failure windows of `keys` that exist.
pub async fn find(
    conn: &mut DbConn,
    keys: &[String],
) -> Result<Vec<FailureWindow>, PersistenceError> {
    Ok(run!(conn, |c| login_throttle::table
        .filter(login_throttle::key.eq_any(keys))
        .select(FailureWindow::as_select())
        .load(c)
        .await)?)
}

/// Counts one more failure for `key` in one statement, so concurrent failures are all
/// counted: a window that started before `window_cutoff` restarts at `now` with 1.
pub async fn record_failure(
    conn: &mut DbConn,
    key: &str,
    now: NaiveDateTime,
    window_cutoff: NaiveDateTime,
) -> Result<(), PersistenceError> {
    let expired = login_throttle::window_started_at.lt(window_cutoff);
    run!(conn, |c| diesel::insert_into(login_throttle::table)
        .values(&FailureWindow {
            key: key.to_owned(),
            failures: 1,
            window_started_at: now,
        })
        .on_conflict(login_throttle::key)
        .do_update()
        .set((
            login_throttle::failures
                .eq(case_when(expired, 1.into_sql::<Integer>())
                    .otherwise(login_throttle::failures + 1)),
            login_throttle::window_started_at.eq(case_when(expired, now.into_sql::<Timestamp>())
                .otherwise(login_throttle::window_started_at)),
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Forgets the failures of `key`, after a successful sign-in.
pub async fn clear(conn: &mut DbConn, key: &str) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::delete(login_throttle::table.find(key))
        .execute(c)
        .await)?;
    Ok(())
}
