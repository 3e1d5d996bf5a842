//! Reconciliation with the providers' own records: how far each integration's records
//! have been read, which replica reads them now, and the lookups that tell a record we
//! lack from one we have.

use std::collections::HashSet;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use nextal_domain::{MessageStatus, ProviderKind};

use crate::db::run;
use crate::schema::{provider_sync, sms_messages, webhook_deliveries};
use crate::{DbConn, PersistenceError};

/// Ids per `IN (…)` list: keeps both backends far under their bind limits.
const CHUNK: usize = 300;

/// Takes the reconciliation lease of `integration_id` until `lease_until` when no
/// replica holds it, creating its row on first use as read up to `first_from`. Returns
/// how far its records have been read, or `None` while another replica holds the lease.
pub async fn claim(
    conn: &mut DbConn,
    integration_id: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    first_from: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, PersistenceError> {
    run!(conn, |c| diesel::insert_into(provider_sync::table)
        .values((
            provider_sync::integration_id.eq(integration_id),
            provider_sync::synced_until.eq(first_from),
            provider_sync::lease_expires_at.eq(None::<NaiveDateTime>),
            provider_sync::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c)
        .await)?;
    Ok(run!(conn, |c| diesel::update(
        provider_sync::table
            .filter(provider_sync::integration_id.eq(integration_id))
            .filter(
                provider_sync::lease_expires_at
                    .is_null()
                    .or(provider_sync::lease_expires_at.le(now))
            )
    )
    .set(provider_sync::lease_expires_at.eq(lease_until))
    .returning(provider_sync::synced_until)
    .get_result::<NaiveDateTime>(c)
    .await
    .optional())?)
}

/// Gives back the lease taken with `lease`, recording that the records have been read
/// up to `synced_until` when the round read them all. Does nothing once the lease is
/// no longer ours (it ran out and another replica took it).
pub async fn release(
    conn: &mut DbConn,
    integration_id: &str,
    lease: NaiveDateTime,
    synced_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    let mine = provider_sync::table
        .filter(provider_sync::integration_id.eq(integration_id))
        .filter(provider_sync::lease_expires_at.eq(lease));
    match synced_until {
        Some(until) => run!(conn, |c| diesel::update(mine)
            .set((
                provider_sync::lease_expires_at.eq(None::<NaiveDateTime>),
                provider_sync::synced_until.eq(until),
                provider_sync::updated_at.eq(now),
            ))
            .execute(c)
            .await)?,
        None => run!(conn, |c| diesel::update(mine)
            .set((
                provider_sync::lease_expires_at.eq(None::<NaiveDateTime>),
                provider_sync::updated_at.eq(now),
            ))
            .execute(c)
            .await)?,
    };
    Ok(())
}

/// Of the replies the provider calls `provider_ids`, those the organization already
/// has: stored in a thread, or kept in the raw log only because they arrived while the
/// provider was inactive. Ids compare without regard to case (a provider may
/// issue upper-case UUIDs that other answers spell in lower case); returned in lower
/// case.
pub async fn known_replies(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    provider_ids: &[String],
) -> Result<HashSet<String>, PersistenceError> {
    let mut known = HashSet::new();
    for chunk in provider_ids.chunks(CHUNK) {
        let spellings = spellings(chunk);
        let stored: Vec<Option<String>> = run!(conn, |c| sms_messages::table
            .filter(sms_messages::organization_id.eq(organization_id))
            .filter(sms_messages::provider.eq(provider))
            .filter(sms_messages::provider_message_id.eq_any(&spellings))
            .select(sms_messages::provider_message_id)
            .load(c)
            .await)?;
        let kept: Vec<Option<String>> = run!(conn, |c| webhook_deliveries::table
            .filter(webhook_deliveries::provider.eq(provider))
            .filter(webhook_deliveries::provider_message_id.eq_any(&spellings))
            .filter(webhook_deliveries::organization_id.eq(organization_id))
            .filter(webhook_deliveries::kind.eq("inbound"))
            .filter(webhook_deliveries::outcome.eq("provider_inactive"))
            .select(webhook_deliveries::provider_message_id)
            .load(c)
            .await)?;
        known.extend(
            stored
                .into_iter()
                .chain(kept)
                .flatten()
                .map(|id| id.to_ascii_lowercase()),
        );
    }
    Ok(known)
}

/// Each id as given, in lower case and in upper case.
fn spellings(ids: &[String]) -> Vec<String> {
    let mut all: Vec<String> = ids
        .iter()
        .flat_map(|id| [id.clone(), id.to_ascii_lowercase(), id.to_ascii_uppercase()])
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// An outbound message still waiting for its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingReceipt {
    /// Our id.
    pub id: String,
    /// The provider's id.
    pub provider_message_id: String,
}

/// Up to `limit` of the organization's messages through `provider` that have been
/// `sent` since between `sent_after` and `sent_before` without a receipt, and that
/// nobody asked the provider about since `checked_before`; oldest first.
pub async fn awaiting_receipt(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    sent_after: NaiveDateTime,
    sent_before: NaiveDateTime,
    checked_before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<AwaitingReceipt>, PersistenceError> {
    let rows: Vec<(String, Option<String>)> = run!(conn, |c| sms_messages::table
        .filter(sms_messages::organization_id.eq(organization_id))
        .filter(sms_messages::provider.eq(provider))
        .filter(sms_messages::status.eq(MessageStatus::Sent))
        .filter(sms_messages::updated_at.gt(sent_after))
        .filter(sms_messages::updated_at.le(sent_before))
        .filter(sms_messages::provider_message_id.is_not_null())
        .filter(
            sms_messages::status_checked_at
                .is_null()
                .or(sms_messages::status_checked_at.le(checked_before))
        )
        .order(sms_messages::updated_at.asc())
        .limit(limit)
        .select((sms_messages::id, sms_messages::provider_message_id))
        .load(c)
        .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, provider_message_id)| {
            Some(AwaitingReceipt {
                id,
                provider_message_id: provider_message_id?,
            })
        })
        .collect())
}

/// Notes that the provider was asked about messages `ids` at `now`.
pub async fn mark_status_checked(
    conn: &mut DbConn,
    ids: &[String],
    now: NaiveDateTime,
) -> Result<(), PersistenceError> {
    for chunk in ids.chunks(CHUNK) {
        run!(conn, |c| diesel::update(
            sms_messages::table.filter(sms_messages::id.eq_any(chunk))
        )
        .set(sms_messages::status_checked_at.eq(now))
        .execute(c)
        .await)?;
    }
    Ok(())
}
