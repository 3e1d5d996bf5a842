//! Bulk sends from the kanban board, and their accepted messages waiting, a thousand to
//! a chunk, to be written as messages.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nextal_domain::{MessageStatus, ProviderKind};

use crate::db::run;
use crate::schema::{sms_batch_chunks, sms_batches, sms_messages};
use crate::{DbConn, PersistenceError};

/// A stored batch; `skipped` is a JSON array of `{candidate_id, reason}`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_batches)]
pub struct Batch {
    pub id: String,
    pub organization_id: String,
    pub created_by: String,
    pub requested: i32,
    pub accepted: i32,
    pub skipped: String,
    pub created_at: NaiveDateTime,
}

/// Accepted messages of a batch not yet written as messages: what they share, and
/// `messages`, a JSON array the service reads.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_batch_chunks)]
pub struct Chunk {
    pub batch_id: String,
    /// Its place in the batch, from 0.
    pub seq: i32,
    pub organization_id: String,
    pub provider: ProviderKind,
    pub from_number: String,
    pub template_id: Option<String>,
    pub sent_by: String,
    pub messages: String,
    /// How many of `messages` go out at once.
    pub queued: i32,
    /// How many of `messages` wait for a later time.
    pub scheduled: i32,
    pub created_at: NaiveDateTime,
}

/// Stores a new batch.
pub async fn insert(conn: &mut DbConn, batch: &Batch) -> Result<(), PersistenceError> {
    run!(conn, |c| diesel::insert_into(sms_batches::table)
        .values(batch)
        .execute(c)
        .await)?;
    Ok(())
}

/// Stores a batch's chunks, one statement each: all of them in one statement would
/// build a parameter buffer of several megabytes.
pub async fn insert_chunks(conn: &mut DbConn, chunks: &[Chunk]) -> Result<(), PersistenceError> {
    for chunk in chunks {
        run!(conn, |c| diesel::insert_into(sms_batch_chunks::table)
            .values(chunk)
            .execute(c)
            .await)?;
    }
    Ok(())
}

/// Which chunk is the oldest, and whose provider it waits for.
#[derive(Debug, Clone, Queryable)]
pub struct ChunkKey {
    pub batch_id: String,
    pub seq: i32,
    pub organization_id: String,
    pub provider: ProviderKind,
}

/// The oldest waiting chunk (of `organization_id` only, when given) other than those
/// of `passed`, without taking it: the caller locks its provider's integration first,
/// in the order a deactivation takes the two (see [`take_chunk`]).
pub async fn oldest_chunk(
    conn: &mut DbConn,
    organization_id: Option<&str>,
    passed: &[ChunkKey],
) -> Result<Option<ChunkKey>, PersistenceError> {
    // Boxed inside `run!`: a boxed query belongs to one backend.
    Ok(run!(conn, |c| {
        let mut query = sms_batch_chunks::table.into_boxed();
        if let Some(organization_id) = organization_id {
            query = query.filter(sms_batch_chunks::organization_id.eq(organization_id));
        }
        for key in passed {
            query = query.filter(diesel::dsl::not(
                sms_batch_chunks::batch_id
                    .eq(&key.batch_id)
                    .and(sms_batch_chunks::seq.eq(key.seq)),
            ));
        }
        query
            .order((
                sms_batch_chunks::created_at,
                sms_batch_chunks::batch_id,
                sms_batch_chunks::seq,
            ))
            .select((
                sms_batch_chunks::batch_id,
                sms_batch_chunks::seq,
                sms_batch_chunks::organization_id,
                sms_batch_chunks::provider,
            ))
            .first(c)
            .await
            .optional()
    })?)
}

/// Takes chunk `key` out of the table, for the caller to write its messages in the same
/// transaction: a chunk is written once, and a failed write puts it back. `None` when
/// another writer took it first (on PostgreSQL this waits until that writer commits).
pub async fn take_chunk(
    conn: &mut DbConn,
    key: &ChunkKey,
) -> Result<Option<Chunk>, PersistenceError> {
    Ok(run!(conn, |c| diesel::delete(
        sms_batch_chunks::table
            .filter(sms_batch_chunks::batch_id.eq(&key.batch_id))
            .filter(sms_batch_chunks::seq.eq(key.seq))
    )
    .returning(Chunk::as_returning())
    .get_result(c)
    .await
    .optional())?)
}

/// Takes every chunk of the organization waiting for `provider`: a deactivation writes
/// them as cancelled in its own transaction.
pub async fn take_chunks_for_provider(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
) -> Result<Vec<Chunk>, PersistenceError> {
    Ok(run!(conn, |c| diesel::delete(
        sms_batch_chunks::table
            .filter(sms_batch_chunks::organization_id.eq(organization_id))
            .filter(sms_batch_chunks::provider.eq(provider))
    )
    .returning(Chunk::as_returning())
    .get_results(c)
    .await)?)
}

/// Batch `id` of the organization.
pub async fn find(
    conn: &mut DbConn,
    organization_id: &str,
    id: &str,
) -> Result<Option<Batch>, PersistenceError> {
    Ok(run!(conn, |c| sms_batches::table
        .filter(sms_batches::organization_id.eq(organization_id))
        .filter(sms_batches::id.eq(id))
        .select(Batch::as_select())
        .first(c)
        .await
        .optional())?)
}

/// How many of the batch's messages are in each status, those still in chunks counted
/// as the status they will be written with.
pub async fn status_counts(
    conn: &mut DbConn,
    id: &str,
) -> Result<Vec<(MessageStatus, i64)>, PersistenceError> {
    let mut counts: Vec<(MessageStatus, i64)> = run!(conn, |c| sms_messages::table
        .filter(sms_messages::batch_id.eq(id))
        .group_by(sms_messages::status)
        .select((sms_messages::status, diesel::dsl::count_star()))
        .load(c)
        .await)?;
    let waiting: Vec<(i32, i32)> = run!(conn, |c| sms_batch_chunks::table
        .filter(sms_batch_chunks::batch_id.eq(id))
        .select((sms_batch_chunks::queued, sms_batch_chunks::scheduled))
        .load(c)
        .await)?;
    for (queued, scheduled) in waiting {
        for (status, count) in [
            (MessageStatus::Queued, queued),
            (MessageStatus::Scheduled, scheduled),
        ] {
            match counts.iter_mut().find(|(known, _)| *known == status) {
                Some((_, total)) => *total += i64::from(count),
                None => counts.push((status, i64::from(count))),
            }
        }
    }
    counts.retain(|(_, count)| *count > 0);
    Ok(counts)
}
