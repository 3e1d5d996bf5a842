//! Reconciliation with the providers' own records: replies and delivery receipts whose
//! webhook never arrived (refused, lost, or sent while this service was down) are read
//! back from the provider and applied once, through the same writers as webhooks.
//!
//! Each round, for every active integration:
//! 1. its lease is taken, so that replicas take turns (`provider_sync`);
//! 2. the provider's records since the last complete read (less an overlap, for records
//!    the provider shows late) are read in both directions; a reply we do not have, and
//!    a status that would move one of our `sent` (or later) messages forward, are
//!    handed to the webhook writers as if their webhook had come;
//! 3. messages still `sent` after [`AWAITING_RECEIPT_AFTER`] have their status asked of
//!    the provider one by one (a record dated before the window of step 2 changes there
//!    when its receipt comes, so step 2 cannot see it).
//!
//! The writers deduplicate as for webhooks, so a webhook arriving after reconciliation
//! (or the other way round) changes nothing twice.

mod records;

use std::time::Duration;

use actix_web::web::Data;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use nextal_domain::ProviderKind;
use nextal_persistence::repo::integrations::{self, Integration};
use nextal_persistence::repo::provider_sync;
use nextal_providers::{HistoryPage, HistoryRecord, ProviderError, SmsProvider};

use crate::services::integrations::client_for;
use crate::services::truncate_to_micros;
use crate::state::AppState;

/// Records the provider may show late: each read starts this far before the last one
/// ended.
const OVERLAP: TimeDelta = TimeDelta::minutes(10);
/// The furthest back a read goes: where a new integration starts, and the most a
/// service that was down for long catches up on.
const MAX_LOOKBACK: TimeDelta = TimeDelta::hours(24);
/// How long one replica may take over an integration's round before another may.
const ROUND_LEASE: TimeDelta = TimeDelta::minutes(5);
/// Pages read per integration and round (100 records each); what is left is read by
/// the next round, which starts again from the same place.
const MAX_PAGES: usize = 200;
/// A message `sent` this long without a receipt has its status asked of the provider.
pub const AWAITING_RECEIPT_AFTER: TimeDelta = TimeDelta::minutes(15);
/// Asked again no sooner than this.
const RECHECK_AFTER: TimeDelta = TimeDelta::minutes(30);
/// Messages sent longer ago than this are no longer asked about: providers keep
/// trying to deliver for at most a few days.
const RECEIPT_HORIZON: TimeDelta = TimeDelta::hours(72);
/// Status requests per integration and round, to stay far inside the provider's rate
/// limits.
const STATUS_CHECKS_PER_ROUND: i64 = 200;

/// What one round found and applied, for logs, metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Integrations whose records were read.
    pub integrations: usize,
    /// Replies the provider has that we did not.
    pub replies_found: usize,
    /// Of those, stored now.
    pub replies_applied: usize,
    /// Statuses that would move one of our messages forward.
    pub receipts_found: usize,
    /// Of those, applied now.
    pub receipts_applied: usize,
    /// Statuses asked of the provider one message at a time.
    pub statuses_checked: usize,
    /// Integrations whose round failed (provider or database errors); retried next
    /// round from where they stood.
    pub failed: usize,
}

impl ReconcileReport {
    fn add(&mut self, other: ReconcileReport) {
        self.integrations += other.integrations;
        self.replies_found += other.replies_found;
        self.replies_applied += other.replies_applied;
        self.receipts_found += other.receipts_found;
        self.receipts_applied += other.receipts_applied;
        self.statuses_checked += other.statuses_checked;
        self.failed += other.failed;
    }
}

/// Reconciles every active integration with its provider; cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    state: Data<AppState>,
}

impl Reconciler {
    /// A reconciler over the application's state.
    pub fn new(state: Data<AppState>) -> Self {
        Self { state }
    }

    /// Runs a round at once (what was missed while the process was down) and then
    /// every `interval`, until the process ends.
    pub fn spawn(self, interval: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match self.run_once(Utc::now()).await {
                    Ok(report) => {
                        if report.replies_found + report.receipts_found + report.failed > 0 {
                            tracing::info!(?report, "reconciliation round");
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "reconciliation round failed")
                    }
                }
            }
        })
    }

    /// One round at time `now` over every active integration. One integration's
    /// failure does not stop the others; it is counted and logged.
    pub async fn run_once(&self, now: DateTime<Utc>) -> anyhow::Result<ReconcileReport> {
        let now = truncate_to_micros(now.naive_utc());
        let active = {
            let mut conn = self.state.db.conn().await?;
            integrations::all_active(&mut conn).await?
        };
        let mut report = ReconcileReport::default();
        let mut oldest_read: Option<NaiveDateTime> = None;
        for row in &active {
            match self.reconcile(row, now).await {
                Ok((done, read_until)) => {
                    report.add(done);
                    if let Some(until) = read_until {
                        oldest_read = Some(oldest_read.map_or(until, |oldest| oldest.min(until)));
                    }
                }
                Err(error) => {
                    tracing::warn!(
                        organization_id = %row.organization_id,
                        provider = %row.provider,
                        error = %format!("{error:#}"),
                        "reconciliation failed; the next round starts from the same place"
                    );
                    report.failed += 1;
                }
            }
        }
        let lag = oldest_read.map(|until| (now - until).as_seconds_f64().max(0.0));
        self.state.metrics.reconciled(
            &[
                ("reply", "found", report.replies_found),
                ("reply", "applied", report.replies_applied),
                ("receipt", "found", report.receipts_found),
                ("receipt", "applied", report.receipts_applied),
            ],
            report.failed,
            lag,
        );
        Ok(report)
    }

    /// One integration's round; returns what it did and how far its records are now
    /// read (`None` when another replica holds its lease or it cannot be read yet).
    async fn reconcile(
        &self,
        row: &Integration,
        now: NaiveDateTime,
    ) -> anyhow::Result<(ReconcileReport, Option<NaiveDateTime>)> {
        let provider = row.provider;
        // No credentials yet: nothing can be read, and nothing can have been sent.
        let Ok(client) = client_for(&self.state, provider, row) else {
            return Ok((ReconcileReport::default(), None));
        };
        let lease = now + ROUND_LEASE;
        let synced_until = {
            let mut conn = self.state.db.conn().await?;
            provider_sync::claim(&mut conn, &row.id, now, lease, now - MAX_LOOKBACK).await?
        };
        let Some(synced_until) = synced_until else {
            return Ok((ReconcileReport::default(), None));
        };
        let since = (synced_until - OVERLAP).max(now - MAX_LOOKBACK);
        let mut report = ReconcileReport {
            integrations: 1,
            ..ReconcileReport::default()
        };
        let read = self
            .read_history(row, provider, client.as_ref(), since, &mut report)
            .await;
        let checked = match &read {
            Ok(_) => {
                self.check_awaiting(row, provider, client.as_ref(), now, &mut report)
                    .await
            }
            Err(_) => Ok(()),
        };
        // The lease is given back whatever happened, so the next round need not wait
        // for it; the place advances only past a complete read.
        let read_until = matches!(read, Ok(true)).then_some(now);
        {
            let mut conn = self.state.db.conn().await?;
            provider_sync::release(&mut conn, &row.id, lease, read_until, now).await?;
        }
        read?;
        checked?;
        Ok((report, Some(read_until.unwrap_or(synced_until))))
    }

    /// Reads the provider's records since `since` and applies what we lack; true when
    /// every page was read.
    async fn read_history(
        &self,
        row: &Integration,
        provider: ProviderKind,
        client: &dyn SmsProvider,
        since: NaiveDateTime,
        report: &mut ReconcileReport,
    ) -> anyhow::Result<bool> {
        let mut page: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let HistoryPage { records, next } =
                client.history(since.and_utc(), page.as_deref()).await?;
            records::apply_missing(&self.state, row, provider, records, report).await?;
            match next {
                Some(next) => page = Some(next),
                None => return Ok(true),
            }
        }
        tracing::warn!(
            organization_id = %row.organization_id,
            provider = %row.provider,
            pages = MAX_PAGES,
            "the provider's records hold more than one round reads; the next round reads them again"
        );
        Ok(false)
    }

    /// Asks the provider where the messages still waiting for a receipt stand.
    async fn check_awaiting(
        &self,
        row: &Integration,
        provider: ProviderKind,
        client: &dyn SmsProvider,
        now: NaiveDateTime,
        report: &mut ReconcileReport,
    ) -> anyhow::Result<()> {
        let awaiting = {
            let mut conn = self.state.db.conn().await?;
            provider_sync::awaiting_receipt(
                &mut conn,
                &row.organization_id,
                provider,
                now - RECEIPT_HORIZON,
                now - AWAITING_RECEIPT_AFTER,
                now - RECHECK_AFTER,
                STATUS_CHECKS_PER_ROUND,
            )
            .await?
        };
        let mut checked = Vec::with_capacity(awaiting.len());
        let mut reports = Vec::new();
        let mut failure = None;
        for message in awaiting {
            match client.status_of(&message.provider_message_id).await {
                Ok(status) => {
                    checked.push(message.id);
                    reports.extend(status.map(HistoryRecord::Outbound));
                }
                // An answer about this one message we cannot use: asked again later,
                // like a message without a receipt, without holding back the others.
                Err(ProviderError::Unreadable(_) | ProviderError::Rejected { .. }) => {
                    checked.push(message.id);
                }
                // The provider is in trouble: the rest waits for the next round.
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        report.statuses_checked += checked.len();
        records::apply_missing(&self.state, row, provider, reports, report).await?;
        {
            let mut conn = self.state.db.conn().await?;
            provider_sync::mark_status_checked(&mut conn, &checked, now).await?;
        }
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }
}
