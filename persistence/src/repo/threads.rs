//! SMS threads: one per candidate phone number within an organization.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::db::run;
use crate::schema::{sms_messages, sms_threads};
use crate::{DbConn, PersistenceError};

/// A stored thread.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_threads, treat_none_as_default_value = false)]
pub struct Thread {
    pub id: String,
    pub organization_id: String,
    pub phone: String,
    pub candidate_id: Option<String>,
    pub unread_count: i32,
    pub last_message_at: Option<NaiveDateTime>,
    pub last_message_preview: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Thread `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Thread>, PersistenceError> {
    Ok(run!(conn, |c| sms_threads::table
        .filter(sms_threads::organization_id.eq(organization_id))
        .filter(sms_threads::id.eq(id))
        .select(Thread::as_select())
        .first(c)
        .await
        .optional())?)
}

/// The organization's threads with any of `phones`.
pub async fn find_by_phones(
    conn: &mut DbConn,
    organization_id: &str,
    phones: &[String],
) -> Result<Vec<Thread>, PersistenceError> {
    let mut found = Vec::with_capacity(phones.len());
    for chunk in phones.chunks(500) {
        let rows: Vec<Thread> = run!(conn, |c| sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::phone.eq_any(chunk))
            .select(Thread::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}

/// The organization's threads linked to any of `candidate_ids`.
pub async fn find_by_candidates(
    conn: &mut DbConn,
    organization_id: &str,
    candidate_ids: &[String],
) -> Result<Vec<Thread>, PersistenceError> {
    let mut found = Vec::with_capacity(candidate_ids.len());
    for chunk in candidate_ids.chunks(500) {
        let rows: Vec<Thread> = run!(conn, |c| sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::candidate_id.eq_any(chunk))
            .select(Thread::as_select())
            .load(c)
            .await)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Stores `threads`, skipping any whose phone already has a thread (a concurrent send
/// may have made it).
pub async fn insert_missing(conn: &mut DbConn, threads: &[Thread]) -> Result<(), PersistenceError> {
    for chunk in threads.chunks(500) {
        match conn {
            DbConn::Postgres(object) => {
                diesel::insert_into(sms_threads::table)
                    .values(chunk)
                    .on_conflict_do_nothing()
                    .execute(&mut **object)
                    .await?;
            }
            DbConn::Sqlite(object) => {
                let rows = chunk.to_vec();
                object
                    .spawn_blocking(move |sqlite| {
                        diesel::RunQueryDsl::execute(
                            diesel::insert_or_ignore_into(sms_threads::table).values(&rows),
                            sqlite,
                        )
                    })
                    .await?;
            }
        }
    }
    Ok(())
}

/// Links thread `id` to the candidate just messaged on its number.
pub async fn link_candidate(
    conn: &mut DbConn,
    id: &str,
    candidate_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::update(sms_threads::table.find(id))
        .set((
            sms_threads::candidate_id.eq(candidate_id),
            sms_threads::updated_at.eq(now)
        ))
        .execute(c)
        .await)?;
    Ok(())
}

/// Points the threads' last-message fields at their newest message.
pub async fn refresh_last_message(
    conn: &mut DbConn,
    thread_ids: &[String],
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    for chunk in thread_ids.chunks(500) {
        let newest = sms_messages::table
            .filter(sms_messages::thread_id.eq(sms_threads::id))
            .order(sms_messages::id.desc())
            .limit(1);
        run!(conn, |c| diesel::update(
            sms_threads::table.filter(sms_threads::id.eq_any(chunk))
        )
        .set((
            sms_threads::last_message_at.eq(newest.select(sms_messages::created_at).single_value()),
            sms_threads::last_message_preview.eq(newest.select(sms_messages::body).single_value()),
            sms_threads::updated_at.eq(now),
        ))
        .execute(c)
        .await)?;
    }
    Ok(())
}

/// Links the organization's thread with `phone` to `candidate_id` when no candidate
/// owns it yet (replies from a number before anyone added the candidate); a thread
/// already linked to a candidate stays theirs. True when a thread was linked.
pub async fn link_unowned(
    conn: &mut DbConn,
    organization_id: &str,
    phone: &str,
    candidate_id: &str,
    now: NaiveDateTime,
) -> Result<bool, PersistenceError> {
    let linked = run!(conn, |c| diesel::update(
        sms_threads::table
            .filter(sms_threads::organization_id.eq(organization_id))
            .filter(sms_threads::phone.eq(phone))
            .filter(sms_threads::candidate_id.is_null())
    )
    .set((
        sms_threads::candidate_id.eq(candidate_id),
        sms_threads::updated_at.eq(now),
    ))
    .execute(c)
    .await)?;
    Ok(linked > 0)
}
