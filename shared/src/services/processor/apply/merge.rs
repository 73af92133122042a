//! Step 5–6 of a refresh: the merge engine applies the files into new partition folders and
//! commits a snapshot, confirming the lease right before the commit point.

use object_store::path::Path;
use tracing::info;

use super::super::Processor;
use super::super::chunk::ChunkRun;
use super::super::failure::{Attempt, Cause, Failure};
use super::super::lease::LeaseGuard;
use crate::lake::dms_reader::RecordedVersion;
use crate::lake::refresh::{self, PendingFile, RefreshOutcome, RefreshRequest};
use crate::lake::snapshot::TableSnapshot;
use crate::ports::catalog::Catalog;
use crate::ports::file_tracker::{BacklogFile, FileBacklog};
use crate::ports::processing_tracker::{ProcessingTracker, RefreshTotals};
use crate::ports::table_registry::TableRegistry;

/// What the merge did, for the next steps.
pub(super) struct Merged {
    /// The engine's result: the table's newest snapshot, the commit, and the files it did not
    /// apply.
    pub outcome: RefreshOutcome,
    /// What the commit counts.
    pub totals: RefreshTotals,
}

impl Merged {
    /// The snapshot to publish and collect around: the table's newest, unless it has none yet.
    pub fn published_snapshot(&self) -> Option<&TableSnapshot> {
        (self.outcome.snapshot.version > 0).then_some(&self.outcome.snapshot)
    }

    /// Tracker ids of the files the snapshot holds now: applied by this commit, or found
    /// applied by an earlier one.
    pub fn applied_files(&self) -> Vec<String> {
        let mut applied: Vec<String> = self
            .outcome
            .commit
            .as_ref()
            .map(|c| c.applied_files.clone())
            .unwrap_or_default();
        applied.extend(self.outcome.already_applied.iter().cloned());
        applied
    }
}

impl<R: TableRegistry, T: ProcessingTracker, B: FileBacklog, C: Catalog> Processor<R, T, B, C> {
    /// Runs the merge engine over `files`, committing under the lease.
    pub(super) async fn merge(
        &self,
        run: &ChunkRun<'_>,
        files: &[BacklogFile],
        refresh_id: &str,
    ) -> Result<Merged, Attempt> {
        let pending = pending_files(files)?;
        let guard = LeaseGuard::new(&self.tracker, run.lease, run.expires_at);
        let request = RefreshRequest {
            config: run.config,
            pending: &pending,
            refresh_id,
            now: self.clock.now(),
            commit_guard: Some(&guard),
            max_input_bytes: self.settings.backlog_limit.max_bytes,
        };
        let outcome = refresh::refresh(&self.stores, request)
            .await
            .map_err(|e| Attempt::merge(e, files, guard.lost()))?;
        log_merge(&run.lease.table_id, refresh_id, &outcome);
        Ok(Merged {
            totals: totals(&outcome, files),
            outcome,
        })
    }
}

/// The engine's view of `files`; a key that is no object path is its file's fault.
fn pending_files(files: &[BacklogFile]) -> Result<Vec<PendingFile>, Attempt> {
    let mut pending = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let path = Path::parse(&file.key).map_err(|source| Attempt {
            failure: Failure::BadStagingKey {
                key: file.key.clone(),
                source,
            },
            cause: Cause::File(index),
        })?;
        pending.push(PendingFile {
            id: file.id.clone(),
            path,
            kind: file.kind,
            format: file.format,
            order_key: file.order_key.clone(),
            version: recorded_version(file),
        });
    }
    Ok(pending)
}

/// The object version a tracker item recorded.
fn recorded_version(file: &BacklogFile) -> RecordedVersion {
    match (&file.version_id, &file.etag) {
        (Some(version), _) => RecordedVersion::VersionId(version.clone()),
        (None, Some(etag)) => RecordedVersion::ETag(etag.clone()),
        (None, None) => RecordedVersion::Current,
    }
}

/// Logs what the merge committed, found applied, and left for later.
fn log_merge(table_id: &str, refresh_id: &str, outcome: &RefreshOutcome) {
    if let Some(commit) = &outcome.commit {
        info!(
            table_id,
            refresh_id,
            version = commit.version,
            partitions = commit.partitions_written.len(),
            "committed a lake snapshot"
        );
    }
    if !outcome.already_applied.is_empty() {
        info!(
            table_id,
            refresh_id,
            files = outcome.already_applied.len(),
            "files were already in the lake snapshot (an earlier run committed them); publishing and recording them"
        );
    }
    if !outcome.deferred.is_empty() {
        info!(
            table_id,
            refresh_id,
            files = outcome.deferred.len(),
            "the refresh's memory budget is spent; later files wait for the next refresh"
        );
    }
}

/// What a merge outcome counts.
fn totals(outcome: &RefreshOutcome, files: &[BacklogFile]) -> RefreshTotals {
    let Some(commit) = &outcome.commit else {
        return RefreshTotals::default();
    };
    let bytes_read = files
        .iter()
        .filter(|f| commit.applied_files.contains(&f.id))
        .map(|f| f.size.unwrap_or(0))
        .sum();
    RefreshTotals {
        files: commit.applied_files.len() as u64,
        inserted: outcome.counts.inserted,
        updated: outcome.counts.updated,
        deleted: outcome.counts.deleted,
        ignored: outcome.counts.ignored,
        superseded: outcome.counts.superseded,
        files_superseded: 0,
        bytes_read,
        bytes_written: outcome.io.bytes_written,
        partitions_rewritten: (commit.partitions_written.len() + commit.partitions_dropped.len())
            as u64,
    }
}
