//! Garbage collection of a table's lake objects: partition versions, tombstone files and old
//! snapshots that nothing references any more (docs/DESIGN.md §11).
//!
//! An object is deleted only when all of these hold:
//! - the newest snapshot does not reference it, nor does the catalog (the caller passes the
//!   locations the catalog points to);
//! - it (and for a partition version, every object of its folder) is older than the grace period,
//!   so queries planned against the previous catalog state can finish, and folders of a refresh
//!   still being written are never touched;
//! - for snapshots: it is not one of the newest [`SNAPSHOTS_KEPT`].

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use serde::Serialize;
use thiserror::Error;

use crate::lake::paths::{self, TableRoot};
use crate::lake::snapshot::{PartitionState, TableSnapshot};

/// How many of the newest snapshots are always kept.
pub const SNAPSHOTS_KEPT: usize = 20;

/// What a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GarbageReport {
    /// Partition-version folders removed.
    pub folders_deleted: u64,
    /// Objects removed (data files, tombstone files, snapshots).
    pub objects_deleted: u64,
    /// Bytes removed.
    pub bytes_deleted: u64,
    /// Snapshot documents removed.
    pub snapshots_deleted: u64,
}

/// Listing or deleting failed; whatever was not deleted is collected next time.
#[derive(Debug, Error)]
#[error("garbage collection under {prefix} failed: {source}")]
pub struct GarbageError {
    /// The prefix being collected.
    pub prefix: String,
    /// The store's error.
    #[source]
    pub source: object_store::Error,
}

/// What a collection may delete, and when.
#[derive(Debug, Clone, Copy)]
pub struct GarbagePolicy<'a> {
    /// Locations (relative to the table root, like `PartitionState::location`) the catalog
    /// points to; never deleted.
    pub catalog_locations: &'a HashSet<String>,
    /// The collector's clock.
    pub now: DateTime<Utc>,
    /// Minimum age of anything deleted.
    pub grace: Duration,
}

/// Deletes the unreferenced partition versions, tombstone files and old snapshots of the table
/// at `root`, whose newest snapshot is `snapshot`.
pub async fn collect_garbage(
    store: &dyn ObjectStore,
    root: &Path,
    snapshot: &TableSnapshot,
    policy: GarbagePolicy<'_>,
) -> Result<GarbageReport, GarbageError> {
    let root = TableRoot::new(root);
    let cutoff =
        policy.now - chrono::Duration::from_std(policy.grace).unwrap_or(chrono::Duration::MAX);
    let mut report = GarbageReport::default();
    let (folders, mut doomed) =
        unreferenced_folders(store, root, snapshot, &policy, cutoff).await?;
    report.folders_deleted = folders;
    doomed.extend(unreferenced_tombstones(store, root, snapshot, cutoff).await?);
    let snapshots = old_snapshots(store, root, snapshot, cutoff).await?;
    report.snapshots_deleted = snapshots.len() as u64;
    doomed.extend(snapshots);

    report.objects_deleted = doomed.len() as u64;
    report.bytes_deleted = doomed.iter().map(|o| o.size).sum();
    let paths = futures::stream::iter(doomed.into_iter().map(|o| Ok(o.location))).boxed();
    store
        .delete_stream(paths)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|source| GarbageError {
            prefix: root.location().to_string(),
            source,
        })?;
    Ok(report)
}

/// The partition-version folders neither the snapshot nor the catalog references whose newest
/// object is older than `cutoff`: how many, and their objects.
async fn unreferenced_folders(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    snapshot: &TableSnapshot,
    policy: &GarbagePolicy<'_>,
    cutoff: DateTime<Utc>,
) -> Result<(u64, Vec<ObjectMeta>), GarbageError> {
    let referenced: HashSet<&str> = snapshot
        .partitions
        .iter()
        .flat_map(PartitionState::folders)
        .chain(policy.catalog_locations.iter().map(String::as_str))
        .collect();
    let mut folders: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for object in list(store, &root.data_dir()).await? {
        let relative = root.relative(&object.location);
        let folder = relative
            .rsplit_once('/')
            .map(|(folder, _)| folder.to_owned())
            .unwrap_or_default();
        folders.entry(folder).or_default().push(object);
    }
    let mut count = 0;
    let mut doomed = Vec::new();
    for (folder, objects) in folders {
        let newest = objects.iter().map(|o| o.last_modified).max();
        if !referenced.contains(folder.as_str()) && newest.is_some_and(|t| t < cutoff) {
            count += 1;
            doomed.extend(objects);
        }
    }
    Ok((count, doomed))
}

/// The tombstone files the snapshot does not reference, older than `cutoff`.
async fn unreferenced_tombstones(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    snapshot: &TableSnapshot,
    cutoff: DateTime<Utc>,
) -> Result<Vec<ObjectMeta>, GarbageError> {
    let live: HashSet<&str> = snapshot
        .tombstones
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    Ok(list(store, &root.tombstone_dir())
        .await?
        .into_iter()
        .filter(|object| {
            let name = object.location.filename().unwrap_or_default();
            !live.contains(name) && object.last_modified < cutoff
        })
        .collect())
}

/// The snapshot documents beyond the newest [`SNAPSHOTS_KEPT`], older than `snapshot` and than
/// `cutoff`.
async fn old_snapshots(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    snapshot: &TableSnapshot,
    cutoff: DateTime<Utc>,
) -> Result<Vec<ObjectMeta>, GarbageError> {
    let mut snapshots: Vec<(u64, ObjectMeta)> = list(store, &root.snapshot_dir())
        .await?
        .into_iter()
        .filter_map(|object| Some((paths::snapshot_version(&object.location)?, object)))
        .collect();
    snapshots.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    Ok(snapshots
        .into_iter()
        .skip(SNAPSHOTS_KEPT)
        .filter(|(version, object)| *version < snapshot.version && object.last_modified < cutoff)
        .map(|(_, object)| object)
        .collect())
}

/// Every object under `prefix`.
async fn list(store: &dyn ObjectStore, prefix: &Path) -> Result<Vec<ObjectMeta>, GarbageError> {
    store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|source| GarbageError {
            prefix: prefix.to_string(),
            source,
        })
}

#[cfg(test)]
#[path = "garbage_test.rs"]
mod tests;
