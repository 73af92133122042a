//! Garbage collection of a table's lake objects: partition versions, data files, Iceberg metadata
//! files, tombstone files and old snapshots that nothing references any more (docs/DESIGN.md §11,
//! §15).
//!
//! An object is deleted only when all of these hold:
//! - the newest snapshot does not reference it, nor does the catalog: for a Hive table the
//!   caller passes the locations the catalog's partitions point to, and a partition-version
//!   folder is kept or deleted whole; for an Iceberg table the caller passes every object the
//!   table's retained Iceberg snapshots and metadata log reference (including the current
//!   metadata file), and data files are kept or deleted one by one (a folder may hold files a
//!   retained snapshot still needs next to files only expired ones did) — without those
//!   references, nothing of an Iceberg table's data or metadata is deleted;
//! - it (and for a data file, every object of its folder) is older than the grace period, so
//!   queries planned against the previous catalog state can finish, folders of a refresh still
//!   being written are never touched, and a metadata file a concurrent publisher is about to
//!   commit is left alone;
//! - for snapshots: it is not one of the newest [`SNAPSHOTS_KEPT`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use serde::Serialize;
use thiserror::Error;

use crate::lake::paths::{self, TableRoot};
use crate::lake::snapshot::{PartitionState, TableSnapshot};
use crate::lake::table_config::TableFormat;

/// How many of the newest snapshots are always kept.
pub const SNAPSHOTS_KEPT: usize = 20;

/// What a collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GarbageReport {
    /// Partition-version folders removed (every object of the folder deleted).
    pub folders_deleted: u64,
    /// Objects removed (data files, Iceberg metadata files, tombstone files, snapshots).
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
    /// Locations (relative to the table root, like `PartitionState::location`) the catalog's
    /// partitions point to (Hive tables); never deleted.
    pub catalog_locations: &'a HashSet<String>,
    /// Every object an Iceberg table's retained snapshots and metadata log reference
    /// (`iceberg::retention::referenced_files`, read when publishing); never deleted. `None`
    /// leaves an Iceberg table's data and metadata files alone.
    pub iceberg_references: Option<&'a BTreeSet<Path>>,
    /// The collector's clock.
    pub now: DateTime<Utc>,
    /// Minimum age of anything deleted.
    pub grace: Duration,
}

/// Deletes the unreferenced partition versions or data files, Iceberg metadata files, tombstone
/// files and old snapshots of the table at `root`, whose newest snapshot is `snapshot`.
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
    let (folders, mut doomed) = unreferenced_files(store, root, snapshot, &policy, cutoff).await?;
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

/// The data and Iceberg metadata objects older than `cutoff` nothing references: how many
/// partition-version folders lose every object, and the objects.
async fn unreferenced_files(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    snapshot: &TableSnapshot,
    policy: &GarbagePolicy<'_>,
    cutoff: DateTime<Utc>,
) -> Result<(u64, Vec<ObjectMeta>), GarbageError> {
    match (snapshot.table_format, policy.iceberg_references) {
        (TableFormat::Hive, _) => {
            let referenced = referenced_folders(snapshot, policy.catalog_locations);
            unreferenced_data(store, root, cutoff, |folder, _| referenced.contains(folder)).await
        }
        (TableFormat::Iceberg, Some(references)) => {
            let live = live_files(root, snapshot);
            let (folders, mut doomed) = unreferenced_data(store, root, cutoff, |_, object| {
                live.contains(&object.location) || references.contains(&object.location)
            })
            .await?;
            doomed.extend(unreferenced_metadata(store, root, references, cutoff).await?);
            Ok((folders, doomed))
        }
        (TableFormat::Iceberg, None) => Ok((0, Vec::new())),
    }
}

/// The folders (relative to the root) the snapshot or the catalog references.
fn referenced_folders<'a>(
    snapshot: &'a TableSnapshot,
    catalog_locations: &'a HashSet<String>,
) -> HashSet<&'a str> {
    snapshot
        .partitions
        .iter()
        .flat_map(PartitionState::folders)
        .chain(catalog_locations.iter().map(String::as_str))
        .collect()
}

/// Every data file the snapshot lists, wherever it lives.
fn live_files(root: TableRoot<'_>, snapshot: &TableSnapshot) -> HashSet<Path> {
    snapshot
        .partitions
        .iter()
        .flat_map(|partition| {
            partition
                .files
                .iter()
                .map(move |file| root.data_file(partition.folder_of(file), &file.name))
        })
        .collect()
}

/// The data objects `kept` (given their folder relative to the root, and the object) does not
/// keep, in folders whose newest object is older than `cutoff`: how many folders lose every
/// object, and the objects.
async fn unreferenced_data(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    cutoff: DateTime<Utc>,
    kept: impl Fn(&str, &ObjectMeta) -> bool,
) -> Result<(u64, Vec<ObjectMeta>), GarbageError> {
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
        if newest.is_none_or(|t| t >= cutoff) {
            continue;
        }
        let (referenced, unreferenced): (Vec<_>, Vec<_>) =
            objects.into_iter().partition(|o| kept(&folder, o));
        if referenced.is_empty() {
            count += 1;
        }
        doomed.extend(unreferenced);
    }
    Ok((count, doomed))
}

/// The Iceberg metadata files (metadata JSON, manifests, manifest lists) `references` does not
/// hold, older than `cutoff`.
async fn unreferenced_metadata(
    store: &dyn ObjectStore,
    root: TableRoot<'_>,
    references: &BTreeSet<Path>,
    cutoff: DateTime<Utc>,
) -> Result<Vec<ObjectMeta>, GarbageError> {
    Ok(list(store, &root.iceberg_metadata_dir())
        .await?
        .into_iter()
        .filter(|object| !references.contains(&object.location) && object.last_modified < cutoff)
        .collect())
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
