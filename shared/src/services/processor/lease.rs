//! A table's lease (docs/DESIGN.md §11, "Leases and fencing"): taken before the table's first
//! chunk, confirmed right before each lake commit point, released with the table's last outcome.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tracing::{info, warn};

use super::failure::NotRun;
use super::{Invocation, Processor};
use crate::lake::refresh::CommitGuard;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::FileBacklog;
use crate::ports::processing_tracker::{Lease, LeaseGrant, ProcessingTracker, RefreshRecord};
use crate::ports::state_store::StoreError;
use crate::ports::table_registry::TableRegistry;

/// Confirms the lease right before the lake commit point, remembering when it was lost.
pub(super) struct LeaseGuard<'a, T> {
    tracker: &'a T,
    lease: &'a Lease,
    expires_at: DateTime<Utc>,
    lost: AtomicBool,
}

impl<'a, T> LeaseGuard<'a, T> {
    /// A guard of `lease`, extending it to `expires_at` when it confirms it.
    pub(super) fn new(tracker: &'a T, lease: &'a Lease, expires_at: DateTime<Utc>) -> Self {
        LeaseGuard {
            tracker,
            lease,
            expires_at,
            lost: AtomicBool::new(false),
        }
    }

    /// Whether a confirmation found the lease taken over.
    pub(super) fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl<T: ProcessingTracker> CommitGuard for LeaseGuard<'_, T> {
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.tracker
                .confirm(self.lease, self.expires_at)
                .await
                .map_err(|e| {
                    if matches!(e, StoreError::LeaseLost { .. }) {
                        self.lost.store(true, Ordering::SeqCst);
                    }
                    e.to_string()
                })
        })
    }
}

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// When a lease taken now expires: the invocation's deadline plus the slack, so it outlives
    /// its holder.
    pub(super) fn lease_expiry(&self, invocation: &Invocation) -> DateTime<Utc> {
        invocation.deadline
            + chrono::Duration::from_std(self.settings.lease_slack)
                .unwrap_or(chrono::Duration::zero())
    }

    /// The table's lease, or why the table is not run: another processor holds it (`busy`), or
    /// it could not be asked for.
    pub(super) async fn take_lease(
        &self,
        table_id: &str,
        invocation: &Invocation,
        started: DateTime<Utc>,
    ) -> Result<Lease, NotRun> {
        let expires_at = self.lease_expiry(invocation);
        let grant = self
            .tracker
            .acquire(table_id, &invocation.request_id, started, expires_at)
            .await
            .map_err(NotRun::LeaseUnavailable)?;
        match grant {
            LeaseGrant::Acquired {
                lease,
                took_over_from,
            } => {
                if let Some(previous) = took_over_from {
                    warn!(table_id, previous_owner = %previous, token = lease.token,
                        "took over an expired lease; its holder crashed or timed out");
                }
                Ok(lease)
            }
            LeaseGrant::Busy { owner, expires_at } => {
                info!(table_id, holder = %owner, %expires_at, "table busy; skipped");
                Err(NotRun::Busy { owner, expires_at })
            }
        }
    }

    /// Releases the lease with the table's last history item; a failure only means the lease
    /// lapses at its expiry.
    pub(super) async fn release(&self, lease: &Lease, last: &RefreshRecord) {
        if let Err(e) = self.tracker.release(lease, last).await {
            warn!(table_id = %lease.table_id, error = %e,
                "could not release the lease; it lapses at its expiry");
        }
    }
}
