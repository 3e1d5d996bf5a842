//! The leases a dispatch round holds on messages it works on outside a provider
//! request: claimed messages waiting for their request, and messages in doubt being
//! settled. They are short and renewed while the round lives, so that a slow round
//! keeps its messages while a dead process lets go of them within [`HOLD_LEASE`].
//!
//! A lease value is its holder's token: every update the round makes to a held
//! message names the values it gave it, so a message another replica took after a
//! lease ran out is never touched again.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};
use nextal_persistence::repo::messages;
use nextal_persistence::{Db, PersistenceError};

use crate::services::truncate_to_micros;

/// How long a held lease lasts after it was set: after a crash, the longest that held
/// messages wait before another dispatcher settles them.
pub const HOLD_LEASE: TimeDelta = TimeDelta::seconds(15);
/// How much longer than a request's own lease the lease its messages already hold may
/// be for the request to keep it: the longest a crash then delays their settlement.
const KEPT_LEASE_SLACK: TimeDelta = TimeDelta::seconds(2);
/// How often held leases are renewed: a third of [`HOLD_LEASE`], so that a renewal
/// may be late or fail once without the lease running out.
const RENEWAL: Duration = Duration::from_secs(5);

/// The time in a dispatch round: the time the round was run for (tests choose it),
/// moving on with the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct RoundClock {
    start: NaiveDateTime,
    started: Instant,
}

impl RoundClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: NaiveDateTime) -> Self {
        Self {
            start: truncate_to_micros(start),
            started: Instant::now(),
        }
    }

    /// The time the round was run for.
    pub fn start(&self) -> NaiveDateTime {
        self.start
    }

    /// The round's time now.
    pub fn now(&self) -> NaiveDateTime {
        let elapsed = TimeDelta::from_std(self.started.elapsed()).unwrap_or(TimeDelta::MAX);
        truncate_to_micros(
            self.start
                .checked_add_signed(elapsed)
                .unwrap_or(NaiveDateTime::MAX),
        )
    }
}

/// Messages a round holds under a renewed lease.
pub struct Held {
    /// Shared by the renewal and whoever takes messages out, so that a renewal never
    /// overwrites the lease of a message just handed to a provider request.
    state: tokio::sync::Mutex<HeldState>,
}

struct HeldState {
    ids: HashSet<String>,
    /// Every lease value the round gave these messages: the claim's, the renewals', and
    /// those of the requests (or settlements) they were taken for.
    leases: Vec<NaiveDateTime>,
    /// A lease every message of `ids` is known to hold at least: the claim's, or the
    /// last renewal the database confirmed.
    confirmed: NaiveDateTime,
}

impl Held {
    /// `ids`, just claimed with lease `lease`.
    pub fn new(ids: impl IntoIterator<Item = String>, lease: NaiveDateTime) -> Self {
        Self {
            state: tokio::sync::Mutex::new(HeldState {
                ids: ids.into_iter().collect(),
                leases: vec![lease],
                confirmed: lease,
            }),
        }
    }

    /// Moves every held lease to [`HOLD_LEASE`] from now; forgets the messages that are
    /// no longer ours.
    async fn renew(&self, db: &Db, clock: RoundClock) -> Result<(), PersistenceError> {
        if self.state.lock().await.ids.is_empty() {
            return Ok(());
        }
        // Taken before the lock: nobody waits for the pool while holding it.
        let mut conn = db.conn().await?;
        let mut state = self.state.lock().await;
        let ids: Vec<String> = state.ids.iter().cloned().collect();
        let now = clock.now();
        // Kept before the update is sent: if its answer is lost, the value may be stored.
        state.leases.push(now + HOLD_LEASE);
        let held =
            messages::refresh_lease(&mut conn, &ids, &state.leases, now, now + HOLD_LEASE).await?;
        state.ids = held.into_iter().collect();
        state.confirmed = now + HOLD_LEASE;
        Ok(())
    }

    /// Takes `ids` out of the renewal and gives them a lease of `lasting` from now (a
    /// provider request's, or a settlement's for its last step); returns those still
    /// ours. The lease is counted from after the wait for a connection, so that it
    /// covers all of what follows. When the lease they already hold outlasts that by at
    /// most [`KEPT_LEASE_SLACK`] (a request right after the claim, with the default
    /// provider timeout), they keep it and nothing is written: an update of every
    /// message costs PostgreSQL as much as the claim did.
    pub async fn take(
        &self,
        db: &Db,
        ids: &[String],
        clock: RoundClock,
        lasting: TimeDelta,
    ) -> Result<Vec<String>, PersistenceError> {
        {
            let mut state = self.state.lock().await;
            let needed = clock.now() + lasting;
            if (needed..=needed + KEPT_LEASE_SLACK).contains(&state.confirmed) {
                return Ok(ids
                    .iter()
                    .filter(|id| state.ids.remove(*id))
                    .cloned()
                    .collect());
            }
        }
        let mut conn = db.conn().await?;
        let mut state = self.state.lock().await;
        for id in ids {
            state.ids.remove(id);
        }
        let now = clock.now();
        // Kept like a renewal's: the ids may hold it even if the update's answer is lost.
        state.leases.push(now + lasting);
        messages::refresh_lease(&mut conn, ids, &state.leases, now, now + lasting).await
    }

    /// Takes `ids` out of the renewal; returns every lease value they may hold, for
    /// handing them back.
    pub async fn release(&self, ids: &[String]) -> Vec<NaiveDateTime> {
        let mut state = self.state.lock().await;
        for id in ids {
            state.ids.remove(id);
        }
        state.leases.clone()
    }
}

/// Runs `work` while renewing the leases of `held` every [`RENEWAL`]; returns its output.
/// The renewal stops after `work` ends, never in the middle of an update.
pub async fn while_renewing<T>(
    db: &Db,
    held: &Held,
    clock: RoundClock,
    work: impl Future<Output = T>,
) -> T {
    let done = tokio::sync::Notify::new();
    let work = async {
        let output = work.await;
        done.notify_one();
        output
    };
    let renewals = async {
        loop {
            tokio::select! {
                () = tokio::time::sleep(RENEWAL) => {}
                () = done.notified() => return,
            }
            if let Err(error) = held.renew(db, clock).await {
                // The next renewal tries again; a lease that runs out meanwhile is lost,
                // and updates naming it no longer find its message.
                tracing::warn!(error = %error, "renewing the dispatcher's leases failed");
            }
        }
    };
    tokio::join!(work, renewals).0
}
