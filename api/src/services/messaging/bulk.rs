//! Bulk sends: the kanban quick message to many candidates. The request stores the
//! accepted messages with the batch, a thousand to a chunk, and answers; the outbox then
//! writes each chunk as threads, messages and events in one transaction
//! ([`write_waiting_chunks`]), so the recruiter does not wait for ten thousand rows to be
//! written, and the dispatcher hands over the first thousand while the next are written.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use nextal_domain::{HoldReason, MessageBody, MessageStatus, ProviderKind};
use nextal_persistence::repo::batches::{self, Batch, Chunk, ChunkKey};
use nextal_persistence::repo::candidates::{self, Candidate};
use nextal_persistence::repo::integrations;
use nextal_persistence::repo::messages;
use nextal_persistence::{Db, DbConn};
use tokio::sync::Notify;
use utoipa::ToSchema;

use super::{
    Accepted, Draft, IdempotencyKey, Outbox, Quiet, Recipient, Sender, Timing, active_sender,
    ensure_threads, event, load_content, new_message, organization, remember, schedule,
    still_active, stored_replay,
};
use crate::clock::Clock;
use crate::services::auth::CurrentUser;
use crate::services::templates::{job_titles, values_for};
use crate::services::{ServiceError, new_id, send_caps};

/// Most candidates one bulk send takes.
pub const MAX_BULK_CANDIDATES: usize = 10_000;
/// Accepted messages stored together in one chunk, and written together later: one
/// provider request's worth.
const MESSAGES_PER_CHUNK: usize = 1_000;

/// Why a candidate of a bulk send got no message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Not a candidate of this organization.
    NotFound,
    /// The candidate has no phone number.
    NoPhone,
    /// The candidate opted out of SMS.
    OptedOut,
    /// A provider found the candidate's number cannot take SMS (a landline).
    NotMobile,
    /// Another candidate of the request has the same number and gets the message.
    DuplicateNumber,
    /// Over the longest message allowed once merged.
    TooLong,
    /// Nothing left once merged.
    EmptyText,
}

impl SkipReason {
    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::NotFound => "not_found",
            SkipReason::NoPhone => "no_phone",
            SkipReason::OptedOut => "opted_out",
            SkipReason::NotMobile => "not_mobile",
            SkipReason::DuplicateNumber => "duplicate_number",
            SkipReason::TooLong => "too_long",
            SkipReason::EmptyText => "empty_text",
        }
    }
}

/// The result of a bulk send.
pub struct BulkAccepted {
    pub batch_id: String,
    pub accepted: usize,
    /// Accepted messages held until the end of quiet hours.
    pub deferred: usize,
    pub skipped: Vec<(String, SkipReason)>,
}

/// A batch with how many of its messages are in each status.
pub struct BatchProgress {
    pub batch: Batch,
    pub counts: Vec<(MessageStatus, i64)>,
}

/// An accepted message waiting in a chunk, as the chunk's JSON holds it.
#[derive(serde::Serialize, serde::Deserialize)]
struct Waiting {
    candidate_id: String,
    phone: String,
    body: String,
    /// Set when it waits for a later time.
    send_at: Option<NaiveDateTime>,
    held: Option<HoldReason>,
}

/// Queues one message per candidate of `candidate_ids`: the kanban quick message.
/// Candidates that cannot be texted are listed with the reason; candidates sharing a
/// number get one message.
pub async fn send_bulk(
    outbox: Outbox<'_>,
    user: &CurrentUser,
    candidate_ids: Vec<String>,
    draft: Draft,
    idempotency: Option<IdempotencyKey>,
    respond: impl Fn(&BulkAccepted) -> (u16, String),
) -> Result<Accepted<BulkAccepted>, ServiceError> {
    let organization_id = user.organization_id();
    let now = outbox.clock.now();
    let schedule = schedule(draft.send_at, now)?;
    let mut conn = outbox.db.conn().await?;
    if let Some(replay) = stored_replay(&mut conn, organization_id, idempotency.as_ref()).await? {
        return Ok(Accepted::Replayed(replay));
    }
    let sender = active_sender(&mut conn, organization_id).await?;
    let (template, template_id) = load_content(&mut conn, organization_id, draft.content).await?;
    let organization = organization(&mut conn, organization_id).await?;
    let batch_id = new_id();
    let quiet = Quiet::of(&organization);
    let mut accepted = BulkAccepted {
        batch_id: batch_id.clone(),
        accepted: 0,
        deferred: 0,
        skipped: Vec::new(),
    };
    let mut seen_phones = HashSet::new();
    let mut chunks = Vec::new();
    // A page of candidates at a time, so that the service holds a thousand of them, not
    // all ten thousand.
    for page in candidate_ids.chunks(MESSAGES_PER_CHUNK) {
        let found: HashMap<String, Candidate> =
            candidates::find_many(&mut conn, organization_id, page)
                .await?
                .into_iter()
                .map(|candidate| (candidate.id.clone(), candidate))
                .collect();
        let job_ids: Vec<String> = found.values().filter_map(|c| c.job_id.clone()).collect();
        let titles = job_titles(&mut conn, organization_id, &job_ids).await?;
        let mut waiting = Vec::with_capacity(page.len());
        for id in page {
            let Some(candidate) = found.get(id) else {
                accepted.skipped.push((id.clone(), SkipReason::NotFound));
                continue;
            };
            let Some(phone) = candidate.phone.clone() else {
                accepted.skipped.push((id.clone(), SkipReason::NoPhone));
                continue;
            };
            if candidate.sms_opted_out {
                accepted.skipped.push((id.clone(), SkipReason::OptedOut));
                continue;
            }
            if candidate.phone_not_mobile() {
                accepted.skipped.push((id.clone(), SkipReason::NotMobile));
                continue;
            }
            if !seen_phones.insert(phone.clone()) {
                accepted
                    .skipped
                    .push((id.clone(), SkipReason::DuplicateNumber));
                continue;
            }
            let job_title = candidate.job_id.as_ref().and_then(|job| titles.get(job));
            let values = values_for(&organization, &user.user, candidate, job_title.cloned());
            let text = template.render(&values);
            match MessageBody::parse(&text) {
                Ok(body) => {
                    let timing = quiet.timing(&phone, schedule, now);
                    waiting.push(Waiting {
                        candidate_id: id.clone(),
                        phone,
                        body: body.into_inner(),
                        send_at: timing.send_at,
                        held: timing.held,
                    });
                }
                Err(_) if text.trim().is_empty() => {
                    accepted.skipped.push((id.clone(), SkipReason::EmptyText));
                }
                Err(_) => accepted.skipped.push((id.clone(), SkipReason::TooLong)),
            }
        }
        if waiting.is_empty() {
            continue;
        }
        accepted.accepted += waiting.len();
        accepted.deferred += waiting.iter().filter(|w| w.held.is_some()).count();
        chunks.push(chunk(
            &batch_id,
            chunks.len(),
            user,
            &sender,
            template_id.as_deref(),
            &waiting,
            now,
        )?);
    }
    drop(conn);
    let mut tx = outbox.db.begin().await?;
    still_active(&mut tx, organization_id, &sender).await?;
    // Counted before anything is written: a send over the cap stores nothing, and the
    // counter row's lock (PostgreSQL) orders the organization's concurrent sends.
    send_caps::count(
        &mut tx,
        outbox.default_cap,
        &organization,
        accepted.accepted,
        now,
    )
    .await?;
    let skipped_json = serde_json::Value::Array(
        accepted
            .skipped
            .iter()
            .map(|(candidate_id, reason)| {
                serde_json::json!({ "candidate_id": candidate_id, "reason": reason.as_str() })
            })
            .collect(),
    );
    batches::insert(
        &mut tx,
        &Batch {
            id: batch_id.clone(),
            organization_id: organization_id.to_owned(),
            created_by: user.user.id.clone(),
            requested: i32::try_from(candidate_ids.len()).unwrap_or(i32::MAX),
            accepted: i32::try_from(accepted.accepted).unwrap_or(i32::MAX),
            skipped: skipped_json.to_string(),
            created_at: now,
        },
    )
    .await?;
    batches::insert_chunks(&mut tx, &chunks).await?;
    if let Some(key) = &idempotency {
        let (status, body) = respond(&accepted);
        remember(&mut tx, organization_id, key, status, body, now).await?;
    }
    tx.commit().await?;
    outbox.wake_chunk_writer.notify_one();
    tracing::info!(batch_id = %accepted.batch_id, accepted = accepted.accepted, deferred = accepted.deferred, skipped = accepted.skipped.len(), "bulk send accepted");
    Ok(Accepted::New(accepted))
}

/// Chunk `seq` of batch `batch_id`, holding `waiting`.
fn chunk(
    batch_id: &str,
    seq: usize,
    user: &CurrentUser,
    sender: &Sender,
    template_id: Option<&str>,
    waiting: &[Waiting],
    now: NaiveDateTime,
) -> Result<Chunk, ServiceError> {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let scheduled = waiting.iter().filter(|w| w.send_at.is_some()).count();
    Ok(Chunk {
        batch_id: batch_id.to_owned(),
        seq: count(seq),
        organization_id: user.organization_id().to_owned(),
        provider: sender.provider,
        from_number: sender.from_number.clone(),
        template_id: template_id.map(str::to_owned),
        sent_by: user.user.id.clone(),
        messages: serde_json::to_string(waiting)
            .map_err(|error| ServiceError::Internal(error.into()))?,
        queued: count(waiting.len() - scheduled),
        scheduled: count(scheduled),
        created_at: now,
    })
}

/// Writes the chunks waiting in the outbox (of `organization_id` only, when given) as
/// messages, oldest first, each in its own transaction, and wakes the dispatcher after
/// each; returns how many messages it wrote. A chunk that fails to be written stays for
/// the next try and does not hold up the others: they are written, then the first
/// error is returned.
/// Replicas write side by side, each chunk once. A chunk whose provider is no longer
/// active is written cancelled, as the deactivation would have left it. Threads take
/// `clock`'s time as their latest activity: the messages join them now, after anything
/// that arrived since the batch was accepted.
pub async fn write_waiting_chunks(
    db: &Db,
    wake_dispatcher: &Notify,
    clock: &Clock,
    organization_id: Option<&str>,
) -> Result<usize, ServiceError> {
    let mut written = 0;
    let mut failed = Vec::new();
    let mut first_error = None;
    loop {
        let mut conn = db.conn().await?;
        let Some(key) = batches::oldest_chunk(&mut conn, organization_id, &failed).await? else {
            break;
        };
        drop(conn);
        match write_taken_chunk(db, &key, clock).await {
            Ok(count) => {
                written += count;
                wake_dispatcher.notify_one();
            }
            Err(error) => {
                tracing::warn!(batch_id = %key.batch_id, seq = key.seq, error = %error, "a bulk chunk was not written; it waits for the next try");
                first_error.get_or_insert(error);
                failed.push(key);
            }
        }
    }
    first_error.map_or(Ok(written), Err)
}

/// Takes chunk `key` and writes its messages in one transaction; how many it wrote (none
/// when another writer took it first).
async fn write_taken_chunk(db: &Db, key: &ChunkKey, clock: &Clock) -> Result<usize, ServiceError> {
    let mut tx = db.begin().await?;
    // The integration before the chunk, in the order a deactivation locks them.
    let active =
        integrations::find_active_for_handover(&mut tx, &key.organization_id, key.provider)
            .await?
            .is_some();
    let Some(chunk) = batches::take_chunk(&mut tx, key).await? else {
        return Ok(0);
    };
    let cancelled = (!active).then(|| deactivated(chunk.provider));
    let written = write_chunk(&mut tx, chunk, cancelled.as_deref(), clock.now()).await?;
    tx.commit().await?;
    Ok(written)
}

/// Writes the organization's chunks waiting for `provider` as cancelled, in the
/// deactivation's transaction; returns how many messages they held.
pub async fn cancel_waiting_chunks(
    conn: &mut DbConn,
    organization_id: &str,
    provider: ProviderKind,
    now: NaiveDateTime,
) -> Result<usize, ServiceError> {
    let reason = deactivated(provider);
    let mut cancelled = 0;
    for chunk in batches::take_chunks_for_provider(conn, organization_id, provider).await? {
        cancelled += write_chunk(conn, chunk, Some(&reason), now).await?;
    }
    Ok(cancelled)
}

/// Why a deactivation cancelled a message.
pub fn deactivated(provider: ProviderKind) -> String {
    format!("{} was deactivated", provider.as_str())
}

/// Writes a taken chunk's threads, messages and first events, the messages cancelled
/// for `cancelled` when it is set; returns how many messages it wrote.
async fn write_chunk(
    conn: &mut DbConn,
    chunk: Chunk,
    cancelled: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, ServiceError> {
    let unreadable = |detail: String| {
        ServiceError::Internal(anyhow::anyhow!(
            "batch {} chunk {}: {detail}",
            chunk.batch_id,
            chunk.seq
        ))
    };
    let waiting: Vec<Waiting> =
        serde_json::from_str(&chunk.messages).map_err(|error| unreadable(error.to_string()))?;
    let recipients: Vec<Recipient> = waiting
        .iter()
        .map(|message| Recipient {
            phone: message.phone.clone(),
            candidate_id: Some(message.candidate_id.clone()),
        })
        .collect();
    let bodies: Vec<&str> = waiting
        .iter()
        .map(|message| message.body.as_str())
        .collect();
    let thread_ids = ensure_threads(
        conn,
        &chunk.organization_id,
        &chunk.sent_by,
        &recipients,
        &bodies,
        now,
    )
    .await?;
    let sender = Sender {
        provider: chunk.provider,
        from_number: chunk.from_number.clone(),
    };
    let mut rows = Vec::with_capacity(waiting.len());
    let mut history = Vec::with_capacity(waiting.len());
    for (message, recipient) in waiting.into_iter().zip(&recipients) {
        // Parsed when the batch was accepted; it reads the same now.
        let body = MessageBody::parse(&message.body).map_err(|invalid| unreadable(invalid.0))?;
        let timing = Timing {
            send_at: message.send_at,
            held: message.held,
        };
        let mut row = new_message(
            &chunk.organization_id,
            &thread_ids[&recipient.phone],
            recipient,
            &sender,
            body,
            chunk.template_id.clone(),
            Some(chunk.batch_id.clone()),
            &chunk.sent_by,
            timing,
            chunk.created_at,
        );
        history.push(event(
            &row.id,
            row.status,
            row.status_reason.clone(),
            chunk.created_at,
        ));
        if let Some(reason) = cancelled {
            row.status = MessageStatus::Cancelled;
            row.status_reason = Some(reason.to_owned());
            row.updated_at = now;
            history.push(event(&row.id, row.status, row.status_reason.clone(), now));
        }
        rows.push(row);
    }
    messages::insert_many(conn, &rows).await?;
    messages::insert_events(conn, &history).await?;
    Ok(rows.len())
}

/// Batch `id` of the caller's organization and its progress.
pub async fn batch(db: &Db, user: &CurrentUser, id: &str) -> Result<BatchProgress, ServiceError> {
    let mut conn = db.conn().await?;
    let batch = batches::find(&mut conn, user.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let counts = batches::status_counts(&mut conn, id).await?;
    Ok(BatchProgress { batch, counts })
}
