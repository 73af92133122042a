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

use crate::lake::snapshot::{DATA_DIR, SNAPSHOT_DIR, TOMBSTONE_DIR, TableSnapshot, child};

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
    let cutoff =
        policy.now - chrono::Duration::from_std(policy.grace).unwrap_or(chrono::Duration::MAX);
    let mut report = GarbageReport::default();
    let mut doomed: Vec<ObjectMeta> = Vec::new();

    let referenced: HashSet<&str> = snapshot
        .partitions
        .iter()
        .map(|p| p.location.as_str())
        .chain(policy.catalog_locations.iter().map(String::as_str))
        .collect();
    let mut folders: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for object in list(store, &child(root, DATA_DIR)).await? {
        let relative = relative_to(root, &object.location);
        let folder = relative
            .rsplit_once('/')
            .map(|(folder, _)| folder.to_owned())
            .unwrap_or_default();
        folders.entry(folder).or_default().push(object);
    }
    for (folder, objects) in folders {
        let newest = objects.iter().map(|o| o.last_modified).max();
        if !referenced.contains(folder.as_str()) && newest.is_some_and(|t| t < cutoff) {
            report.folders_deleted += 1;
            doomed.extend(objects);
        }
    }

    let tombstones: HashSet<&str> = snapshot
        .tombstones
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    for object in list(store, &child(root, TOMBSTONE_DIR)).await? {
        let name = object.location.filename().unwrap_or_default();
        if !tombstones.contains(name) && object.last_modified < cutoff {
            doomed.push(object);
        }
    }

    let mut snapshots: Vec<(u64, ObjectMeta)> = list(store, &child(root, SNAPSHOT_DIR))
        .await?
        .into_iter()
        .filter_map(|object| {
            let version = object
                .location
                .filename()?
                .strip_suffix(".json")?
                .parse::<u64>()
                .ok()?;
            Some((version, object))
        })
        .collect();
    snapshots.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    for (version, object) in snapshots.into_iter().skip(SNAPSHOTS_KEPT) {
        if version < snapshot.version && object.last_modified < cutoff {
            report.snapshots_deleted += 1;
            doomed.push(object);
        }
    }

    report.objects_deleted = doomed.len() as u64;
    report.bytes_deleted = doomed.iter().map(|o| o.size).sum();
    let paths = futures::stream::iter(doomed.into_iter().map(|o| Ok(o.location))).boxed();
    store
        .delete_stream(paths)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|source| GarbageError {
            prefix: root.to_string(),
            source,
        })?;
    Ok(report)
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

/// `path` relative to `root` (`root` itself is a prefix of every listed path).
fn relative_to(root: &Path, path: &Path) -> String {
    let root = root.as_ref();
    let path = path.as_ref();
    path.strip_prefix(root)
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(path)
        .to_owned()
}

#[cfg(test)]
#[path = "garbage_test.rs"]
mod tests;
