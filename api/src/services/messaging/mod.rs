//! Sending: one candidate, a reply in a thread, or many candidates from the kanban
//! board. Every message is written to the outbox first, counted against the
//! organization's daily send cap in the same transaction; the dispatcher hands it over.
//! An idempotent replay returns before anything is counted. Bulk sends are in [`bulk`].

mod bulk;

pub use bulk::{
    BatchProgress, BulkAccepted, MAX_BULK_CANDIDATES, SkipReason, batch, cancel_waiting_chunks,
    deactivated, send_bulk, write_waiting_chunks,
};

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use nextal_domain::{
    ClockTime, DailySendCap, Direction, HoldReason, MergeValues, MessageBody, MessageStatus,
    ProviderKind, QuietHours, Template, Timezone, recipient_zone,
};
use nextal_persistence::repo::candidates::{self, Candidate};
use nextal_persistence::repo::idempotency::{self, StoredResponse};
use nextal_persistence::repo::integrations;
use nextal_persistence::repo::messages::{self, Message, MessageEvent};
use nextal_persistence::repo::organizations::{self, Organization};
use nextal_persistence::repo::templates;
use nextal_persistence::repo::threads::{self, WantedThread};
use nextal_persistence::{Db, DbConn, PersistenceError};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::problem_kind::ProblemKind;
use crate::services::auth::CurrentUser;
use crate::services::candidates::referenced_candidate;
use crate::services::send_caps;
use crate::services::templates::merge_values;
use crate::services::{ServiceError, new_id, now, truncate_to_micros};

/// How far ahead a message may be scheduled.
const MAX_SCHEDULE_AHEAD: TimeDelta = TimeDelta::days(366);
/// A reply within this long of the candidate's latest message is part of a live
/// conversation: quiet hours do not hold it.
const LIVE_CONVERSATION: TimeDelta = TimeDelta::hours(1);

/// What to send: typed text (merge fields allowed) or a stored template.
pub enum Content {
    /// Text typed by the recruiter.
    Text(String),
    /// A template of the organization, by id.
    Template(String),
}

/// A message to send: what, and when (`send_at` `None` sends now).
pub struct Draft {
    pub content: Content,
    pub send_at: Option<DateTime<Utc>>,
}

/// An `Idempotency-Key` and the fingerprint of the request that carried it.
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: Vec<u8>,
}

/// A response to give again for a repeated `Idempotency-Key`.
pub struct Replay {
    pub status: u16,
    pub body: String,
}

/// The outcome of an accepted send request: new, or the first response replayed.
pub enum Accepted<T> {
    New(T),
    Replayed(Replay),
}

/// What queuing messages needs besides the request: where they are stored, who to
/// wake once they are, and the daily send cap of organizations without their own.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    /// The database the outbox lives in.
    pub db: &'a Db,
    /// Wakes the dispatcher after messages are committed.
    pub wake: &'a Notify,
    /// Wakes the writer of bulk sends' chunks after a batch is committed.
    pub wake_chunk_writer: &'a Notify,
    /// The service's daily send cap.
    pub default_cap: DailySendCap,
    /// The time sends are decided at.
    pub clock: &'a Clock,
}

/// The provider and number messages go out through right now.
struct Sender {
    provider: ProviderKind,
    from_number: String,
}

/// Queues one message to a candidate.
pub async fn send_to_candidate(
    outbox: Outbox<'_>,
    user: &CurrentUser,
    candidate_id: &str,
    draft: Draft,
    idempotency: Option<IdempotencyKey>,
    respond: impl Fn(&Message) -> (u16, String),
) -> Result<Accepted<Message>, ServiceError> {
    let organization_id = user.organization_id();
    let mut conn = outbox.db.conn().await?;
    if let Some(replay) = stored_replay(&mut conn, organization_id, idempotency.as_ref()).await? {
        return Ok(Accepted::Replayed(replay));
    }
    let candidate = referenced_candidate(&mut conn, organization_id, candidate_id).await?;
    let phone = reachable_phone(&candidate, "candidate_id")?;
    let sender = active_sender(&mut conn, organization_id).await?;
    let (template, template_id) = load_content(&mut conn, organization_id, draft.content).await?;
    let organization = organization(&mut conn, organization_id).await?;
    let values = merge_values(&mut conn, &organization, &user.user, &candidate).await?;
    let body = render(&template, &values, template_id.is_some())?;
    drop(conn);
    let now = outbox.clock.now();
    let timing = Quiet::of(&organization).timing(&phone, schedule(draft.send_at, now)?, now);
    let message = enqueue_one(
        outbox,
        user,
        &organization,
        Recipient {
            phone,
            candidate_id: Some(candidate.id.clone()),
        },
        sender,
        body,
        template_id,
        timing,
        now,
        idempotency
            .as_ref()
            .map(|key| (key, &respond as &RespondFn<'_>)),
    )
    .await?;
    Ok(message)
}

/// Queues a reply in thread `thread_id`.
pub async fn reply(
    outbox: Outbox<'_>,
    user: &CurrentUser,
    thread_id: &str,
    draft: Draft,
) -> Result<Message, ServiceError> {
    let organization_id = user.organization_id();
    let mut conn = outbox.db.conn().await?;
    let thread = threads::find(&mut conn, organization_id, thread_id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let candidate = match &thread.candidate_id {
        Some(id) => candidates::find(&mut conn, organization_id, id).await?,
        None => None,
    };
    if candidate
        .as_ref()
        .is_some_and(|candidate| candidate.sms_opted_out)
    {
        return Err(opted_out("thread_id"));
    }
    let sender = active_sender(&mut conn, organization_id).await?;
    let (template, template_id) = load_content(&mut conn, organization_id, draft.content).await?;
    let organization = organization(&mut conn, organization_id).await?;
    let values = match &candidate {
        Some(candidate) => merge_values(&mut conn, &organization, &user.user, candidate).await?,
        // A number no candidate owns: candidate fields render empty.
        None => MergeValues {
            recruiter_first_name: user.user.first_name.clone(),
            organization_name: organization.name.clone(),
            ..MergeValues::default()
        },
    };
    let body = render(&template, &values, template_id.is_some())?;
    let now = outbox.clock.now();
    let mut quiet = Quiet::of(&organization);
    if quiet.is_some()
        && messages::latest_reply_at(&mut conn, organization_id, &thread.id)
            .await?
            .is_some_and(|wrote| wrote >= now - LIVE_CONVERSATION)
    {
        quiet = Quiet::default();
    }
    drop(conn);
    let timing = quiet.timing(&thread.phone, schedule(draft.send_at, now)?, now);
    let recipient = Recipient {
        phone: thread.phone,
        candidate_id: candidate.map(|candidate| candidate.id),
    };
    match enqueue_one(
        outbox,
        user,
        &organization,
        recipient,
        sender,
        body,
        template_id,
        timing,
        now,
        None,
    )
    .await?
    {
        Accepted::New(message) => Ok(message),
        Accepted::Replayed(_) => Err(ServiceError::Internal(anyhow::anyhow!(
            "replay without a key"
        ))),
    }
}

/// Message `id` of the caller's organization with its status history.
pub async fn get(
    db: &Db,
    user: &CurrentUser,
    id: &str,
) -> Result<(Message, Vec<MessageEvent>), ServiceError> {
    let mut conn = db.conn().await?;
    let message = messages::find(&mut conn, user.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let history = messages::events(&mut conn, id).await?;
    Ok((message, history))
}

/// Cancels a message that has not been handed over yet (scheduled or still queued).
pub async fn cancel(
    db: &Db,
    user: &CurrentUser,
    id: &str,
) -> Result<(Message, Vec<MessageEvent>), ServiceError> {
    let now = now();
    let mut tx = db.begin().await?;
    let message = messages::find(&mut tx, user.organization_id(), id)
        .await?
        .ok_or(ServiceError::NotFound)?;
    let reason = format!("cancelled by {}", user.user.email);
    if !messages::cancel(&mut tx, user.organization_id(), id, &reason, now).await? {
        return Err(ServiceError::Conflict {
            kind: ProblemKind::NotCancellable,
            detail: format!(
                "The message is {} and can no longer be cancelled; only scheduled or queued messages can.",
                message.status
            ),
        });
    }
    messages::insert_events(
        &mut tx,
        &[event(id, MessageStatus::Cancelled, Some(reason), now)],
    )
    .await?;
    tx.commit().await?;
    get(db, user, id).await
}

/// Renders the response stored for an idempotency key.
type RespondFn<'a> = dyn Fn(&Message) -> (u16, String) + 'a;

struct Recipient {
    phone: String,
    candidate_id: Option<String>,
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site per send path, each field named"
)]
async fn enqueue_one(
    outbox: Outbox<'_>,
    user: &CurrentUser,
    organization: &Organization,
    recipient: Recipient,
    sender: Sender,
    body: MessageBody,
    template_id: Option<String>,
    timing: Timing,
    now: NaiveDateTime,
    idempotency: Option<(&IdempotencyKey, &RespondFn<'_>)>,
) -> Result<Accepted<Message>, ServiceError> {
    let organization_id = user.organization_id();
    // A bulk send accepted before this message goes before it: its waiting chunks are
    // written first, so their messages take the earlier ids, which set the order. One
    // that cannot be written now does not stop this send: it goes out later instead.
    let written = write_waiting_chunks(outbox.db, outbox.wake, outbox.clock, Some(organization_id));
    if let Err(error) = written.await {
        tracing::warn!(error = %error, "sending before the organization's waiting bulk messages");
    }
    let mut tx = outbox.db.begin().await?;
    still_active(&mut tx, organization_id, &sender).await?;
    // Before anything is written, as in `send_bulk`.
    send_caps::count(&mut tx, outbox.default_cap, organization, 1, now).await?;
    let thread_ids = ensure_threads(
        &mut tx,
        organization_id,
        &user.user.id,
        std::slice::from_ref(&recipient),
        &[body.as_str()],
        now,
    )
    .await?;
    let message = new_message(
        organization_id,
        &thread_ids[&recipient.phone],
        &recipient,
        &sender,
        body,
        template_id,
        None,
        &user.user.id,
        timing,
        now,
    );
    store_messages(&mut tx, std::slice::from_ref(&message), now).await?;
    if let Some((key, respond)) = idempotency {
        let (status, body) = respond(&message);
        remember(&mut tx, organization_id, key, status, body, now).await?;
    }
    tx.commit().await?;
    outbox.wake.notify_one();
    Ok(Accepted::New(message))
}

/// The thread id for each recipient's phone, creating threads that do not exist,
/// linking each to the candidate messaged now (the most recently messaged one wins)
/// and making `bodies` (one per recipient) their newest messages. A thread nobody is
/// assigned to becomes the sender's; an assigned thread stays with its assignee.
async fn ensure_threads(
    conn: &mut DbConn,
    organization_id: &str,
    sender_id: &str,
    recipients: &[Recipient],
    bodies: &[&str],
    now: NaiveDateTime,
) -> Result<HashMap<String, String>, ServiceError> {
    let mut phones = HashSet::new();
    let wanted: Vec<WantedThread> = recipients
        .iter()
        .zip(bodies)
        .filter(|(recipient, _)| phones.insert(recipient.phone.as_str()))
        .map(|(recipient, body)| WantedThread {
            id: new_id(),
            phone: recipient.phone.clone(),
            candidate_id: recipient.candidate_id.clone(),
            preview: (*body).to_owned(),
        })
        .collect();
    Ok(threads::upsert_for_sending(conn, organization_id, &wanted, sender_id, now).await?)
}

/// Stores new messages with their first status.
async fn store_messages(
    conn: &mut DbConn,
    rows: &[Message],
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    messages::insert_many(conn, rows).await?;
    let history: Vec<MessageEvent> = rows
        .iter()
        .map(|m| event(&m.id, m.status, m.status_reason.clone(), now))
        .collect();
    messages::insert_events(conn, &history).await?;
    Ok(())
}

#[allow(clippy::too_many_arguments, reason = "builds one row from its parts")]
fn new_message(
    organization_id: &str,
    thread_id: &str,
    recipient: &Recipient,
    sender: &Sender,
    body: MessageBody,
    template_id: Option<String>,
    batch_id: Option<String>,
    sent_by: &str,
    timing: Timing,
    now: NaiveDateTime,
) -> Message {
    let segmentation = body.segmentation();
    let send_at = timing.send_at.unwrap_or(now);
    Message {
        id: new_id(),
        organization_id: organization_id.to_owned(),
        thread_id: thread_id.to_owned(),
        candidate_id: recipient.candidate_id.clone(),
        batch_id,
        direction: Direction::Outbound,
        body: body.into_inner(),
        encoding: segmentation.encoding,
        segments: i32::try_from(segmentation.segments).unwrap_or(i32::MAX),
        status: if timing.send_at.is_some() {
            MessageStatus::Scheduled
        } else {
            MessageStatus::Queued
        },
        status_reason: timing.held.map(|reason| reason.as_str().to_owned()),
        provider: sender.provider,
        from_number: sender.from_number.clone(),
        to_number: recipient.phone.clone(),
        provider_message_id: None,
        price: None,
        sent_by: Some(sent_by.to_owned()),
        template_id,
        send_at,
        next_attempt_at: send_at,
        attempts: 0,
        lease_expires_at: None,
        created_at: now,
        updated_at: now,
        failure_reason: None,
        provider_error_code: None,
    }
}

fn event(
    message_id: &str,
    status: MessageStatus,
    detail: Option<String>,
    now: NaiveDateTime,
) -> MessageEvent {
    MessageEvent {
        id: new_id(),
        message_id: message_id.to_owned(),
        status,
        detail,
        created_at: now,
    }
}

/// The organization's active provider and its number; a conflict when there is none or it
/// cannot send yet.
async fn active_sender(conn: &mut DbConn, organization_id: &str) -> Result<Sender, ServiceError> {
    let rows = integrations::list(conn, organization_id).await?;
    let Some(active) = rows.iter().find(|row| row.active) else {
        return Err(no_active_provider());
    };
    let provider = active.provider;
    match (&active.secret, &active.phone_number, &active.username) {
        (Some(_), Some(number), Some(_)) => Ok(Sender {
            provider,
            from_number: number.clone(),
        }),
        _ => Err(ServiceError::Conflict {
            kind: ProblemKind::ProviderCredentialMissing,
            detail: format!(
                "{provider} is active but its {} has not been entered. An admin can set it on the {provider} card.",
                if active.secret.is_none() {
                    provider.secret_name()
                } else {
                    "phone number or username"
                }
            ),
        }),
    }
}

/// Checks, inside the transaction that queues messages, that their provider is still
/// active, and on PostgreSQL keeps it so (`FOR SHARE`) until the messages are stored: a
/// deactivation then commits after them and cancels them, instead of leaving messages
/// queued for a provider that will never take them.
async fn still_active(
    conn: &mut DbConn,
    organization_id: &str,
    sender: &Sender,
) -> Result<(), ServiceError> {
    integrations::find_active_for_handover(conn, organization_id, sender.provider)
        .await?
        .map(|_| ())
        .ok_or_else(no_active_provider)
}

fn no_active_provider() -> ServiceError {
    let providers: Vec<&str> = nextal_providers::registry()
        .map(|provider| provider.descriptor().display_name())
        .collect();
    ServiceError::Conflict {
        kind: ProblemKind::NoActiveProvider,
        detail: format!(
            "No SMS provider is active. An admin can activate {} under Integrations.",
            providers.join(" or ")
        ),
    }
}

async fn load_content(
    conn: &mut DbConn,
    organization_id: &str,
    content: Content,
) -> Result<(Template, Option<String>), ServiceError> {
    match content {
        Content::Text(text) => Template::parse(&text)
            .map(|template| (template, None))
            .map_err(|invalid| ServiceError::invalid_field("body", invalid.0)),
        Content::Template(id) => {
            let stored = templates::find(conn, organization_id, &id)
                .await?
                .ok_or_else(|| ServiceError::UnknownReference {
                    field: "template_id",
                    message: "is not a template of this organization".to_owned(),
                })?;
            let template = Template::parse(&stored.body)
                .map_err(|invalid| ServiceError::invalid_field("template_id", invalid.0))?;
            Ok((template, Some(id)))
        }
    }
}

fn render(
    template: &Template,
    values: &MergeValues,
    from_template: bool,
) -> Result<MessageBody, ServiceError> {
    MessageBody::parse(&template.render(values)).map_err(|invalid| {
        ServiceError::invalid_field(
            if from_template { "template_id" } else { "body" },
            invalid.0,
        )
    })
}

fn reachable_phone(candidate: &Candidate, field: &str) -> Result<String, ServiceError> {
    if candidate.sms_opted_out {
        return Err(opted_out(field));
    }
    // The candidate as it is, not the request, is wrong: a conflict, like a stage
    // without a job.
    candidate
        .phone
        .clone()
        .ok_or_else(|| ServiceError::Conflict {
            kind: ProblemKind::CandidateWithoutPhone,
            detail: "The candidate has no phone number: add one to text them.".to_owned(),
        })
}

fn opted_out(field: &str) -> ServiceError {
    ServiceError::invalid_field(
        field,
        "the candidate has opted out of SMS (replied STOP); they must text START to opt back in",
    )
}

async fn organization(conn: &mut DbConn, id: &str) -> Result<Organization, ServiceError> {
    organizations::find(conn, id)
        .await?
        .ok_or(ServiceError::NotFound)
}

/// `send_at` in storage form: `None` sends now (a time in the past also sends now).
fn schedule(
    send_at: Option<DateTime<Utc>>,
    now: NaiveDateTime,
) -> Result<Option<NaiveDateTime>, ServiceError> {
    match send_at.map(|at| truncate_to_micros(at.naive_utc())) {
        Some(at) if at > now + MAX_SCHEDULE_AHEAD => Err(ServiceError::invalid_field(
            "send_at",
            "must be within a year",
        )),
        Some(at) if at > now => Ok(Some(at)),
        _ => Ok(None),
    }
}

/// When a message goes out: `send_at` `None` queues it at once.
#[derive(Clone, Copy)]
struct Timing {
    send_at: Option<NaiveDateTime>,
    /// Set when the service moved `send_at`.
    held: Option<HoldReason>,
}

/// The organization's quiet hours and the zone read for numbers of no single-zone
/// country; `None` holds nothing.
#[derive(Default)]
struct Quiet(Option<(QuietHours, Timezone)>);

impl Quiet {
    fn of(organization: &Organization) -> Self {
        let time = |raw: &Option<String>| raw.as_deref().and_then(|raw| ClockTime::parse(raw).ok());
        let hours = time(&organization.quiet_hours_start)
            .zip(time(&organization.quiet_hours_end))
            .and_then(|(start, end)| QuietHours::new(start, end).ok());
        let zone = Timezone::parse(&organization.timezone).unwrap_or(Timezone::DEFAULT);
        Self(hours.map(|hours| (hours, zone)))
    }

    fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// When a message to `phone`, accepted at `now` for `schedule` (`None`: at once),
    /// goes out: at the end of quiet hours when it would go out inside them.
    fn timing(&self, phone: &str, schedule: Option<NaiveDateTime>, now: NaiveDateTime) -> Timing {
        let asked = Timing {
            send_at: schedule,
            held: None,
        };
        let Some((hours, fallback)) = self.0 else {
            return asked;
        };
        let at = schedule.unwrap_or(now).and_utc();
        match hours.held_until(recipient_zone(phone, fallback), at) {
            Some(until) => Timing {
                send_at: Some(truncate_to_micros(until.naive_utc())),
                held: Some(HoldReason::QuietHours),
            },
            None => asked,
        }
    }
}

async fn stored_replay(
    conn: &mut DbConn,
    organization_id: &str,
    key: Option<&IdempotencyKey>,
) -> Result<Option<Replay>, ServiceError> {
    let Some(key) = key else { return Ok(None) };
    match idempotency::find(conn, organization_id, &key.key).await? {
        Some(stored) if stored.request_hash == key.request_hash => Ok(Some(Replay {
            status: u16::try_from(stored.response_status).unwrap_or(202),
            body: stored.response_body,
        })),
        Some(_) => Err(ServiceError::Conflict {
            kind: ProblemKind::IdempotencyKeyReused,
            detail: "This Idempotency-Key was already used for a different request.".to_owned(),
        }),
        None => Ok(None),
    }
}

/// Stores the response for `key` in the request's transaction. When a concurrent
/// request with the same key stored one first, this request fails with a conflict and keeps
/// nothing (its transaction is dropped); retrying it replays the first response.
async fn remember(
    conn: &mut DbConn,
    organization_id: &str,
    key: &IdempotencyKey,
    status: u16,
    body: String,
    now: NaiveDateTime,
) -> Result<(), ServiceError> {
    let stored = StoredResponse {
        organization_id: organization_id.to_owned(),
        key: key.key.clone(),
        request_hash: key.request_hash.clone(),
        response_status: i32::from(status),
        response_body: body,
        created_at: now,
    };
    match idempotency::insert(conn, &stored).await {
        Ok(()) => Ok(()),
        Err(PersistenceError::UniqueViolation { .. }) => Err(ServiceError::Conflict {
            kind: ProblemKind::IdempotencyKeyInFlight,
            detail: "A request with this Idempotency-Key is being processed; retry it to get its response."
                .to_owned(),
        }),
        Err(other) => Err(other.into()),
    }
}
