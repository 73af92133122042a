//! Step 8 of a refresh, in two parts around the publish: before it, the files the merge did not
//! apply are recorded (versions that no longer exist superseded, files beyond the memory budget
//! released for the next chunk); after it, the applied files are marked processed — never
//! before their data is published (docs/DESIGN.md §11, Invariant B).

use chrono::{DateTime, Utc};
use tracing::warn;

use super::super::failure::{Attempt, StoreRequest};
use super::super::outcome::Done;
use super::super::{Processor, chrono_duration};
use super::merge::Merged;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{FileBacklog, SupersededFile};
use crate::ports::processing_tracker::{Lease, ProcessingTracker};
use crate::ports::table_registry::TableRegistry;

/// Why a file whose recorded version vanished is superseded.
const VERSION_GONE: &str = "the recorded object version no longer exists in the staging bucket (the key was overwritten or that version deleted)";

/// The applied files, as recorded.
pub(super) struct Recorded {
    /// Their tracker ids.
    pub files: Vec<String>,
    /// When they were marked processed.
    pub at: DateTime<Utc>,
}

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Records the files the merge did not apply; returns what the refresh did so far.
    pub(super) async fn record_unapplied(
        &self,
        lease: &Lease,
        merged: &Merged,
    ) -> Result<Done, Attempt> {
        let mut done = Done {
            totals: merged.totals,
            ..Done::default()
        };
        for file_id in &merged.outcome.superseded {
            let superseded = SupersededFile {
                file_id: file_id.clone(),
                reason: VERSION_GONE.to_owned(),
            };
            self.supersede(lease, &superseded, &mut done).await?;
        }
        self.end_attempt(lease, &merged.outcome.deferred).await;
        Ok(done)
    }

    /// Marks the files the snapshot holds processed, with their TTL.
    pub(super) async fn record_applied(
        &self,
        lease: &Lease,
        merged: &Merged,
        refresh_id: &str,
    ) -> Result<Recorded, Attempt> {
        let files = merged.applied_files();
        let at = self.clock.now();
        let expires_at = at + chrono_duration(self.settings.processed_file_ttl);
        self.backlog
            .mark_processed(lease, &files, refresh_id, at, expires_at)
            .await
            .map_err(|e| Attempt::store(StoreRequest::RecordProcessed, e))?;
        Ok(Recorded { files, at })
    }

    /// Clears the attempt of files no outcome was recorded for; a failure only means the next
    /// run treats them as suspects of a crash.
    pub(super) async fn end_attempt(&self, lease: &Lease, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        if let Err(e) = self.backlog.end_attempt(lease, ids).await {
            warn!(table_id = %lease.table_id, error = %e, files = ids.len(),
                "could not clear the attempt of files left pending");
        }
    }
}
