//! The outbox dispatcher: claims due messages, hands them to the active provider in
//! batches, records each outcome, retries what may succeed later and settles hand-overs
//! whose outcome is unknown before anything is sent again.

mod backoff;
mod leases;
mod settle;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use nextal_domain::ProviderKind;
use nextal_domain::{Failure, FailureReason, MessageStatus};
use nextal_persistence::repo::messages::{self, Claimed, MessageEvent, SentUpdate};
use nextal_persistence::repo::{integrations, recipients};
use nextal_providers::{InDoubt, OutboundSms, ProviderError, SendOutcome, SmsProvider, by_kind};

use leases::{HOLD_LEASE, Held, RoundClock, while_renewing};

use crate::events::{EventKind, InboxEvent};
use crate::services::integrations::{client_for, webhook_urls_for};
use crate::services::{ServiceError, messaging, new_id, truncate_to_micros};
use crate::state::AppState;

/// What one round did, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    /// Messages claimed for hand-over.
    pub claimed: usize,
    /// Accepted by a provider.
    pub sent: usize,
    /// Failed for good.
    pub failed: usize,
    /// Put back in the queue for a later try, those held back untried while their
    /// provider was failing included.
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
    /// The messages of the round by the outcome label metrics count them under;
    /// outcomes that are also statuses carry the status's name.
    fn outcomes(&self) -> [(&'static str, usize); 6] {
        [
            (MessageStatus::Sent.as_str(), self.sent),
            (MessageStatus::Failed.as_str(), self.failed),
            ("retried", self.retried),
            ("in_doubt", self.in_doubt),
            ("settled", self.settled),
            (MessageStatus::Cancelled.as_str(), self.cancelled),
        ]
    }

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

/// A provider request's lease runs this long past the provider timeout: the HTTP client
/// gives up on the request by then, and this leaves time to record its outcome before
/// anyone may take its messages for lost.
const REQUEST_LEASE_MARGIN: TimeDelta = TimeDelta::seconds(3);
/// A message that keeps failing for a reason a retry may fix (the provider down or
/// rate limiting, its history unreadable) is given up this long after it was due.
const GIVE_UP_AFTER: TimeDelta = TimeDelta::hours(24);
/// Organizations one lane hands over to at the same time; each holds up to two pooled
/// connections on PostgreSQL (the gate and the outcome records). With
/// [`DISPATCH_LANES`] lanes a process hands over to two organizations at once.
const PARALLEL_ORGANIZATIONS: usize = 1;

/// Rounds run side by side in one process, like replicas: each claims its own messages
/// (a thread's messages still go one at a time), so one lane's database writes overlap
/// the other's provider request. Two kept a 10,000-message bulk send's hand-over 0.1 s
/// shorter than one on the 2-core machine (docs/scaling.md "Bulk sends").
const DISPATCH_LANES: usize = 2;

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
    /// Every lease the dispatcher gave them: their claim's, its renewals', and the one
    /// a request about to start may have set.
    leases: Vec<NaiveDateTime>,
}

/// Why a group's hand-over stopped before its last message.
enum Stopped {
    /// An error (the database's, say) before the messages from `untouched` on were in a
    /// provider request.
    Failed {
        error: anyhow::Error,
        untouched: usize,
    },
    /// The provider failed a request for a reason a retry may fix: the messages from
    /// `rest` on are not tried this round, and wait until `until` with the failed ones.
    ProviderFailing {
        rest: usize,
        until: NaiveDateTime,
        cause: String,
    },
}

/// A provider request's end: how many of the pending messages it took, and, when the
/// provider failed it for a reason a retry may fix, until when to wait and why.
struct Request {
    taken: usize,
    failing: Option<(NaiveDateTime, String)>,
}

/// What became of one message of a request.
struct Decided {
    status: MessageStatus,
    detail: Option<String>,
    /// When it is tried, or its outcome looked up, again.
    again_at: Option<NaiveDateTime>,
}

/// Messages of one organization and provider, in id order.
type Group<T> = ((String, ProviderKind), Vec<T>);

impl Dispatcher {
    /// A dispatcher over the application's state.
    pub fn new(state: actix_web::web::Data<AppState>) -> Self {
        Self {
            state,
            abandoned: Arc::default(),
        }
    }

    /// Runs until the process ends: [`DISPATCH_LANES`] lanes of rounds, each at once
    /// after a send, else every poll interval, and, beside them, the writing of bulk
    /// sends' chunks as messages, so that the first thousand messages of a batch are
    /// handed over while the next are written.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let lanes = (0..DISPATCH_LANES).map(|_| self.dispatch_forever());
            tokio::join!(
                self.write_chunks_forever(),
                futures_util::future::join_all(lanes)
            );
        })
    }

    /// One lane: a round at once after the last if it claimed a full batch, else when a
    /// send wakes it or the poll interval has passed.
    async fn dispatch_forever(&self) {
        let settings = self.state.dispatch;
        loop {
            match self.dispatch_due(Utc::now()).await {
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
    }

    /// Writes bulk sends' chunks as messages whenever a batch is accepted, and every
    /// poll interval (chunks a failed write or another process left).
    async fn write_chunks_forever(&self) {
        loop {
            match self.write_waiting_chunks().await {
                Ok(0) => {}
                Ok(written) => tracing::info!(written, "bulk messages written"),
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "writing bulk messages failed; retried")
                }
            }
            tokio::select! {
                () = self.state.chunk_signal.notified() => {}
                () = tokio::time::sleep(self.state.dispatch.poll_interval) => {}
            }
        }
    }

    /// Writes the bulk sends' chunks waiting in the outbox as messages; how many it wrote.
    pub async fn write_waiting_chunks(&self) -> anyhow::Result<usize> {
        let state = &self.state;
        let (db, wake, clock) = (&state.db, &state.outbox_signal, &state.clock);
        Ok(messaging::write_waiting_chunks(db, wake, clock, None).await?)
    }

    /// One round at time `now`: write waiting bulk chunks as messages, then
    /// [`Dispatcher::dispatch_due`].
    pub async fn run_once(&self, now: DateTime<Utc>) -> anyhow::Result<DispatchReport> {
        self.write_waiting_chunks().await?;
        self.dispatch_due(now).await
    }

    /// Settles what is in doubt, then claims and hands over what is due at `now`.
    /// Claimed messages waiting for their provider request keep a short lease, renewed
    /// while the round runs, so that a crash lets go of them quickly.
    async fn dispatch_due(&self, now: DateTime<Utc>) -> anyhow::Result<DispatchReport> {
        let clock = RoundClock::starting_at(now.naive_utc());
        let now = clock.start();
        self.end_abandoned_claims(now).await?;
        let mut report = self.settle_in_doubt(clock).await?;
        let lease = now + HOLD_LEASE;
        let claimed = {
            let mut conn = self.state.db.conn().await?;
            messages::claim_due(&mut conn, now, lease, self.state.dispatch.claim_limit).await?
        };
        report.claimed = claimed.len();
        let held = Held::new(claimed.iter().map(|message| message.id.clone()), lease);
        let groups = group(claimed, |message| {
            (message.organization_id.clone(), message.provider)
        });
        let handed = self.hand_over_all(groups, clock, &held);
        let (done, first_error) = while_renewing(&self.state.db, &held, clock, handed).await;
        report.add(done);
        self.state
            .metrics
            .dispatched(&report.outcomes(), report.provider_requests);
        if let Some(error) = first_error {
            return Err(error);
        }
        Ok(report)
    }

    /// Hands the groups over, a few organizations at a time; one organization's failure
    /// (its database writes, say) does not stop the others. Returns what they did and
    /// the first error.
    async fn hand_over_all(
        &self,
        groups: Vec<Group<Claimed>>,
        clock: RoundClock,
        held: &Held,
    ) -> (DispatchReport, Option<anyhow::Error>) {
        let mut rounds = futures_util::stream::iter(groups)
            .map(|(key, batch)| self.hand_over(key, batch, clock, held))
            .buffer_unordered(PARALLEL_ORGANIZATIONS);
        let mut report = DispatchReport::default();
        let mut first_error = None;
        while let Some(result) = rounds.next().await {
            match result {
                Ok(done) => report.add(done),
                Err((error, untouched)) => {
                    tracing::warn!(error = %format!("{error:#}"), "hand-over failed; its messages are retried once their lease ends");
                    if !untouched.ids.is_empty() {
                        self.abandoned_claims().push(untouched);
                    }
                    first_error.get_or_insert(error);
                }
            }
        }
        (report, first_error)
    }

    /// The abandoned claims waiting to be ended.
    fn abandoned_claims(&self) -> std::sync::MutexGuard<'_, Vec<AbandonedClaim>> {
        self.abandoned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ends the claims of failed hand-overs' messages that no provider request carried
    /// (the database failing between the claim and the request, say): nothing went
    /// out, so they need not wait out their lease, nor count the claim as an attempt.
    /// Their lease ends now and this round's settlement takes them. Kept for the next
    /// round while the database does not answer.
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

    /// Hands one organization's claimed messages to its provider
    /// ([`Dispatcher::hand_over_group`]), then gives back the claims of those it did
    /// not hand over: at once when the provider is failing, or, after an error, by
    /// the next round that reaches the database.
    async fn hand_over(
        &self,
        key: (String, ProviderKind),
        batch: Vec<Claimed>,
        clock: RoundClock,
        held: &Held,
    ) -> Result<DispatchReport, (anyhow::Error, AbandonedClaim)> {
        let mut report = DispatchReport::default();
        let stopped = self
            .hand_over_group(&key, &batch, clock, held, &mut report)
            .await;
        let leases = held.release(&ids_of(&batch)).await;
        match stopped {
            Ok(()) => Ok(report),
            Err(Stopped::ProviderFailing { rest, until, cause }) => {
                let rest = ids_of(&batch[rest..]);
                match self
                    .hold_back(&rest, &leases, until, &cause, clock.now())
                    .await
                {
                    Ok(count) => {
                        report.retried += count;
                        Ok(report)
                    }
                    Err(error) => Err((error, AbandonedClaim { ids: rest, leases })),
                }
            }
            Err(Stopped::Failed { error, untouched }) => {
                let ids = ids_of(&batch[untouched..]);
                Err((error, AbandonedClaim { ids, leases }))
            }
        }
    }

    /// Puts messages the round will not try back in the queue until `until`, without
    /// counting an attempt: their provider just failed a request, and more requests
    /// now would only add load and doubt. Returns how many went back.
    async fn hold_back(
        &self,
        ids: &[String],
        leases: &[NaiveDateTime],
        until: NaiveDateTime,
        cause: &str,
        now: NaiveDateTime,
    ) -> anyhow::Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let reason =
            format!("not handed over yet: the provider failed the request before ({cause})");
        let mut conn = self.state.db.conn().await?;
        Ok(messages::hand_back(&mut conn, ids, leases, until, &reason, now).await?)
    }

    /// Sends `batch` one request's worth at a time, each inside the gate: a deactivation
    /// waits for at most one request, and whatever was claimed but not yet sent when it
    /// commits is cancelled. Stops after a request the provider failed for a reason a
    /// retry may fix.
    async fn hand_over_group(
        &self,
        &(ref organization_id, provider): &(String, ProviderKind),
        batch: &[Claimed],
        clock: RoundClock,
        held: &Held,
        report: &mut DispatchReport,
    ) -> Result<(), Stopped> {
        let state = &self.state;
        let mut offset = 0;
        while offset < batch.len() {
            let remaining = &batch[offset..];
            let failed = |error: anyhow::Error, untouched| Stopped::Failed { error, untouched };
            let entered = state
                .gates
                .enter(&state.db, organization_id, provider)
                .await
                .map_err(|error| failed(error.into(), offset))?;
            let Some((gate, row)) = entered else {
                // Deactivated since the claim: nothing more goes out. If the cancelling
                // fails, settlement cancels them, finding the provider inactive.
                return self
                    .cancel_deactivated(remaining, clock.now(), report)
                    .await
                    .map_err(|error| failed(error, offset));
            };
            let mut requested = 0;
            let handed = self
                .hand_over_one_request(&row, remaining, clock, held, report, &mut requested)
                .await;
            gate.close().await;
            let request = handed.map_err(|error| failed(error, offset + requested))?;
            offset += request.taken;
            if let Some((until, cause)) = request.failing {
                return Err(Stopped::ProviderFailing {
                    rest: offset,
                    until,
                    cause,
                });
            }
        }
        Ok(())
    }

    /// Cancels claimed messages whose provider was deactivated after the claim.
    async fn cancel_deactivated(
        &self,
        pending: &[Claimed],
        now: NaiveDateTime,
        report: &mut DispatchReport,
    ) -> anyhow::Result<()> {
        let ids = ids_of(pending);
        let mut tx = self.state.db.begin().await?;
        messages::cancel_claimed(&mut tx, &ids, "provider deactivated", now).await?;
        messages::insert_events(
            &mut tx,
            &events(
                &ids,
                MessageStatus::Cancelled,
                Some("provider deactivated"),
                now,
            ),
        )
        .await?;
        tx.commit().await?;
        report.cancelled += ids.len();
        Ok(())
    }

    /// Sends the first request's worth of `pending`. `requested` tells a failure before
    /// the request from one after: it is how many messages the request carries once it
    /// has started.
    async fn hand_over_one_request(
        &self,
        row: &integrations::Integration,
        pending: &[Claimed],
        clock: RoundClock,
        held: &Held,
        report: &mut DispatchReport,
        requested: &mut usize,
    ) -> anyhow::Result<Request> {
        let state = &self.state;
        let provider = row.provider;
        let (client, status_callback) = match self.client(provider, row) {
            Ok(prepared) => prepared,
            Err(error) => {
                // Missing or unreadable credentials: no retry will help until an admin acts.
                let reason = format!("cannot send through {provider}: {}", error.detail());
                let failure = Failure::ours(FailureReason::Unknown);
                self.fail_all(pending, &failure, &reason, clock.now(), report)
                    .await?;
                return Ok(Request {
                    taken: pending.len(),
                    failing: None,
                });
            }
        };
        let descriptor = by_kind(provider).descriptor();
        let chunk = &pending[..pending.len().min(descriptor.request_size(client.as_ref()))];
        let ids = ids_of(chunk);
        let lease = TimeDelta::from_std(state.providers.options.timeout)? + REQUEST_LEASE_MARGIN;
        let ours: HashSet<String> = held
            .take(&state.db, &ids, clock, lease)
            .await?
            .into_iter()
            .collect();
        // A message whose lease ran out while it waited may be settled by another
        // replica already: it is theirs now.
        let chunk: Vec<&Claimed> = chunk.iter().filter(|m| ours.contains(&m.id)).collect();
        let taken = ids.len();
        if chunk.is_empty() {
            return Ok(Request {
                taken,
                failing: None,
            });
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
        report.provider_requests += descriptor.requests_for(chunk.len());
        *requested = taken;
        let result = client.send(&outbound).await;
        let failing = self.record(provider, &chunk, result, clock, report).await?;
        Ok(Request { taken, failing })
    }

    /// The provider's client from the stored credentials and, when the provider takes
    /// one with each message, the status webhook URL.
    fn client(
        &self,
        provider: ProviderKind,
        row: &integrations::Integration,
    ) -> Result<(Box<dyn SmsProvider>, Option<String>), ServiceError> {
        let client = client_for(&self.state, provider, row)?;
        let status_callback = if by_kind(provider).descriptor().status_callback_per_message {
            Some(webhook_urls_for(&self.state, provider, row)?.status)
        } else {
            None
        };
        Ok((client, status_callback))
    }

    /// Fails `pending` for good: `failure`, explained by `reason`.
    async fn fail_all(
        &self,
        pending: &[Claimed],
        failure: &Failure,
        reason: &str,
        now: NaiveDateTime,
        report: &mut DispatchReport,
    ) -> anyhow::Result<()> {
        let ids = ids_of(pending);
        let mut tx = self.state.db.begin().await?;
        for id in &ids {
            messages::mark_failed(&mut tx, id, failure, reason, now).await?;
        }
        messages::insert_events(
            &mut tx,
            &events(&ids, MessageStatus::Failed, Some(reason), now),
        )
        .await?;
        tx.commit().await?;
        report.failed += ids.len();
        Ok(())
    }

    /// Stores what the provider said about each message of one request. When the
    /// provider failed the request for a reason a retry may fix, returns until when the
    /// rest of the organization's messages wait (the latest time one of these is tried
    /// or looked up again) and why.
    async fn record(
        &self,
        provider: ProviderKind,
        chunk: &[&Claimed],
        result: Result<Vec<SendOutcome>, ProviderError>,
        clock: RoundClock,
        report: &mut DispatchReport,
    ) -> anyhow::Result<Option<(NaiveDateTime, String)>> {
        let state = &self.state;
        // Taken after the request: retry and settle times count from its end.
        let now = clock.now();
        let failing = provider_failing(provider, &result);
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
        let mut again_at = None;
        for (message, outcome) in chunk.iter().zip(outcomes) {
            let decided = match outcome {
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
                    Decided {
                        status: MessageStatus::Sent,
                        detail: None,
                        again_at: None,
                    }
                }
                SendOutcome::Rejected { code, reason } => {
                    report.failed += 1;
                    refused(&mut tx, provider, message, &code, &reason, now).await?
                }
                SendOutcome::Failed(error) => {
                    self.after_failure(&mut tx, provider, message, &error, now, report)
                        .await?
                }
            };
            again_at = again_at.max(decided.again_at);
            history.push(MessageEvent {
                id: new_id(),
                message_id: message.id.clone(),
                status: decided.status,
                detail: decided.detail,
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
            .filter(|(change, message)| {
                change.status != MessageStatus::Sent || moved.contains(&message.id)
            })
            .unzip();
        messages::insert_events(&mut tx, &history).await?;
        let mut events: Vec<InboxEvent> = chunk
            .iter()
            .zip(&history)
            .map(|(message, change)| {
                InboxEvent::message(
                    &message.organization_id,
                    EventKind::MessageStatus,
                    &message.thread_id,
                    &message.id,
                    change.status,
                )
            })
            .collect();
        state.events.stage(&mut tx, &mut events).await?;
        tx.commit().await?;
        state.events.committed(events);
        Ok(failing.map(|cause| (again_at.unwrap_or(now), cause)))
    }

    /// Decides what a failed hand-over means for `message`: a final failure, a retry,
    /// or (when the provider may have accepted it) doubt to settle later. A failure a
    /// retry may fix is retried until [`GIVE_UP_AFTER`] has passed since the message
    /// was due, however many attempts that takes.
    async fn after_failure(
        &self,
        tx: &mut nextal_persistence::DbConn,
        provider: ProviderKind,
        message: &Claimed,
        error: &ProviderError,
        now: NaiveDateTime,
        report: &mut DispatchReport,
    ) -> anyhow::Result<Decided> {
        let retry_after = match error {
            ProviderError::Unauthorized(_) | ProviderError::Rejected { .. } => {
                let reason = error.to_string();
                let failure = match error {
                    ProviderError::Rejected { code, reason } => by_kind(provider)
                        .descriptor()
                        .failure(Some(code), Some(reason)),
                    _ => Failure::ours(FailureReason::Unknown),
                };
                messages::mark_failed(tx, &message.id, &failure, &reason, now).await?;
                recipients::learn_from_failure(tx, &message.id, &failure, new_id(), now).await?;
                report.failed += 1;
                return Ok(Decided {
                    status: MessageStatus::Failed,
                    detail: Some(reason),
                    again_at: None,
                });
            }
            // The provider may have accepted it: look in its history before anything
            // else, however long it has been failing.
            ProviderError::Unavailable(_) | ProviderError::Unreadable(_)
                if by_kind(provider).descriptor().in_doubt == InDoubt::SettleFromHistory =>
            {
                let reason = format!("outcome unknown ({error}); checking {provider}'s history");
                let settle_at = truncate_to_micros(
                    now + TimeDelta::from_std(self.state.dispatch.settle_delay)?,
                );
                messages::mark_in_doubt(tx, &message.id, settle_at, &reason, now).await?;
                report.in_doubt += 1;
                return Ok(Decided {
                    status: MessageStatus::Sending,
                    detail: Some(reason),
                    again_at: Some(settle_at),
                });
            }
            ProviderError::RateLimited { retry_after } => *retry_after,
            // The provider recognises a resend of the same message
            // (`InDoubt::ResendSafely`).
            ProviderError::Unavailable(_) | ProviderError::Unreadable(_) => None,
        };
        if now - message.send_at > GIVE_UP_AFTER {
            let reason = format!(
                "gave up: still failing {} hours after it was due ({error})",
                GIVE_UP_AFTER.num_hours()
            );
            let failure = Failure::ours(FailureReason::Expired);
            messages::mark_failed(tx, &message.id, &failure, &reason, now).await?;
            report.failed += 1;
            return Ok(Decided {
                status: MessageStatus::Failed,
                detail: Some(reason),
                again_at: None,
            });
        }
        // Stored as the databases store times, so that a round run for exactly this time
        // finds it due.
        let retry_at = truncate_to_micros(
            now + TimeDelta::from_std(backoff::retry_delay(message.attempts, retry_after))?,
        );
        messages::requeue(tx, &message.id, retry_at, &error.to_string(), now).await?;
        report.retried += 1;
        Ok(Decided {
            status: MessageStatus::Queued,
            detail: Some(error.to_string()),
            again_at: Some(retry_at),
        })
    }
}

/// Fails a message the provider refused for good.
async fn refused(
    tx: &mut nextal_persistence::DbConn,
    provider: ProviderKind,
    message: &Claimed,
    code: &str,
    reason: &str,
    now: NaiveDateTime,
) -> anyhow::Result<Decided> {
    let failure = by_kind(provider)
        .descriptor()
        .failure(Some(code), Some(reason));
    let reason = format!("{reason} ({code})");
    messages::mark_failed(tx, &message.id, &failure, &reason, now).await?;
    // An opted-out recipient (they texted STOP to our number at some point) is refused
    // until they opt back in; a landline is refused every time.
    recipients::learn_from_failure(tx, &message.id, &failure, new_id(), now).await?;
    Ok(Decided {
        status: MessageStatus::Failed,
        detail: Some(reason),
        again_at: None,
    })
}

/// Why a request's answer shows the provider failing as a whole, if it does: the
/// request failed for a reason a retry may fix, or (a provider taking one call per
/// message) one of its calls did. A batched answer's entry for one message (a throttled
/// one, or one it cannot read) concerns that message only.
fn provider_failing(
    provider: ProviderKind,
    result: &Result<Vec<SendOutcome>, ProviderError>,
) -> Option<String> {
    match result {
        Err(error) if retry_may_fix(error) => Some(error.to_string()),
        Ok(outcomes) if by_kind(provider).descriptor().one_request_per_message() => {
            outcomes.iter().find_map(|outcome| match outcome {
                SendOutcome::Failed(error) if retry_may_fix(error) => Some(error.to_string()),
                _ => None,
            })
        }
        _ => None,
    }
}

/// Timeouts, connection failures, 5xx, rate limiting and unreadable answers.
fn retry_may_fix(error: &ProviderError) -> bool {
    matches!(
        error,
        ProviderError::Unavailable(_)
            | ProviderError::RateLimited { .. }
            | ProviderError::Unreadable(_)
    )
}

fn ids_of(messages: &[Claimed]) -> Vec<String> {
    messages.iter().map(|message| message.id.clone()).collect()
}

/// Splits `items` by `key`, keeping their order within each group.
fn group<T>(items: Vec<T>, key: impl Fn(&T) -> (String, ProviderKind)) -> Vec<Group<T>> {
    let mut groups: BTreeMap<(String, ProviderKind), Vec<T>> = BTreeMap::new();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    groups.into_iter().collect()
}

fn events(
    ids: &[String],
    status: MessageStatus,
    detail: Option<&str>,
    now: NaiveDateTime,
) -> Vec<MessageEvent> {
    ids.iter()
        .map(|id| MessageEvent {
            id: new_id(),
            message_id: id.clone(),
            status,
            detail: detail.map(str::to_owned),
            created_at: now,
        })
        .collect()
}
