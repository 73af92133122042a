//! Unit tests of `garbage` on an in-memory store. Objects are stamped with the real time of their
//! put, so a collector clock well after it makes them old, the real time keeps them young.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};

use super::*;
use crate::lake::partitioning::PartitionValues;
use crate::lake::paths::{SNAPSHOT_DIR, TOMBSTONE_DIR};
use crate::lake::snapshot::{PartitionState, TombstoneFile};

const GRACE: Duration = Duration::from_secs(10 * 60);

/// A table root and its store.
struct Table {
    store: InMemory,
    root: Path,
}

impl Table {
    fn new() -> Table {
        Table {
            store: InMemory::new(),
            root: Path::from("lake/orders"),
        }
    }

    /// Writes `size` bytes at `relative` (under the root).
    async fn put(&self, relative: &str, size: usize) {
        self.store
            .put(
                &TableRoot::new(&self.root).join(relative),
                PutPayload::from(vec![7u8; size]),
            )
            .await
            .unwrap();
    }

    /// Writes snapshot documents `versions`, each `size` bytes.
    async fn put_snapshots(&self, versions: impl IntoIterator<Item = u64>, size: usize) {
        for version in versions {
            self.put(&format!("{SNAPSHOT_DIR}/{version:020}.json"), size)
                .await;
        }
    }

    /// Every object, relative to the root, sorted.
    async fn objects(&self) -> Vec<String> {
        let mut objects: Vec<String> = list(&self.store, &self.root)
            .await
            .unwrap()
            .iter()
            .map(|o| TableRoot::new(&self.root).relative(&o.location))
            .collect();
        objects.sort();
        objects
    }

    /// Collects with the catalog pointing at `catalog_locations`, with objects `old` (written
    /// long before the collector's clock) or young (just written).
    async fn collect(
        &self,
        snapshot: &TableSnapshot,
        catalog_locations: &[&str],
        old: bool,
    ) -> GarbageReport {
        let catalog_locations: HashSet<String> =
            catalog_locations.iter().map(|l| (*l).to_owned()).collect();
        let now = if old {
            Utc::now() + chrono::Duration::minutes(30)
        } else {
            Utc::now()
        };
        let policy = GarbagePolicy {
            catalog_locations: &catalog_locations,
            now,
            grace: GRACE,
        };
        collect_garbage(&self.store, &self.root, snapshot, policy)
            .await
            .unwrap()
    }
}

/// Snapshot `version` with live partitions at `locations` and these tombstone files.
fn snapshot(version: u64, locations: &[&str], tombstones: &[&str]) -> TableSnapshot {
    TableSnapshot {
        version,
        partitions: locations
            .iter()
            .map(|location| PartitionState {
                values: PartitionValues(Vec::new()),
                location: (*location).to_owned(),
                files: Vec::new(),
            })
            .collect(),
        tombstones: tombstones
            .iter()
            .map(|name| TombstoneFile {
                name: (*name).to_owned(),
                created_at: Utc::now(),
                rows: 1,
                size: 1,
                key_ranges: None,
            })
            .collect(),
        ..TableSnapshot::empty("sales.orders")
    }
}

const OLD_VERSION: &str = "data/region=eu/v0000000001-r1";
const LIVE_VERSION: &str = "data/region=eu/v0000000002-r2";

/// A table with two files (100 and 50 bytes) in [`OLD_VERSION`] and one in [`LIVE_VERSION`].
async fn two_versions() -> Table {
    let table = Table::new();
    table
        .put(&format!("{OLD_VERSION}/part-0.parquet"), 100)
        .await;
    table
        .put(&format!("{OLD_VERSION}/part-1.parquet"), 50)
        .await;
    table
        .put(&format!("{LIVE_VERSION}/part-0.parquet"), 70)
        .await;
    table
}

#[tokio::test]
async fn an_old_unreferenced_folder_is_deleted_with_all_its_objects() {
    let table = two_versions().await;
    let report = table
        .collect(&snapshot(2, &[LIVE_VERSION], &[]), &[], true)
        .await;
    assert_eq!(
        table.objects().await,
        [format!("{LIVE_VERSION}/part-0.parquet")]
    );
    assert_eq!(
        report,
        GarbageReport {
            folders_deleted: 1,
            objects_deleted: 2,
            bytes_deleted: 150,
            snapshots_deleted: 0,
        }
    );
}

#[tokio::test]
async fn a_folder_the_snapshot_references_is_kept() {
    let table = two_versions().await;
    let report = table
        .collect(&snapshot(2, &[OLD_VERSION, LIVE_VERSION], &[]), &[], true)
        .await;
    assert_eq!(report, GarbageReport::default());
    assert_eq!(table.objects().await.len(), 3);
}

#[tokio::test]
async fn a_folder_only_the_catalog_references_is_kept() {
    let table = two_versions().await;
    let report = table
        .collect(&snapshot(2, &[LIVE_VERSION], &[]), &[OLD_VERSION], true)
        .await;
    assert_eq!(report, GarbageReport::default());
    assert_eq!(table.objects().await.len(), 3);
}

#[tokio::test]
async fn a_young_unreferenced_folder_is_kept_until_the_grace_has_passed() {
    let table = two_versions().await;
    let snapshot = snapshot(2, &[LIVE_VERSION], &[]);
    let report = table.collect(&snapshot, &[], false).await;
    assert_eq!(report, GarbageReport::default());
    assert_eq!(table.objects().await.len(), 3);

    let report = table.collect(&snapshot, &[], true).await;
    assert_eq!(report.folders_deleted, 1);
}

#[tokio::test]
async fn old_unreferenced_tombstone_files_are_deleted_and_referenced_ones_kept() {
    let table = Table::new();
    table
        .put(&format!("{TOMBSTONE_DIR}/t-r1.parquet"), 30)
        .await;
    table
        .put(&format!("{TOMBSTONE_DIR}/t-r2.parquet"), 40)
        .await;
    let snapshot = snapshot(2, &[], &["t-r2.parquet"]);

    let report = table.collect(&snapshot, &[], false).await;
    assert_eq!(report.objects_deleted, 0, "young tombstones are kept");

    let report = table.collect(&snapshot, &[], true).await;
    assert_eq!(
        table.objects().await,
        [format!("{TOMBSTONE_DIR}/t-r2.parquet")]
    );
    assert_eq!((report.objects_deleted, report.bytes_deleted), (1, 30));
    assert_eq!(report.folders_deleted, 0);
}

/// The snapshot versions left after collecting 25 documents (versions 1-25, 10 bytes each) as
/// snapshot `current`, with old or young objects.
async fn snapshots_left(current: u64, old: bool) -> (Vec<u64>, GarbageReport) {
    let table = Table::new();
    table.put_snapshots(1..=25, 10).await;
    let report = table.collect(&snapshot(current, &[], &[]), &[], old).await;
    let versions = table
        .objects()
        .await
        .iter()
        .map(|o| {
            o.strip_prefix(&format!("{SNAPSHOT_DIR}/"))
                .and_then(|name| name.strip_suffix(".json"))
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    (versions, report)
}

#[tokio::test]
async fn only_the_newest_snapshots_are_kept_once_old() {
    let (versions, report) = snapshots_left(25, true).await;
    assert_eq!(versions, (6..=25).collect::<Vec<u64>>());
    assert_eq!(versions.len(), SNAPSHOTS_KEPT);
    assert_eq!(
        report,
        GarbageReport {
            folders_deleted: 0,
            objects_deleted: 5,
            bytes_deleted: 50,
            snapshots_deleted: 5,
        }
    );
}

#[tokio::test]
async fn young_snapshots_are_all_kept() {
    let (versions, report) = snapshots_left(25, false).await;
    assert_eq!(versions.len(), 25);
    assert_eq!(report.snapshots_deleted, 0);
}

#[tokio::test]
async fn snapshots_from_the_collectors_own_version_on_are_never_deleted() {
    // A collector holding snapshot 3 while 4-25 were committed by others removes only 1 and 2.
    let (versions, report) = snapshots_left(3, true).await;
    assert_eq!(versions, (3..=25).collect::<Vec<u64>>());
    assert_eq!(report.snapshots_deleted, 2);
}

#[tokio::test]
async fn the_byte_count_is_the_size_of_every_deleted_object() {
    let table = two_versions().await;
    table
        .put(&format!("{TOMBSTONE_DIR}/t-r1.parquet"), 30)
        .await;
    table
        .put_snapshots(1..=(SNAPSHOTS_KEPT as u64 + 2), 1_000)
        .await;
    let current = SNAPSHOTS_KEPT as u64 + 2;
    let report = table
        .collect(&snapshot(current, &[LIVE_VERSION], &[]), &[], true)
        .await;
    // Folder: 100 + 50; tombstone: 30; the two oldest snapshots: 2 × 1,000.
    assert_eq!(report.bytes_deleted, 100 + 50 + 30 + 2 * 1_000);
    assert_eq!(report.objects_deleted, 5);
    assert_eq!(
        table.objects().await.len(),
        1 + SNAPSHOTS_KEPT,
        "the live file and the kept snapshots"
    );
}
