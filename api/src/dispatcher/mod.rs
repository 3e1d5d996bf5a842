//! The outbox dispatcher: claims due messages, hands them to the active provider in
//! batches, records each outcome, retries what may succeed later and settles hand-overs
//! whose outcome is unknown before anything is sent again.

mod backoff;
mod gate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use nextal_domain::ProviderKind;
use nextal_persistence::repo::messages::{self, Claimed, Message, MessageEvent, SentUpdate};
use nextal_persistence::repo::{consent, integrations};
use nextal_providers::{ClickSendClient, OutboundSms, ProviderError, SendOutcome};

pub use gate::HandoverGates;

use crate::events::{EventKind, InboxEvent};
use crate::services::integrations::{client_for, credentials, webhook_urls_for};
use crate::services::{new_id, now as services_now, truncate_to_micros};
use crate::state::AppState;

/// Twilio's error for a recipient who has opted out of the sending number.
const TWILIO_UNSUBSCRIBED: &str = "21610";

/// How the dispatcher paces itself.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Most messages claimed in one round.
    pub claim_limit: i64,
    /// How long after an unanswered hand-over its outcome is looked up, giving the
    /// provider's history time to show an accepted message.
    pub settle_delay: Duration,
    /// Tries before a message that keeps failing transiently is given up.
    pub max_attempts: i32,
    /// How often an idle dispatcher looks for due messages (a send wakes it at once).
    pub poll_interval: Duration,
}

/// What one round did, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages claimed for hand-over.
    pub claimed: usize,
    /// Accepted by a provider.
    pub sent: usize,
    /// Failed for good.
    pub failed: usize,
    /// Put back in the queue for a later try.
    pub retried: usize,
    /// Handed over without a definite answer; settled later.
    pub in_doubt: usize,
    /// In-doubt messages whose outcome was settled this round.
    pub settled: usize,
    /// Claimed, but their provider had been deactivated.
    pub cancelled: usize,
    /// HTTP requests made to providers.
    pub provider_requests: usize,
}

impl DispatchReport {
    fn add(&mut self, other: DispatchReport) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.failed += other.failed;
        self.retried += other.retried;
        self.in_doubt += other.in_doubt;
        self.settled += other.settled;
        self.cancelled += other.cancelled;
        self.provider_requests += other.provider_requests;
    }
}

/// The longest a claimed message may wait for its hand-over to start before it counts
/// as in doubt; each request refreshes the lease of the messages it carries.
const CLAIM_LEASE: TimeDelta = TimeDelta::minutes(10);
/// How long a replica has to settle the in-doubt messages it took.
const SETTLEMENT_LEASE: TimeDelta = TimeDelta::minutes(5);
/// How long to wait before asking the provider's history again after it failed.
const SETTLEMENT_RETRY: TimeDelta = TimeDelta::minutes(5);
/// Settlement gives up on a message this long after it was due and fails it as
/// `outcome_unknown`.
const SETTLEMENT_HORIZON: TimeDelta = TimeDelta::hours(24);
/// Pages of ClickSend history (100 messages each) read to settle one organization.
const HISTORY_PAGES: u32 = 200;
/// Organizations handed over to at the same time; each holds up to two pooled
/// connections on PostgreSQL (the gate and the outcome records).
const PARALLEL_ORGANIZATIONS: usize = 2;

/// Drains the outbox; cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    state: actix_web::web::Data<AppState>,
    /// Claims of failed hand-overs whose messages no provider request carried, to end
    /// once the database answers again (see [`Dispatcher::end_abandoned_claims`]).
    abandoned: Arc<std::sync::Mutex<Vec<AbandonedClaim>>>,
}

/// Claimed messages that a failed hand-over never put in a provider request.
struct AbandonedClaim {
    ids: Vec<String>,
    /// The leases the dispatcher gave them: their claim's, and the one a request
    /// about to start may have set.
    leases: Vec<NaiveDateTime>,
}

/// A hand-over that failed part-way.
struct HandOverFailed {
    error: anyhow::Error,
    /// Its claimed messages that no provider request carried.
    untouched: Vec<String>,
    /// A lease it set on some of them for a request that did not start.
    refreshed: Option<NaiveDateTime>,
}

/// How far [`Dispatcher::hand_over_one_request`] got.
#[derive(Default)]
struct Progress {
    /// The lease set for the request, once it is about to be set.
    refreshed: Option<NaiveDateTime>,
    /// How many messages the request carries, once it has started.
    requested: usize,
}

/// Messages of one organization and provider, in id order.
type Group<T> = ((String, String), Vec<T>);

impl Dispatcher {
    /// A dispatcher over the application's state.
    pub fn new(state: actix_web::web::Data<AppState>) -> Self {
        Self {
            state,
            abandoned: Arc::default(),
        }
    }

    /// Runs rounds until the process ends: at once after a send, else every poll interval.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let settings = self.state.dispatch;
            loop {
                match self.run_once(Utc::now()).await {
                    Ok(report) if report.claimed as i64 >= settings.claim_limit => continue,
                    Ok(report) => {
                        if report != DispatchReport::default() {
                            tracing::info!(?report, "dispatch round");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "dispatch round failed")
                    }
                }
                tokio::select! {
                    () = self.state.outbox_signal.notified() => {}
                    () = tokio::time::sleep(settings.poll_interval) => {}
                }
            }
        })
    }

    /// One round at time `now`: settle what is in doubt, then claim and hand over what
    /// is due.
    pub async fn run_once(&self, now: DateTime<Utc>) -> anyhow::Result<DispatchReport> {
        let now = truncate_to_micros(now.naive_utc());
        self.end_abandoned_claims(now).await?;
        let mut report = self.settle_in_doubt(now).await?;
        let lease = now + CLAIM_LEASE;
        let claimed = {
            let mut conn = self.state.db.conn().await?;
            messages::claim_due(&mut conn, now, lease, self.state.dispatch.claim_limit).await?
        };
        report.claimed = claimed.len();
        let groups = group(claimed, |message| {
            (message.organization_id.clone(), message.provider.clone())
        });
        let mut rounds = futures_util::stream::iter(groups)
            .map(|(key, batch)| self.hand_over(key, batch, now))
            .buffer_unordered(PARALLEL_ORGANIZATIONS);
        // One organization's failure (its database writes, say) must not stop the others.
        let mut first_error = None;
        while let Some(result) = rounds.next().await {
            match result {
                Ok(done) => report.add(done),
                Err(HandOverFailed {
                    error,
                    untouched,
                    refreshed,
                }) => {
                    tracing::warn!(error = %format!("{error:#}"), "hand-over failed; its messages are retried once their lease ends");
                    if !untouched.is_empty() {
                        self.abandoned_claims().push(AbandonedClaim {
                            ids: untouched,
                            leases: std::iter::once(lease).chain(refreshed).collect(),
                        });
                    }
                    first_error.get_or_insert(error);
                }
            }
        }
        drop(rounds);
        self.state.metrics.dispatched(&report);
        if let Some(error) = first_error {
            return Err(error);
        }
        Ok(report)
    }

    /// The abandoned claims waiting to be ended.
    fn abandoned_claims(&self) -> std::sync::MutexGuard<'_, Vec<AbandonedClaim>> {
        self.abandoned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the claims of failed hand-overs' messages that no provider request carried
    /// (the database failing between the claim and the request, say): nothing went
    /// out, so they need not wait out the 10-minute claim lease, nor count the claim as
    /// an attempt. Their lease ends now and this round's settlement takes them. Kept
    /// for the next round while the database does not answer.
    async fn end_abandoned_claims(&self, now: NaiveDateTime) -> anyhow::Result<()> {
        let claims = std::mem::take(&mut *self.abandoned_claims());
        if claims.is_empty() {
            return Ok(());
        }
        let ended = async {
            let mut conn = self.state.db.conn().await?;
            for claim in &claims {
                messages::end_claim(&mut conn, &claim.ids, &claim.leases, now).await?;
            }
            anyhow::Ok(())
        }
        .await;
        if ended.is_err() {
            // Ending a claim twice changes nothing: its lease is no longer the claim's.
            self.abandoned_claims().extend(claims);
        }
        ended
    }

    /// Hands one organization's claimed messages to its provider, one request's worth
    /// at a time, each inside the gate: a deactivation waits for at most one request,
    /// and whatever was claimed but not yet sent when it commits is cancelled.
    async fn hand_over(
        &self,
        (organization_id, provider_name): (String, String),
        batch: Vec<Claimed>,
        now: NaiveDateTime,
    ) -> Result<DispatchReport, HandOverFailed> {
        let state = &self.state;
        let mut report = DispatchReport::default();
        let mut remaining: &[Claimed] = &batch;
        let failed = |error: anyhow::Error, untouched: &[Claimed], refreshed| HandOverFailed {
            error,
            untouched: untouched.iter().map(|message| message.id.clone()).collect(),
            refreshed,
        };
        while !remaining.is_empty() {
            let entered = state
                .gates
                .enter(&state.db, &organization_id, &provider_name)
                .await
                .map_err(|error| failed(error.into(), remaining, None))?;
            let Some((gate, row)) = entered else {
                // Deactivated since the claim: nothing more goes out.
                let ids: Vec<String> = remaining.iter().map(|message| message.id.clone()).collect();
                let cancelled = async {
                    let mut tx = state.db.begin().await?;
                    messages::cancel_claimed(&mut tx, &ids, "provider deactivated", now).await?;
                    messages::insert_events(
                        &mut tx,
                        &events(&ids, "cancelled", Some("provider deactivated"), now),
                    )
                    .await?;
                    tx.commit().await?;
                    anyhow::Ok(())
                }
                .await;
                // Not cancelled: settlement will, finding the provider inactive.
                cancelled.map_err(|error| failed(error, remaining, None))?;
                report.cancelled += ids.len();
                break;
            };
            let mut progress = Progress::default();
            let handed = self
                .hand_over_one_request(&row, remaining, now, &mut report, &mut progress)
                .await;
            gate.close().await;
            let handed = handed.map_err(|error| {
                failed(error, &remaining[progress.requested..], progress.refreshed)
            })?;
            remaining = &remaining[handed..];
        }
        Ok(report)
    }

    /// Sends the first request's worth of `pending`; returns how many messages it took.
    /// `progress` tells a failure before the request from one after.
    async fn hand_over_one_request(
        &self,
        row: &integrations::Integration,
        pending: &[Claimed],
        now: NaiveDateTime,
        report: &mut DispatchReport,
        progress: &mut Progress,
    ) -> anyhow::Result<usize> {
        let state = &self.state;
        let provider: ProviderKind = row
            .provider
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown provider {}", row.provider))?;
        let prepared = client_for(state, provider, row).and_then(|client| {
            let status_callback = match provider {
                ProviderKind::Twilio => Some(webhook_urls_for(state, provider, row)?.status),
                ProviderKind::ClickSend => None,
            };
            Ok((client, status_callback))
        });
        let (client, status_callback) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                // Missing or unreadable credentials: no retry will help until an admin acts.
                let reason = format!("cannot send through {provider}: {}", error.problem().detail);
                let ids: Vec<String> = pending.iter().map(|m| m.id.clone()).collect();
                let mut tx = state.db.begin().await?;
                for id in &ids {
                    messages::mark_failed(&mut tx, id, &reason, now).await?;
                }
                messages::insert_events(&mut tx, &events(&ids, "failed", Some(&reason), now))
                    .await?;
                tx.commit().await?;
                report.failed += ids.len();
                return Ok(pending.len());
            }
        };
        let chunk = &pending[..pending.len().min(client.max_batch().max(1))];
        let ids: Vec<String> = chunk.iter().map(|m| m.id.clone()).collect();
        // Long enough for this request (Twilio: one per message, a few in flight at a
        // time) before anyone may treat these messages as in doubt.
        let rounds = match provider {
            ProviderKind::ClickSend => 1,
            ProviderKind::Twilio => chunk
                .len()
                .div_ceil(nextal_providers::twilio::MAX_IN_FLIGHT),
        };
        let lease = TimeDelta::from_std(state.providers.options.timeout)?
            * i32::try_from(rounds).unwrap_or(i32::MAX)
            + TimeDelta::seconds(60);
        let held: HashSet<String> = {
            let mut conn = state.db.conn().await?;
            let until = now.max(services_now()) + lease;
            progress.refreshed = Some(until);
            messages::refresh_lease(&mut conn, &ids, now, until)
                .await?
                .into_iter()
                .collect()
        };
        // A message whose lease ran out while it waited may be settled by another
        // replica already: it is theirs now.
        let chunk: Vec<&Claimed> = chunk.iter().filter(|m| held.contains(&m.id)).collect();
        let taken = ids.len();
        if chunk.is_empty() {
            return Ok(taken);
        }
        let outbound: Vec<OutboundSms> = chunk
            .iter()
            .map(|message| OutboundSms {
                reference: message.id.clone(),
                to: message.to_number.clone(),
                from: message.from_number.clone(),
                body: message.body.clone(),
                status_callback: status_callback.clone(),
            })
            .collect();
        report.provider_requests += match provider {
            ProviderKind::ClickSend => 1,
            ProviderKind::Twilio => chunk.len(),
        };
        progress.requested = taken;
        let result = client.send(&outbound).await;
        self.record(provider, &chunk, result, now, report).await?;
        Ok(taken)
    }

    /// Stores what the provider said about each message of one request.
    async fn record(
        &self,
        provider: ProviderKind,
        chunk: &[&Claimed],
        result: Result<Vec<SendOutcome>, ProviderError>,
        now: NaiveDateTime,
        report: &mut DispatchReport,
    ) -> anyhow::Result<()> {
        let state = &self.state;
        let outcomes: Vec<SendOutcome> = match result {
            Ok(outcomes) => outcomes,
            Err(error) => chunk
                .iter()
                .map(|_| SendOutcome::Failed(error.clone()))
                .collect(),
        };
        let mut tx = state.db.begin().await?;
        let mut history = Vec::with_capacity(chunk.len());
        let mut accepted = Vec::with_capacity(chunk.len());
        for (message, outcome) in chunk.iter().zip(outcomes) {
            let (status, detail) = match outcome {
                SendOutcome::Accepted {
                    provider_message_id,
                    parts,
                    price,
                } => {
                    accepted.push(SentUpdate {
                        id: message.id.clone(),
                        pid: provider_message_id,
                        parts,
                        price,
                    });
                    report.sent += 1;
                    ("sent", None)
                }
                SendOutcome::Rejected { code, reason } => {
                    let reason = format!("{reason} ({code})");
                    messages::mark_failed(&mut tx, &message.id, &reason, now).await?;
                    if provider == ProviderKind::Twilio && code == TWILIO_UNSUBSCRIBED {
                        // The candidate texted STOP to our number at some point: Twilio
                        // will refuse every message until they opt back in.
                        consent::opt_out_recipient_of(
                            &mut tx,
                            &message.id,
                            "provider_refusal",
                            new_id(),
                            now,
                        )
                        .await?;
                    }
                    report.failed += 1;
                    ("failed", Some(reason))
                }
                SendOutcome::Failed(error) => {
                    self.after_failure(&mut tx, provider, message, &error, now, report)
                        .await?
                }
            };
            history.push(MessageEvent {
                id: new_id(),
                message_id: message.id.clone(),
                status: status.to_owned(),
                detail,
                created_at: now,
            });
        }
        let moved: HashSet<String> = messages::mark_sent(&mut tx, &accepted, now)
            .await?
            .into_iter()
            .collect();
        // A message a receipt already moved past `sent` keeps its status: no `sent` in
        // its history, no event.
        let (history, chunk): (Vec<MessageEvent>, Vec<&Claimed>) = history
            .into_iter()
            .zip(chunk.iter().copied())
            .filter(|(change, message)| change.status != "sent" || moved.contains(&message.id))
            .unzip();
        messages::insert_events(&mut tx, &history).await?;
        let events: Vec<InboxEvent> = chunk
            .iter()
            .zip(&history)
            .map(|(message, change)| InboxEvent {
                organization_id: message.organization_id.clone(),
                kind: EventKind::MessageStatus,
                thread_id: message.thread_id.clone(),
                message_id: Some(message.id.clone()),
                status: Some(change.status.clone()),
            })
            .collect();
        state.events.stage(&mut tx, &events).await?;
        tx.commit().await?;
        state.events.committed(events);
        Ok(())
    }

    /// Decides what a failed hand-over means for `message`: a final failure, a retry,
    /// or (when the provider may have accepted it) doubt to settle later.
    async fn after_failure(
        &self,
        tx: &mut nextal_persistence::DbConn,
        provider: ProviderKind,
        message: &Claimed,
        error: &ProviderError,
        now: NaiveDateTime,
        report: &mut DispatchReport,
    ) -> anyhow::Result<(&'static str, Option<String>)> {
        let settings = self.state.dispatch;
        let retry = |retry_after: Option<Duration>| -> anyhow::Result<NaiveDateTime> {
            Ok(now + TimeDelta::from_std(backoff::retry_delay(message.attempts, retry_after))?)
        };
        match error {
            ProviderError::Unauthorized(_) | ProviderError::Rejected { .. } => {
                let reason = error.to_string();
                messages::mark_failed(tx, &message.id, &reason, now).await?;
                report.failed += 1;
                Ok(("failed", Some(reason)))
            }
            // ClickSend may have accepted it: look in its history before anything else,
            // even on the last attempt.
            ProviderError::Unavailable(_) | ProviderError::Unreadable(_)
                if provider == ProviderKind::ClickSend =>
            {
                let reason = format!("outcome unknown ({error}); checking ClickSend's history");
                let settle_at = now + TimeDelta::from_std(settings.settle_delay)?;
                messages::mark_in_doubt(tx, &message.id, settle_at, &reason, now).await?;
                report.in_doubt += 1;
                Ok(("sending", Some(reason)))
            }
            _ if message.attempts >= settings.max_attempts => {
                let reason = format!("gave up after {} attempts: {error}", message.attempts);
                messages::mark_failed(tx, &message.id, &reason, now).await?;
                report.failed += 1;
                Ok(("failed", Some(reason)))
            }
            ProviderError::RateLimited { retry_after } => {
                messages::requeue(
                    tx,
                    &message.id,
                    retry(*retry_after)?,
                    &error.to_string(),
                    now,
                )
                .await?;
                report.retried += 1;
                Ok(("queued", Some(error.to_string())))
            }
            // Twilio dedupes a resend carrying the same idempotency token.
            ProviderError::Unavailable(_) | ProviderError::Unreadable(_) => {
                messages::requeue(tx, &message.id, retry(None)?, &error.to_string(), now).await?;
                report.retried += 1;
                Ok(("queued", Some(error.to_string())))
            }
        }
    }

    /// Settles messages whose hand-over ended without an answer: ClickSend's history
    /// says whether it accepted them (by our id in `custom_string`); what it does not
    /// know goes back in the queue. Twilio resends are safe, so they are requeued.
    async fn settle_in_doubt(&self, now: NaiveDateTime) -> anyhow::Result<DispatchReport> {
        let state = &self.state;
        let mut report = DispatchReport::default();
        // Claimed like due messages, so that two replicas never settle the same one.
        let doubtful = {
            let mut conn = state.db.conn().await?;
            messages::claim_in_doubt(
                &mut conn,
                now,
                now + SETTLEMENT_LEASE,
                state.dispatch.claim_limit,
            )
            .await?
        };
        for ((organization_id, provider_name), batch) in group(doubtful, |message| {
            (message.organization_id.clone(), message.provider.clone())
        }) {
            let (row, batch) = {
                let mut conn = state.db.conn().await?;
                // Earlier organizations of this round took time: keep only the messages
                // whose settlement lease is still ours, and renew it for this one.
                let started = now.max(services_now());
                let ids: Vec<String> = batch.iter().map(|m| m.id.clone()).collect();
                let held: HashSet<String> =
                    messages::refresh_lease(&mut conn, &ids, started, started + SETTLEMENT_LEASE)
                        .await?
                        .into_iter()
                        .collect();
                let batch: Vec<Message> =
                    batch.into_iter().filter(|m| held.contains(&m.id)).collect();
                (
                    integrations::find(&mut conn, &organization_id, &provider_name).await?,
                    batch,
                )
            };
            let Some(row) = row else { continue };
            if batch.is_empty() {
                continue;
            }
            let found = match row.provider.as_str() {
                "clicksend" => self.clicksend_history(&row, &batch).await,
                _ => Ok(HashMap::new()),
            };
            let mut tx = state.db.begin().await?;
            let mut history = Vec::with_capacity(batch.len());
            for message in &batch {
                let (status, detail) = match &found {
                    Ok(found) => match found.get(&message.id) {
                        Some(provider_message_id) => {
                            messages::mark_sent(
                                &mut tx,
                                &[SentUpdate {
                                    id: message.id.clone(),
                                    pid: provider_message_id.clone(),
                                    parts: None,
                                    price: None,
                                }],
                                now,
                            )
                            .await?;
                            report.sent += 1;
                            ("sent", Some("found in the provider's history".to_owned()))
                        }
                        None if message.attempts >= state.dispatch.max_attempts => {
                            let reason = format!(
                                "gave up after {} attempts; the provider has no record of it",
                                message.attempts
                            );
                            messages::mark_failed(&mut tx, &message.id, &reason, now).await?;
                            report.failed += 1;
                            ("failed", Some(reason))
                        }
                        None if row.active => {
                            let reason =
                                "outcome unknown; the provider has no record of it, sending again";
                            messages::requeue(&mut tx, &message.id, now, reason, now).await?;
                            report.retried += 1;
                            ("queued", Some(reason.to_owned()))
                        }
                        None => {
                            messages::cancel_claimed(
                                &mut tx,
                                std::slice::from_ref(&message.id),
                                "provider deactivated",
                                now,
                            )
                            .await?;
                            report.cancelled += 1;
                            ("cancelled", Some("provider deactivated".to_owned()))
                        }
                    },
                    Err(_) if now - message.send_at > SETTLEMENT_HORIZON => {
                        let reason = "outcome_unknown";
                        messages::mark_failed(&mut tx, &message.id, reason, now).await?;
                        report.failed += 1;
                        ("failed", Some(reason.to_owned()))
                    }
                    Err(error) => {
                        let retry_at = now + SETTLEMENT_RETRY;
                        messages::mark_in_doubt(
                            &mut tx,
                            &message.id,
                            retry_at,
                            &format!("cannot check the provider's history yet: {error:#}"),
                            now,
                        )
                        .await?;
                        continue;
                    }
                };
                report.settled += 1;
                history.push(MessageEvent {
                    id: new_id(),
                    message_id: message.id.clone(),
                    status: status.to_owned(),
                    detail,
                    created_at: now,
                });
            }
            messages::insert_events(&mut tx, &history).await?;
            tx.commit().await?;
        }
        Ok(report)
    }

    /// Our message id → ClickSend's, for the messages of `batch` found in its history.
    async fn clicksend_history(
        &self,
        row: &integrations::Integration,
        batch: &[Message],
    ) -> anyhow::Result<HashMap<String, String>> {
        let state = &self.state;
        let (username, secret) = credentials(state, ProviderKind::ClickSend, row)
            .map_err(|error| anyhow::anyhow!("{}", error.problem().detail))?;
        let client = ClickSendClient::new(
            state.providers.http.clone(),
            &state.providers.clicksend_base_url,
            username,
            secret,
            state.providers.options,
        );
        let since = batch
            .iter()
            .map(|message| message.created_at)
            .min()
            .map_or(0, |oldest| {
                (oldest - TimeDelta::minutes(1)).and_utc().timestamp()
            });
        let wanted: std::collections::HashSet<&str> = batch.iter().map(|m| m.id.as_str()).collect();
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
            "ClickSend's history holds more than {HISTORY_PAGES} pages since the oldest message in doubt"
        )
    }
}

/// Splits `items` by `key`, keeping their order within each group.
fn group<T>(items: Vec<T>, key: impl Fn(&T) -> (String, String)) -> Vec<Group<T>> {
    let mut groups: BTreeMap<(String, String), Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    groups.into_iter().collect()
}

fn events(
    ids: &[String],
    status: &str,
    detail: Option<&str>,
    now: NaiveDateTime,
) -> Vec<MessageEvent> {
    ids.iter()
        .map(|id| MessageEvent {
            id: new_id(),
            message_id: id.clone(),
            status: status.to_owned(),
            detail: detail.map(str::to_owned),
            created_at: now,
        })
        .collect()
}

/// Shared between the dispatcher and the request handlers that wake it.
pub type OutboxSignal = Arc<tokio::sync::Notify>;
