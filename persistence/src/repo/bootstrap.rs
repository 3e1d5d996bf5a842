//! The once-per-database marker that makes first-start bootstrapping race-free.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::instance_bootstrap;
use crate::{DbConn, PersistenceError};

/// Claims the right to bootstrap this database. True for exactly one caller, ever:
/// a concurrent claimant waits on the row and then sees it taken.
pub async fn claim(conn: &mut DbConn, now: NaiveDateTime) -> Result<bool, PersistenceError> {
    let inserted = run!(conn, |c| diesel::insert_into(instance_bootstrap::table)
        .values((
            instance_bootstrap::id.eq(1),
            instance_bootstrap::created_at.eq(now)
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(inserted == 1)
}
