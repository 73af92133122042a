//! One refresh of a chunk's files, as the named steps of docs/DESIGN.md §11 ("One refresh"),
//! each in its own file and handing the next a typed value: the attempt recorded on the files
//! (step 4) → [`merge`] and commit (steps 5–6, [`Merged`]) → the files the merge did not apply
//! recorded ([`record`]: vanished versions superseded, deferred files released) → [`publish`] to
//! the catalog (step 7, a [`PublishReport`]) → the applied files recorded processed ([`record`],
//! step 8, [`Recorded`]) → garbage [`collect`]ion (step 9). A failed refresh clears the attempt
//! of every file.

mod collect;
mod merge;
mod publish;
mod record;

use merge::Merged;
use record::Recorded;

use super::Processor;
use super::chunk::ChunkRun;
use super::failure::{Attempt, StoreRequest};
use super::outcome::Done;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{BacklogFile, FileBacklog};
use crate::ports::processing_tracker::ProcessingTracker;
use crate::ports::table_registry::TableRegistry;
use crate::services::publisher::PublishReport;

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// One refresh of `files`: the attempt is recorded on them first (so a processor dying
    /// while applying them leaves a trace), then they are merged, published and recorded.
    pub(super) async fn apply(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<Done, Attempt> {
        let ids: Vec<String> = files.iter().map(|f| f.id.clone()).collect();
        self.backlog
            .start_attempt(run.lease, &ids, refresh_id, self.clock.now())
            .await
            .map_err(|e| Attempt::store(StoreRequest::RecordAttempt, e))?;
        let result = self.refresh(run, files, refresh_id).await;
        if result.is_err() {
            self.end_attempt(run.lease, &ids).await;
        }
        result
    }

    /// Merge → record what was not applied → publish → record what was → collect.
    async fn refresh(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<Done, Attempt> {
        let merged: Merged = self.merge(run, files, refresh_id).await?;
        let mut done = self.record_unapplied(run.lease, &merged).await?;
        let published: PublishReport = self.publish(run.config, &merged).await?;
        let recorded: Recorded = self.record_applied(run.lease, &merged, refresh_id).await?;
        if let Some(snapshot) = merged.published_snapshot() {
            self.collect(run.config, snapshot, &published, recorded.at)
                .await;
        }
        done.files = recorded.files;
        done.snapshot_version = merged.published_snapshot().map(|s| s.version);
        Ok(done)
    }
}
