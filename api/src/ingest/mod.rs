//! Ingestion: replies and delivery receipts, from webhooks or read back by
//! reconciliation, are stored raw and applied in group commits.
//!
//! A webhook request does not write on its own. It hands its delivery to a queue and
//! waits; writer tasks take whatever has queued up (up to [`MAX_BATCH`]) and store and
//! apply it in one transaction, then answer every waiting request. Under load a commit
//! carries hundreds of deliveries instead of one, and a request is answered only once
//! its delivery is durable.
//!
//! When the database is slow the queue fills, and a request then waits for room in it
//! (back-pressure): a provider that pushes faster than the database stores is answered
//! more slowly, not refused, since a provider may never deliver a refused webhook again.
//! Only a request that finds no room within `NEXTAL_WEBHOOK_WAIT_SECS` (by default below
//! the shortest provider webhook timeout, 15 s) is answered 503 with `Retry-After`; a
//! provider that retries a 5xx (through the URL suffix of its descriptor) delivers it
//! again.

mod apply;

pub(crate) use apply::target_status;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use nextal_domain::ProviderKind;
use nextal_persistence::{Db, PersistenceError};
use nextal_providers::webhooks::{DeliveryReport, InboundSms};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::error::ApiError;
use crate::events::EventBus;
use crate::metrics::Metrics;

/// Most deliveries one transaction carries.
pub const MAX_BATCH: usize = 500;

/// What a delivery says.
#[derive(Debug, Clone)]
pub enum Content {
    /// A reply from a phone.
    Inbound(InboundSms),
    /// A status report on one of our messages.
    Receipt(DeliveryReport),
    /// A body that could not be read; kept for inspection only.
    Unreadable,
}

/// One webhook delivery for a known organization.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub organization_id: String,
    pub provider: ProviderKind,
    /// `inbound` or `receipt`: which URL it came to.
    pub kind: DeliveryKind,
    pub content: Content,
    pub content_type: Option<String>,
    /// The body (or, when empty, the query string) as received.
    pub payload: String,
    pub received_at: NaiveDateTime,
}

/// Which webhook a delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    /// Replies.
    Inbound,
    /// Delivery receipts and status callbacks.
    Receipt,
}

impl DeliveryKind {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Inbound => "inbound",
            DeliveryKind::Receipt => "receipt",
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Added to its thread, or the message's status moved.
    Applied,
    /// The same provider message was received before; nothing changed.
    Duplicate,
    /// A reply while its provider is inactive: kept in the raw log only.
    ProviderInactive,
    /// A receipt for a message this organization does not have.
    Unmatched,
    /// A receipt that would move a message back; nothing changed.
    Stale,
    /// The body could not be read.
    Unreadable,
}

impl Outcome {
    /// Stored in the raw log and counted in metrics for a delivery that could not be
    /// applied at all (the database failed): it has no outcome of its own.
    pub const FAILED: &'static str = "failed";

    /// As stored in the raw log and counted in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::ProviderInactive => "provider_inactive",
            Outcome::Unmatched => "unmatched",
            Outcome::Stale => "stale",
            Outcome::Unreadable => "unreadable",
        }
    }
}

struct Job {
    delivery: Delivery,
    answer: oneshot::Sender<Result<Outcome, ApiError>>,
}

/// The queue in front of the writers.
#[derive(Clone)]
pub struct Ingest {
    queue: mpsc::Sender<Job>,
    /// How long a delivery waits for room in the queue before it is refused.
    wait: Duration,
}

/// What the writers need.
#[derive(Clone)]
pub struct Writers {
    pub db: Db,
    pub events: EventBus,
    pub metrics: Arc<Metrics>,
}

impl Ingest {
    /// Starts `writers` writer tasks behind a queue of `capacity` deliveries; a delivery
    /// waits up to `wait` for room in it.
    pub fn start(context: Writers, writers: usize, capacity: usize, wait: Duration) -> Self {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let receiver = receiver.clone();
            let context = context.clone();
            tokio::spawn(async move { write_batches(&context, &receiver).await });
        }
        Self { queue, wait }
    }

    /// Stores and applies `delivery`; returns once it is durable. While the queue is
    /// full it waits for room, first come first served; 503 with `Retry-After` when
    /// none frees up in time. A provider that stops waiting does not take its delivery
    /// with it: actix lets the request run on after the client hangs up (half-closed
    /// connections are allowed), so the delivery still gets its place and is written.
    pub async fn submit(&self, delivery: Delivery) -> Result<Outcome, ApiError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send_timeout(Job { delivery, answer }, self.wait)
            .await
            .map_err(|error| match error {
                // The queue stayed full for the whole wait: a retry sooner than that
                // would most likely find it full again.
                SendTimeoutError::Timeout(_) => ApiError::Overloaded {
                    retry_after_secs: self.wait.as_secs().max(1),
                },
                SendTimeoutError::Closed(_) => {
                    ApiError::Unavailable("the webhook writers stopped".into())
                }
            })?;
        answered
            .await
            .map_err(|_| ApiError::Unavailable("the webhook writer stopped".into()))?
    }
}

/// Takes what has queued up, writes it as one transaction, answers, repeats. While
/// one writer commits, another gathers the next batch.
async fn write_batches(context: &Writers, receiver: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let mut jobs = Vec::new();
        {
            let mut receiver = receiver.lock().await;
            match receiver.recv().await {
                Some(job) => jobs.push(job),
                None => return,
            }
            while jobs.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        write(context, jobs).await;
    }
}

/// Writes `jobs` together; when that fails, each on its own, so that one bad delivery
/// (or a deadlock with another replica) costs only itself.
async fn write(context: &Writers, mut jobs: Vec<Job>) {
    let deliveries: Vec<Delivery> = jobs.iter().map(|job| job.delivery.clone()).collect();
    match apply::apply(context, &deliveries).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                answer(context, job, Ok(outcome)).await;
            }
        }
        Err(error) if jobs.len() == 1 => {
            if let Some(job) = jobs.pop() {
                answer(context, job, Err(error)).await;
            }
        }
        Err(error) => {
            tracing::warn!(%error, deliveries = jobs.len(), "webhook batch failed; writing one by one");
            for job in jobs {
                let result = apply::apply(context, std::slice::from_ref(&job.delivery))
                    .await
                    .map(|outcomes| outcomes.first().copied().unwrap_or(Outcome::Duplicate));
                answer(context, job, result).await;
            }
        }
    }
}

/// Answers one job; a failed delivery is still kept in the raw log when the database
/// takes it, and the provider is told to deliver again.
async fn answer(context: &Writers, job: Job, result: Result<Outcome, PersistenceError>) {
    let result = match result {
        Ok(outcome) => {
            context.metrics.webhook_applied(outcome.as_str());
            Ok(outcome)
        }
        Err(error) => {
            tracing::error!(error = %error, "webhook delivery could not be applied");
            context.metrics.webhook_applied(Outcome::FAILED);
            if let Err(error) = apply::keep_failed(context, &job.delivery).await {
                tracing::error!(error = %error, "webhook delivery could not be kept either");
            }
            Err(ApiError::Unavailable(
                "the delivery could not be stored; deliver it again".into(),
            ))
        }
    };
    let _ = job.answer.send(result);
}
