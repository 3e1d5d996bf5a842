//! The hand-over gate: a deactivation waits for hand-overs in flight, and no hand-over
//! starts once it has committed.
//!
//! A hand-over enters the gate of its organization before it calls the provider and
//! checks, inside the gate, that the provider is still active. A deactivation closes the
//! gate before its transaction and keeps it closed until it commits. In one process an
//! async read/write lock per organization does this; across PostgreSQL replicas the
//! hand-over also holds a `FOR SHARE` lock on the integration row, which the
//! deactivation's `UPDATE` waits for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nextal_domain::ProviderKind;
use nextal_persistence::repo::integrations::{self, Integration};
use nextal_persistence::{Backend, Db, PersistenceError, Tx};
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// One lock per organization that has sent in this process.
#[derive(Default)]
pub struct HandoverGates {
    locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// Held while a hand-over talks to the provider.
pub struct OpenGate {
    _local: OwnedRwLockReadGuard<()>,
    /// PostgreSQL: the transaction holding `FOR SHARE` on the integration row.
    shared_row: Option<Tx>,
}

impl OpenGate {
    /// Leaves the gate.
    pub async fn close(self) {
        if let Some(tx) = self.shared_row {
            // Nothing was written; rolling back returns the connection to the pool.
            let _ = tx.rollback().await;
        }
    }
}

impl HandoverGates {
    fn lock_for(&self, organization_id: &str) -> Arc<RwLock<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.entry(organization_id.to_owned()).or_default().clone()
    }

    /// Enters the organization's gate for a hand-over through `provider`. `None` when the
    /// provider is no longer active (the integration row is returned otherwise, read
    /// inside the gate).
    pub async fn enter(
        &self,
        db: &Db,
        organization_id: &str,
        provider: ProviderKind,
    ) -> Result<Option<(OpenGate, Integration)>, PersistenceError> {
        let local = self.lock_for(organization_id).read_owned().await;
        let (row, shared_row) = match db.backend() {
            Backend::Postgres => {
                let mut tx = db.begin().await?;
                let row =
                    integrations::find_active_for_handover(&mut tx, organization_id, provider)
                        .await?;
                if row.is_none() {
                    tx.rollback().await?;
                    return Ok(None);
                }
                (row, Some(tx))
            }
            // SQLite is one process: the local lock is the whole gate.
            Backend::Sqlite => {
                let mut conn = db.conn().await?;
                let row =
                    integrations::find_active_for_handover(&mut conn, organization_id, provider)
                        .await?;
                (row, None)
            }
        };
        Ok(row.map(|row| {
            (
                OpenGate {
                    _local: local,
                    shared_row,
                },
                row,
            )
        }))
    }

    /// Closes the organization's gate: waits for this process's hand-overs in flight and
    /// keeps new ones out until the guard is dropped (after the deactivation commits).
    pub async fn close(&self, organization_id: &str) -> OwnedRwLockWriteGuard<()> {
        self.lock_for(organization_id).write_owned().await
    }
}
