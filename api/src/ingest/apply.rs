//! Storing and applying a batch of deliveries in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDateTime;
use nextal_domain::{ConsentChange, Direction, Failure, MessageStatus, ProviderKind, segment};
use nextal_persistence::repo::consent::{self, ConsentEvent};
use nextal_persistence::repo::messages::{self, Message, MessageEvent, ReportedChange};
use nextal_persistence::repo::threads::{self, ReplyActivity, ReplyThread};
use nextal_persistence::repo::webhook_deliveries::{self, WebhookDelivery};
use nextal_persistence::repo::{candidates, integrations, recipients};
use nextal_persistence::{DbConn, PersistenceError};
use nextal_providers::by_kind;
use nextal_providers::webhooks::{DeliveryReport, InboundSms, ReportedState};

use super::{Content, Delivery, Outcome, Writers};
use crate::events::{EventKind, InboxEvent};
use crate::services::{new_id, now};

/// Stores `deliveries` raw and applies them, in one transaction; returns each one's
/// outcome, in order.
pub(super) async fn apply(
    context: &Writers,
    deliveries: &[Delivery],
) -> Result<Vec<Outcome>, PersistenceError> {
    let now = now();
    let mut outcomes = vec![Outcome::Unreadable; deliveries.len()];
    let mut events = Vec::new();
    let mut tx = context.db.begin().await?;
    let mut by_organization: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut unread: BTreeMap<&str, i64> = BTreeMap::new();
    for (index, delivery) in deliveries.iter().enumerate() {
        by_organization
            .entry(&delivery.organization_id)
            .or_default()
            .push(index);
    }
    for (organization_id, indexes) in by_organization {
        for provider in ProviderKind::ALL {
            let mine = |index: &&usize| deliveries[**index].provider == provider;
            let replies: Vec<(usize, &InboundSms)> = indexes
                .iter()
                .filter(mine)
                .filter_map(|&index| match &deliveries[index].content {
                    Content::Inbound(reply) => Some((index, reply)),
                    _ => None,
                })
                .collect();
            let reports: Vec<(usize, &DeliveryReport)> = indexes
                .iter()
                .filter(mine)
                .filter_map(|&index| match &deliveries[index].content {
                    Content::Receipt(report) => Some((index, report)),
                    _ => None,
                })
                .collect();
            let batch = Batch {
                organization_id,
                provider,
                now,
            };
            if !replies.is_empty() {
                *unread.entry(organization_id).or_default() += batch
                    .store_replies(&mut tx, &replies, &mut outcomes, &mut events)
                    .await?;
            }
            if !reports.is_empty() {
                batch
                    .apply_reports(&mut tx, &reports, &mut outcomes, &mut events)
                    .await?;
            }
        }
    }
    let raw: Vec<WebhookDelivery> = deliveries
        .iter()
        .zip(&outcomes)
        .map(|(delivery, outcome)| raw_row(delivery, outcome.as_str()))
        .collect();
    webhook_deliveries::insert_many(&mut tx, &raw).await?;
    context.events.stage(&mut tx, &mut events).await?;
    // Last: the organization's total is one row that concurrent writers wait for.
    for (organization_id, replies) in unread {
        if replies > 0 {
            threads::add_unread(&mut tx, organization_id, replies).await?;
        }
    }
    tx.commit().await?;
    context.events.committed(events);
    Ok(outcomes)
}

/// Keeps a delivery that could not be applied in the raw log, marked `failed`.
pub(super) async fn keep_failed(
    context: &Writers,
    delivery: &Delivery,
) -> Result<(), PersistenceError> {
    let mut conn = context.db.conn().await?;
    webhook_deliveries::insert_many(&mut conn, &[raw_row(delivery, Outcome::FAILED)]).await
}

fn raw_row(delivery: &Delivery, outcome: &str) -> WebhookDelivery {
    let provider_message_id = match &delivery.content {
        Content::Inbound(reply) => Some(reply.message_id.clone()),
        Content::Receipt(report) => Some(report.message_id.clone()),
        Content::Unreadable => None,
    };
    WebhookDelivery {
        id: new_id(),
        organization_id: delivery.organization_id.clone(),
        provider: delivery.provider,
        kind: delivery.kind.as_str().to_owned(),
        provider_message_id,
        content_type: delivery.content_type.clone(),
        payload: delivery.payload.clone(),
        outcome: outcome.to_owned(),
        received_at: delivery.received_at,
    }
}

/// The deliveries of one organization and provider within a batch.
struct Batch<'a> {
    organization_id: &'a str,
    provider: ProviderKind,
    now: NaiveDateTime,
}

impl Batch<'_> {
    /// Adds new replies to their threads (creating threads for unknown numbers), counts
    /// them unread and applies opt-out keywords; returns how many were new. Repeats and
    /// replies for an inactive provider change nothing.
    async fn store_replies(
        &self,
        conn: &mut DbConn,
        replies: &[(usize, &InboundSms)],
        outcomes: &mut [Outcome],
        events: &mut Vec<InboxEvent>,
    ) -> Result<i64, PersistenceError> {
        let organization_id = self.organization_id;
        let active = integrations::find(conn, organization_id, self.provider)
            .await?
            .is_some_and(|integration| integration.active);
        if !active {
            for (index, _) in replies {
                outcomes[*index] = Outcome::ProviderInactive;
            }
            return Ok(0);
        }
        // The same reply twice in one batch is stored once.
        let mut seen = HashSet::new();
        let mut fresh = Vec::with_capacity(replies.len());
        for &(index, reply) in replies {
            if seen.insert(reply.message_id.as_str()) {
                fresh.push((index, reply));
            } else {
                outcomes[index] = Outcome::Duplicate;
            }
        }
        let thread_ids = self.threads_for(conn, &fresh).await?;
        let rows: Vec<Message> = fresh
            .iter()
            .filter_map(|(_, reply)| {
                let (thread_id, candidate_id) = thread_ids.get(&reply.from)?;
                Some(self.reply_row(reply, thread_id, candidate_id.clone()))
            })
            .collect();
        let stored: HashSet<String> = messages::insert_replies(conn, &rows)
            .await?
            .into_iter()
            .collect();
        let mut activity: BTreeMap<&str, ReplyActivity> = BTreeMap::new();
        for ((index, _), row) in fresh.iter().zip(&rows) {
            if !stored.contains(&row.id) {
                outcomes[*index] = Outcome::Duplicate;
                continue;
            }
            outcomes[*index] = Outcome::Applied;
            let entry = activity
                .entry(&row.thread_id)
                .or_insert_with(|| ReplyActivity {
                    thread_id: row.thread_id.clone(),
                    replies: 0,
                    preview: String::new(),
                });
            entry.replies += 1;
            entry.preview.clone_from(&row.body);
            if let (Some(candidate_id), Some(change)) =
                (&row.candidate_id, ConsentChange::from_reply(&row.body))
            {
                let event = ConsentEvent {
                    id: new_id(),
                    organization_id: organization_id.to_owned(),
                    candidate_id: candidate_id.clone(),
                    opted_out: change.opts_out(),
                    source: "reply_keyword".to_owned(),
                    message_id: Some(row.id.clone()),
                    created_at: self.now,
                };
                consent::change(conn, &event).await?;
            }
            events.push(InboxEvent::message(
                organization_id,
                EventKind::MessageReceived,
                &row.thread_id,
                &row.id,
                MessageStatus::Received,
            ));
        }
        let activity: Vec<ReplyActivity> = activity.into_values().collect();
        threads::record_replies(conn, &activity, self.now).await?;
        Ok(activity
            .iter()
            .map(|thread| i64::from(thread.replies))
            .sum())
    }

    /// Phone → (thread id, candidate) for the replies' numbers. A thread keeps the
    /// candidate it has (the one most recently messaged); a new thread, or one that has
    /// none, gets the candidate with that number, the most recently updated one when
    /// several share it, and is flagged ambiguous then.
    async fn threads_for(
        &self,
        conn: &mut DbConn,
        replies: &[(usize, &InboundSms)],
    ) -> Result<HashMap<String, (String, Option<String>)>, PersistenceError> {
        let phones: Vec<String> = replies
            .iter()
            .map(|(_, reply)| reply.from.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let owners = candidates::find_by_phones(conn, self.organization_id, &phones).await?;
        let mut by_phone: HashMap<&str, Vec<&str>> = HashMap::new();
        for owner in &owners {
            if let Some(phone) = owner.phone.as_deref() {
                by_phone.entry(phone).or_default().push(&owner.id);
            }
        }
        // Sorted by phone, so concurrent writers lock threads in the same order.
        let wanted: Vec<ReplyThread> = phones
            .iter()
            .map(|phone| {
                let owners = by_phone.get(phone.as_str());
                ReplyThread {
                    id: new_id(),
                    phone: phone.clone(),
                    candidate_id: owners
                        .and_then(|owners| owners.first())
                        .map(|id| (*id).to_owned()),
                    candidate_ambiguous: owners.is_some_and(|owners| owners.len() > 1),
                }
            })
            .collect();
        let links =
            threads::ensure_for_replies(conn, self.organization_id, &wanted, self.now).await?;
        Ok(links
            .into_iter()
            .map(|link| (link.phone, (link.id, link.candidate_id)))
            .collect())
    }

    fn reply_row(
        &self,
        reply: &InboundSms,
        thread_id: &str,
        candidate_id: Option<String>,
    ) -> Message {
        let segmentation = segment(&reply.body);
        Message {
            id: new_id(),
            organization_id: self.organization_id.to_owned(),
            thread_id: thread_id.to_owned(),
            candidate_id,
            batch_id: None,
            direction: Direction::Inbound,
            body: reply.body.clone(),
            encoding: segmentation.encoding,
            segments: i32::try_from(segmentation.segments).unwrap_or(i32::MAX),
            status: MessageStatus::Received,
            status_reason: None,
            provider: self.provider,
            from_number: reply.from.clone(),
            to_number: reply.to.clone(),
            provider_message_id: Some(reply.message_id.clone()),
            price: None,
            sent_by: None,
            template_id: None,
            send_at: self.now,
            next_attempt_at: self.now,
            attempts: 0,
            lease_expires_at: None,
            created_at: self.now,
            updated_at: self.now,
            failure_reason: None,
            provider_error_code: None,
        }
    }

    /// Moves each reported message forward; a report that would move one back, or
    /// repeats its status, changes nothing. Reports apply whether or not the provider
    /// is still active: they describe messages it already sent.
    async fn apply_reports(
        &self,
        conn: &mut DbConn,
        reports: &[(usize, &DeliveryReport)],
        outcomes: &mut [Outcome],
        events: &mut Vec<InboxEvent>,
    ) -> Result<(), PersistenceError> {
        let provider_ids: Vec<String> = reports
            .iter()
            .map(|(_, report)| report.message_id.clone())
            .collect();
        let own_ids: Vec<String> = reports
            .iter()
            .filter_map(|(_, report)| report.reference.clone())
            .filter(|reference| uuid::Uuid::parse_str(reference).is_ok())
            .collect();
        let found = messages::find_reported(
            conn,
            self.organization_id,
            self.provider,
            &provider_ids,
            &own_ids,
        )
        .await?;
        let by_provider_id: HashMap<String, String> = found
            .iter()
            .filter_map(|message| {
                let provider_id = message.provider_message_id.as_ref()?;
                Some((provider_id.to_ascii_lowercase(), message.id.clone()))
            })
            .collect();
        // Status as it stands, updated as this batch's reports apply.
        let mut current: HashMap<String, (MessageStatus, String)> = found
            .into_iter()
            .map(|message| (message.id, (message.status, message.thread_id)))
            .collect();
        let mut history = Vec::new();
        for &(index, report) in reports {
            let id = by_provider_id
                .get(&report.message_id.to_ascii_lowercase())
                .cloned()
                .or_else(|| {
                    report
                        .reference
                        .clone()
                        .filter(|reference| current.contains_key(reference))
                });
            let Some(id) = id else {
                outcomes[index] = Outcome::Unmatched;
                continue;
            };
            let Some((status, thread_id)) = current.get(&id).cloned() else {
                outcomes[index] = Outcome::Unmatched;
                continue;
            };
            let detail = report_detail(self.provider, report);
            let Some(target) = target_status(report.state) else {
                // The provider retries by itself: worth a line in the history only.
                history.push(MessageEvent {
                    id: new_id(),
                    message_id: id.clone(),
                    status,
                    detail: Some(detail),
                    created_at: self.now,
                });
                outcomes[index] = Outcome::Applied;
                continue;
            };
            let failed = matches!(target, MessageStatus::Undelivered | MessageStatus::Failed);
            let failure = failed.then(|| {
                by_kind(self.provider)
                    .descriptor()
                    .failure(report.error_code.as_deref(), report.error_text.as_deref())
            });
            let change = Move {
                id: &id,
                target,
                reason: failed.then_some(detail.as_str()),
                failure: failure.as_ref(),
                provider_message_id: &report.message_id,
            };
            let moved = self.move_forward(conn, &change, status).await?;
            if !moved {
                outcomes[index] = Outcome::Stale;
                continue;
            }
            if let Some(failure) = &failure {
                recipients::learn_from_failure(conn, &id, failure, new_id(), self.now).await?;
            }
            outcomes[index] = Outcome::Applied;
            current.insert(id.clone(), (target, thread_id.clone()));
            history.push(MessageEvent {
                id: new_id(),
                message_id: id.clone(),
                status: target,
                detail: Some(detail),
                created_at: self.now,
            });
            events.push(InboxEvent::message(
                self.organization_id,
                EventKind::MessageStatus,
                &thread_id,
                &id,
                target,
            ));
        }
        messages::insert_events(conn, &history).await
    }
}

/// A receipt's wanted move of one message.
struct Move<'a> {
    id: &'a str,
    target: MessageStatus,
    reason: Option<&'a str>,
    failure: Option<&'a Failure>,
    provider_message_id: &'a str,
}

impl Batch<'_> {
    /// Moves the message to the reported status if that is forward from where it
    /// stands. The update is guarded by the status it was decided on; when another
    /// writer (or replica, or the dispatcher) changed it meanwhile, the decision is made
    /// again on the new status, so a `delivered` racing a `sent` is not lost.
    async fn move_forward(
        &self,
        conn: &mut DbConn,
        change: &Move<'_>,
        mut status: MessageStatus,
    ) -> Result<bool, PersistenceError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            if !status.can_move_to(change.target) {
                return Ok(false);
            }
            let moved = messages::apply_reported(
                conn,
                &ReportedChange {
                    id: change.id,
                    from_status: status,
                    to_status: change.target,
                    reason: change.reason,
                    failure: change.failure,
                    provider_message_id: change.provider_message_id,
                },
                self.now,
            )
            .await?;
            if moved {
                return Ok(true);
            }
            match messages::find(conn, self.organization_id, change.id).await? {
                Some(message) => status = message.status,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// The status a report moves a message to; `None` when it moves none (the provider is
/// retrying by itself).
pub(crate) fn target_status(state: ReportedState) -> Option<MessageStatus> {
    match state {
        ReportedState::Sent => Some(MessageStatus::Sent),
        ReportedState::Delivered => Some(MessageStatus::Delivered),
        ReportedState::Undelivered => Some(MessageStatus::Undelivered),
        // Cancelled at the provider after we handed it over: it did not go out.
        ReportedState::Failed | ReportedState::Cancelled => Some(MessageStatus::Failed),
        ReportedState::Retrying => None,
    }
}

/// The provider's words for the history: its status and any error.
fn report_detail(provider: ProviderKind, report: &DeliveryReport) -> String {
    let mut detail = format!("{} reports {}", provider.display_name(), report.raw_status);
    if let Some(code) = &report.error_code {
        detail.push_str(&format!(", error {code}"));
    }
    if let Some(text) = &report.error_text {
        detail.push_str(&format!(": {text}"));
    }
    detail
}
