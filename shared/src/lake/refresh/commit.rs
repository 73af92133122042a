//! The commit point: the next snapshot names every live partition version, the tombstones and
//! applied DMS files within the retention, and the schema; the commit guard is asked, then the
//! snapshot is created with a create-only put, so a lost race commits nothing (docs/DESIGN.md
//! §8).

use super::error::MergeError;
use super::write::Written;
use super::{Commit, CommitGuard, RefreshContext};
use crate::lake::paths::Attempt;
use crate::lake::snapshot::{self, AppliedFile, TableSnapshot, TombstoneFile};

/// A committed refresh: the table's new state and what the caller publishes and records.
pub(super) struct Committed {
    /// The new snapshot.
    pub(super) snapshot: TableSnapshot,
    /// What it changed.
    pub(super) commit: Commit,
}

/// What a refresh commits.
pub(super) struct Commitment<'c> {
    /// The written partition versions and tombstones.
    pub(super) written: Written,
    /// The attempt (its version is the snapshot's).
    pub(super) attempt: Attempt<'c>,
    /// Tracker ids of the DMS files applied.
    pub(super) applied: Vec<String>,
    /// Asked right before the commit point, when set.
    pub(super) guard: Option<&'c dyn CommitGuard>,
}

/// Commits the next snapshot, if the guard allows it.
pub(super) async fn commit(
    context: RefreshContext<'_>,
    commitment: Commitment<'_>,
) -> Result<Committed, MergeError> {
    let Commitment {
        written,
        attempt,
        applied,
        guard,
    } = commitment;
    let next = TableSnapshot {
        format: snapshot::SNAPSHOT_FORMAT,
        table_id: context.config.table_id(),
        version: attempt.version,
        table_format: context.config.format,
        refresh_id: Some(attempt.refresh_id.to_owned()),
        committed_at: Some(context.now),
        columns: context.layout.columns.clone(),
        partitions: written.partitions,
        tombstones: retained_tombstones(context, written.tombstone),
        applied_files: retained_applied_files(context, attempt, &applied),
    };
    if let Some(guard) = guard {
        guard.confirm().await.map_err(MergeError::CommitRefused)?;
    }
    let snapshot_path = snapshot::commit(&**context.lake, &context.config.location, &next).await?;
    let commit = Commit {
        version: attempt.version,
        snapshot_path,
        partitions_written: written.written,
        partitions_dropped: written.dropped,
        replaced_locations: written.replaced,
        schema_changed: context.layout.schema_changed,
        applied_files: applied,
    };
    Ok(Committed {
        snapshot: next,
        commit,
    })
}

/// The previous snapshot's tombstone files within the retention, and the refresh's new one.
fn retained_tombstones(
    context: RefreshContext<'_>,
    new: Option<TombstoneFile>,
) -> Vec<TombstoneFile> {
    context.live_tombstones().cloned().chain(new).collect()
}

/// The previous snapshot's applied files within the retention, and those of this refresh.
fn retained_applied_files(
    context: RefreshContext<'_>,
    attempt: Attempt<'_>,
    applied: &[String],
) -> Vec<AppliedFile> {
    let start = context.retention_start();
    context
        .previous
        .applied_files
        .iter()
        .filter(|f| f.applied_at >= start)
        .cloned()
        .chain(applied.iter().map(|id| AppliedFile {
            id: id.clone(),
            refresh_id: attempt.refresh_id.to_owned(),
            applied_at: context.now,
        }))
        .collect()
}
