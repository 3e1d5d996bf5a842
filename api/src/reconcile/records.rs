//! From the provider's records to the deliveries we lack: a reply we do not have, or a
//! status that would move one of our messages forward, becomes a delivery for the
//! webhook writers, exactly as if its webhook had come.

use std::collections::HashMap;

use actix_web::web::Data;
use futures_util::future::join_all;
use nextal_domain::{MessageStatus, ProviderKind};
use nextal_persistence::repo::integrations::Integration;
use nextal_persistence::repo::{messages, provider_sync};
use nextal_providers::HistoryRecord;
use nextal_providers::webhooks::{DeliveryReport, InboundSms};
use serde_json::json;

use super::ReconcileReport;
use crate::ingest::{Content, Delivery, DeliveryKind, Outcome, target_status};
use crate::services::now;
use crate::state::AppState;
use crate::webhooks::normalized;

/// Applies, through the webhook writers, the records of one page that we lack.
pub(super) async fn apply_missing(
    state: &Data<AppState>,
    row: &Integration,
    provider: ProviderKind,
    records: Vec<HistoryRecord>,
    report: &mut ReconcileReport,
) -> anyhow::Result<()> {
    let mut replies = Vec::new();
    let mut statuses = Vec::new();
    for record in records {
        match record {
            HistoryRecord::Inbound(reply) if to_our_number(row, &reply) => {
                replies.push(normalized(reply));
            }
            HistoryRecord::Inbound(_) => {}
            HistoryRecord::Outbound(status) => statuses.push(status),
        }
    }
    let replies = missing_replies(state, row, provider, replies).await?;
    let statuses = forward_statuses(state, row, provider, statuses).await?;
    report.replies_found += replies.len();
    report.receipts_found += statuses.len();

    let deliveries: Vec<Delivery> = replies
        .into_iter()
        .map(|reply| {
            delivery(
                row,
                provider,
                DeliveryKind::Inbound,
                Content::Inbound(reply),
            )
        })
        .chain(statuses.into_iter().map(|status| {
            delivery(
                row,
                provider,
                DeliveryKind::Receipt,
                Content::Receipt(status),
            )
        }))
        .collect();
    let kinds: Vec<DeliveryKind> = deliveries.iter().map(|delivery| delivery.kind).collect();
    // Submitted together, so that the writers commit them in few transactions.
    let outcomes = join_all(
        deliveries
            .into_iter()
            .map(|delivery| state.ingest.submit(delivery)),
    )
    .await;
    for (kind, outcome) in kinds.into_iter().zip(outcomes) {
        let outcome = outcome.map_err(|error| anyhow::anyhow!("{}", error.problem().detail))?;
        match (kind, outcome) {
            (DeliveryKind::Inbound, Outcome::Applied) => report.replies_applied += 1,
            (DeliveryKind::Receipt, Outcome::Applied) => report.receipts_applied += 1,
            _ => {}
        }
    }
    Ok(())
}

/// A reply to the integration's number. Accounts can hold several numbers; a record
/// that names none is taken, as its webhook would be.
fn to_our_number(row: &Integration, reply: &InboundSms) -> bool {
    let digits = |number: &str| -> String { number.chars().filter(char::is_ascii_digit).collect() };
    match (&row.phone_number, digits(&reply.to)) {
        (Some(ours), to) if !to.is_empty() => digits(ours) == to,
        _ => true,
    }
}

/// The replies the organization has neither stored nor kept aside.
async fn missing_replies(
    state: &Data<AppState>,
    row: &Integration,
    provider: ProviderKind,
    replies: Vec<InboundSms>,
) -> anyhow::Result<Vec<InboundSms>> {
    if replies.is_empty() {
        return Ok(replies);
    }
    let ids: Vec<String> = replies
        .iter()
        .map(|reply| reply.message_id.clone())
        .collect();
    let known = {
        let mut conn = state.db.conn().await?;
        provider_sync::known_replies(&mut conn, &row.organization_id, provider, &ids).await?
    };
    Ok(replies
        .into_iter()
        .filter(|reply| !known.contains(&reply.message_id.to_ascii_lowercase()))
        .collect())
}

/// The statuses that would move one of our `sent` messages forward. Messages still
/// being handed over (`queued`, `sending`) are left to the dispatcher, which settles
/// them with the provider's answer or history; final ones cannot move.
async fn forward_statuses(
    state: &Data<AppState>,
    row: &Integration,
    provider: ProviderKind,
    statuses: Vec<DeliveryReport>,
) -> anyhow::Result<Vec<DeliveryReport>> {
    if statuses.is_empty() {
        return Ok(statuses);
    }
    let provider_ids: Vec<String> = statuses.iter().map(|s| s.message_id.clone()).collect();
    let own_ids: Vec<String> = statuses
        .iter()
        .filter_map(|status| status.reference.clone())
        .filter(|reference| uuid::Uuid::parse_str(reference).is_ok())
        .collect();
    let found = {
        let mut conn = state.db.conn().await?;
        messages::find_reported(
            &mut conn,
            &row.organization_id,
            provider,
            &provider_ids,
            &own_ids,
        )
        .await?
    };
    let by_provider_id: HashMap<String, MessageStatus> = found
        .iter()
        .filter_map(|message| {
            let id = message.provider_message_id.as_ref()?;
            Some((id.to_ascii_lowercase(), message.status))
        })
        .collect();
    let by_own_id: HashMap<&str, MessageStatus> = found
        .iter()
        .map(|message| (message.id.as_str(), message.status))
        .collect();
    Ok(statuses
        .into_iter()
        .filter(|status| {
            let current = by_provider_id
                .get(&status.message_id.to_ascii_lowercase())
                .or_else(|| by_own_id.get(status.reference.as_deref().unwrap_or_default()))
                .copied();
            match (current, target_status(status.state)) {
                (Some(MessageStatus::Sent), Some(target)) => {
                    MessageStatus::Sent.can_move_to(target)
                }
                _ => false,
            }
        })
        .collect())
}

/// A delivery for the writers, kept in the raw log as reconciliation's, with what the
/// provider's record said.
fn delivery(
    row: &Integration,
    provider: ProviderKind,
    kind: DeliveryKind,
    content: Content,
) -> Delivery {
    let payload = match &content {
        Content::Inbound(reply) => json!({
            "source": "reconciliation",
            "message_id": reply.message_id,
            "from": reply.from,
            "to": reply.to,
            "body": reply.body,
            "sent_at": reply.sent_at,
        }),
        Content::Receipt(status) => json!({
            "source": "reconciliation",
            "message_id": status.message_id,
            "reference": status.reference,
            "status": status.raw_status,
            "error_code": status.error_code,
            "error_text": status.error_text,
        }),
        Content::Unreadable => json!({ "source": "reconciliation" }),
    };
    Delivery {
        organization_id: row.organization_id.clone(),
        provider,
        kind,
        content,
        content_type: Some("application/json".to_owned()),
        payload: payload.to_string(),
        received_at: now(),
    }
}
