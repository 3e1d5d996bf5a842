//! Settling hand-overs whose outcome is unknown. A provider that settles from history
//! ([`InDoubt::SettleFromHistory`]: its history carries our message id) says whether it
//! accepted them; what it does not know goes back in the queue. A provider whose
//! resends are safe ([`InDoubt::ResendSafely`]) has them requeued.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDateTime, TimeDelta};
use nextal_domain::{Failure, FailureReason, MessageStatus};
use nextal_persistence::DbConn;
use nextal_persistence::repo::integrations::{self, Integration};
use nextal_persistence::repo::messages::{self, Message, MessageEvent, SentUpdate};
use nextal_providers::{InDoubt, by_kind};

use super::leases::{HOLD_LEASE, Held, RoundClock, while_renewing};
use super::{DispatchReport, Dispatcher, GIVE_UP_AFTER, group};
use crate::services::integrations::client_for;
use crate::services::new_id;

/// How long to wait before asking the provider's history again after it failed.
const SETTLEMENT_RETRY: TimeDelta = TimeDelta::seconds(10);
/// Pages of sent history read to settle one organization.
const HISTORY_PAGES: u32 = 200;

/// Our message id → the provider's, for the messages found in its history; an error
/// when the history could not be read to the end.
type Found = anyhow::Result<HashMap<String, String>>;

impl Dispatcher {
    /// Settles the messages whose hand-over ended without an answer and whose settle
    /// time has come, or whose lease ran out (their dispatcher died). They are claimed
    /// like due messages, so that two replicas never settle the same one, under a short
    /// lease renewed while this round settles them.
    pub(super) async fn settle_in_doubt(
        &self,
        clock: RoundClock,
    ) -> anyhow::Result<DispatchReport> {
        let state = &self.state;
        let now = clock.start();
        let lease = now + HOLD_LEASE;
        let doubtful = {
            let mut conn = state.db.conn().await?;
            messages::claim_in_doubt(&mut conn, now, lease, state.dispatch.claim_limit).await?
        };
        if doubtful.is_empty() {
            return Ok(DispatchReport::default());
        }
        let held = Held::new(doubtful.iter().map(|message| message.id.clone()), lease);
        let groups = group(doubtful, |message| {
            (message.organization_id.clone(), message.provider)
        });
        let settled = async {
            let mut report = DispatchReport::default();
            for ((organization_id, provider), batch) in groups {
                let row = {
                    let mut conn = state.db.conn().await?;
                    integrations::find(&mut conn, &organization_id, provider).await?
                };
                // Without its integration nothing can be looked up: the lease runs out
                // and a later round tries again.
                let Some(row) = row else { continue };
                report.add(self.settle_group(&row, batch, clock, &held).await?);
            }
            anyhow::Ok(report)
        };
        while_renewing(&state.db, &held, clock, settled).await
    }

    /// Settles one organization's messages in doubt with `row`'s provider.
    async fn settle_group(
        &self,
        row: &Integration,
        batch: Vec<Message>,
        clock: RoundClock,
        held: &Held,
    ) -> anyhow::Result<DispatchReport> {
        let state = &self.state;
        let settles_from_history =
            by_kind(row.provider).descriptor().in_doubt == InDoubt::SettleFromHistory;
        let found = if settles_from_history {
            self.sent_history(row, &batch).await
        } else {
            Ok(HashMap::new())
        };
        // The lookup took time: keep only the messages still ours, for long enough to
        // record them.
        let ids: Vec<String> = batch.iter().map(|message| message.id.clone()).collect();
        let ours: HashSet<String> = held
            .take(&state.db, &ids, clock, HOLD_LEASE)
            .await?
            .into_iter()
            .collect();
        // One sent again is due as of the round's start, so that the round's claim,
        // which follows, takes it.
        let (now, due) = (clock.now(), clock.start());
        let mut report = DispatchReport::default();
        let mut tx = state.db.begin().await?;
        let mut history = Vec::with_capacity(batch.len());
        for message in batch.iter().filter(|message| ours.contains(&message.id)) {
            let Some((status, detail)) =
                settle_one(&mut tx, row, message, &found, (now, due), &mut report).await?
            else {
                continue;
            };
            report.settled += 1;
            history.push(MessageEvent {
                id: new_id(),
                message_id: message.id.clone(),
                status,
                detail: Some(detail),
                created_at: now,
            });
        }
        messages::insert_events(&mut tx, &history).await?;
        tx.commit().await?;
        Ok(report)
    }

    /// Our message id → the provider's, for the messages of `batch` found in its sent
    /// history.
    async fn sent_history(&self, row: &Integration, batch: &[Message]) -> Found {
        let state = &self.state;
        let client = client_for(state, row.provider, row)
            .map_err(|error| anyhow::anyhow!("{}", error.detail()))?;
        let since = batch
            .iter()
            .map(|message| message.created_at)
            .min()
            .map_or(0, |oldest| {
                (oldest - TimeDelta::minutes(1)).and_utc().timestamp()
            });
        let wanted: HashSet<&str> = batch.iter().map(|m| m.id.as_str()).collect();
        let mut found = HashMap::new();
        for page in 1..=HISTORY_PAGES {
            let (records, more) = client.sent_history(since, page).await?;
            for record in records {
                if wanted.contains(record.reference.as_str()) {
                    found.insert(record.reference, record.provider_message_id);
                }
            }
            if !more || found.len() == wanted.len() {
                return Ok(found);
            }
        }
        // Not read to the end: "not found" would be a guess, and a guess may double-send.
        anyhow::bail!(
            "{}'s history holds more than {HISTORY_PAGES} pages since the oldest message in doubt",
            row.provider
        )
    }
}

/// Settles `message` by what the history `found`, at `now`; one to send again is due
/// at `due`. Returns its new status and why, or `None` when it stays in doubt to be
/// looked up again.
async fn settle_one(
    tx: &mut DbConn,
    row: &Integration,
    message: &Message,
    found: &Found,
    (now, due): (NaiveDateTime, NaiveDateTime),
    report: &mut DispatchReport,
) -> anyhow::Result<Option<(MessageStatus, String)>> {
    let expired = now - message.send_at > GIVE_UP_AFTER;
    let found = match found {
        Ok(found) => found.get(&message.id),
        Err(_) if expired => {
            let reason = "outcome_unknown";
            let failure = Failure::ours(FailureReason::Expired);
            messages::mark_failed(tx, &message.id, &failure, reason, now).await?;
            report.failed += 1;
            return Ok(Some((MessageStatus::Failed, reason.to_owned())));
        }
        Err(error) => {
            let reason = format!("cannot check the provider's history yet: {error:#}");
            messages::mark_in_doubt(tx, &message.id, now + SETTLEMENT_RETRY, &reason, now).await?;
            return Ok(None);
        }
    };
    Ok(Some(match found {
        Some(provider_message_id) => {
            let sent = SentUpdate {
                id: message.id.clone(),
                pid: provider_message_id.clone(),
                parts: None,
                price: None,
            };
            messages::mark_sent(tx, &[sent], now).await?;
            report.sent += 1;
            (
                MessageStatus::Sent,
                "found in the provider's history".to_owned(),
            )
        }
        None if expired => {
            let reason = format!(
                "gave up: not sent {} hours after it was due; the provider has no record of it",
                GIVE_UP_AFTER.num_hours()
            );
            let failure = Failure::ours(FailureReason::Expired);
            messages::mark_failed(tx, &message.id, &failure, &reason, now).await?;
            report.failed += 1;
            (MessageStatus::Failed, reason)
        }
        None if row.active => {
            let reason = "outcome unknown; the provider has no record of it, sending again";
            messages::requeue(tx, &message.id, due, reason, now).await?;
            report.retried += 1;
            (MessageStatus::Queued, reason.to_owned())
        }
        None => {
            let reason = "provider deactivated";
            messages::cancel_claimed(tx, std::slice::from_ref(&message.id), reason, now).await?;
            report.cancelled += 1;
            (MessageStatus::Cancelled, reason.to_owned())
        }
    }))
}
