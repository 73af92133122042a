//! Unit tests of `garbage` on an in-memory store. Objects are stamped with the real time of their
//! put, so a collector clock well after it makes them old, the real time keeps them young.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};

use super::*;
use crate::lake::partitioning::PartitionValues;
use crate::lake::paths::{SNAPSHOT_DIR, TOMBSTONE_DIR};
use crate::lake::snapshot::{DataFile, PartitionState, TombstoneFile};

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
            iceberg_references: None,
            now,
            grace: GRACE,
        };
        collect_garbage(&self.store, &self.root, snapshot, policy)
            .await
            .unwrap()
    }

    /// Collects the Iceberg table whose retained snapshots reference `references` (relative to
    /// the root; `None`: references unknown), with objects `old` or young.
    async fn collect_iceberg(
        &self,
        snapshot: &TableSnapshot,
        references: Option<&[&str]>,
        old: bool,
    ) -> GarbageReport {
        let root = TableRoot::new(&self.root);
        let references: Option<BTreeSet<Path>> =
            references.map(|r| r.iter().map(|relative| root.join(relative)).collect());
        let now = if old {
            Utc::now() + chrono::Duration::minutes(30)
        } else {
            Utc::now()
        };
        let policy = GarbagePolicy {
            catalog_locations: &HashSet::new(),
            iceberg_references: references.as_ref(),
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

// ---- Iceberg tables: file by file, metadata included ----------------------------------------

/// An Iceberg table's newest snapshot, its live files `(folder, name)`.
fn iceberg_snapshot(version: u64, live: &[(&str, &str)]) -> TableSnapshot {
    TableSnapshot {
        version,
        table_format: TableFormat::Iceberg,
        partitions: live
            .iter()
            .map(|(folder, name)| PartitionState {
                values: PartitionValues(Vec::new()),
                location: (*folder).to_owned(),
                files: vec![DataFile {
                    name: (*name).to_owned(),
                    size: 1,
                    rows: 1,
                    key_ranges: None,
                    folder: None,
                }],
            })
            .collect(),
        ..TableSnapshot::empty("sales.orders")
    }
}

const METADATA_1: &str = "metadata/00001-a.metadata.json";
const METADATA_2: &str = "metadata/00002-b.metadata.json";
const MANIFEST_LIST_1: &str = "metadata/snap-1-0-a.avro";
const MANIFEST_LIST_2: &str = "metadata/snap-2-0-b.avro";

/// An Iceberg table: in [`OLD_VERSION`] a file only an expired snapshot referenced (part-0,
/// 100 bytes) beside one a retained snapshot still needs (part-1); the newest file in
/// [`LIVE_VERSION`]; two metadata files and manifest lists (version 1's expired, 10 bytes each).
async fn iceberg_table() -> Table {
    let table = two_versions().await;
    for metadata in [METADATA_1, METADATA_2, MANIFEST_LIST_1, MANIFEST_LIST_2] {
        table.put(metadata, 10).await;
    }
    table
}

/// What the retained state of [`iceberg_table`] references: version 2's metadata (and version
/// 1's, in its metadata log), version 2's manifest list and both live files.
const RETAINED: [&str; 5] = [
    METADATA_1,
    METADATA_2,
    MANIFEST_LIST_2,
    "data/region=eu/v0000000001-r1/part-1.parquet",
    "data/region=eu/v0000000002-r2/part-0.parquet",
];

#[tokio::test]
async fn an_iceberg_file_only_expired_snapshots_referenced_is_deleted_beside_a_retained_one() {
    let table = iceberg_table().await;
    let newest = iceberg_snapshot(2, &[(LIVE_VERSION, "part-0.parquet")]);
    let report = table.collect_iceberg(&newest, Some(&RETAINED), true).await;
    let mut left = RETAINED.map(str::to_owned).to_vec();
    left.sort();
    assert_eq!(table.objects().await, left);
    assert_eq!(
        report,
        GarbageReport {
            folders_deleted: 0,
            objects_deleted: 2,
            bytes_deleted: 100 + 10,
            snapshots_deleted: 0,
        },
        "part-0 of the old folder and version 1's manifest list"
    );
}

#[tokio::test]
async fn iceberg_files_the_newest_snapshot_lists_are_kept_even_unknown_to_the_references() {
    let table = iceberg_table().await;
    let newest = iceberg_snapshot(2, &[(LIVE_VERSION, "part-0.parquet")]);
    let report = table
        .collect_iceberg(&newest, Some(&[METADATA_2]), true)
        .await;
    assert!(
        table
            .objects()
            .await
            .contains(&format!("{LIVE_VERSION}/part-0.parquet"))
    );
    assert_eq!(report.folders_deleted, 1, "the old folder lost every file");
}

#[tokio::test]
async fn young_unreferenced_iceberg_files_are_kept_until_the_grace_has_passed() {
    // A metadata file a concurrent publisher wrote but has not committed yet looks exactly like
    // this: unreferenced and young.
    let table = iceberg_table().await;
    let newest = iceberg_snapshot(2, &[(LIVE_VERSION, "part-0.parquet")]);
    let report = table.collect_iceberg(&newest, Some(&RETAINED), false).await;
    assert_eq!(report, GarbageReport::default());
    assert_eq!(table.objects().await.len(), 7);
}

#[tokio::test]
async fn an_iceberg_table_whose_references_are_unknown_keeps_its_data_and_metadata() {
    let table = iceberg_table().await;
    let newest = iceberg_snapshot(2, &[(LIVE_VERSION, "part-0.parquet")]);
    let report = table.collect_iceberg(&newest, None, true).await;
    assert_eq!(report, GarbageReport::default());
    assert_eq!(table.objects().await.len(), 7);
}

// ---- An Iceberg table published past its time-travel window ---------------------------------

mod published {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use chrono::Utc;
    use iceberg::spec::TableMetadata;
    use object_store::path::Path;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::GRACE;
    use crate::lake::garbage::{GarbagePolicy, collect_garbage, list};
    use crate::lake::iceberg::metadata_io::MetadataStore;
    use crate::lake::iceberg::retention::referenced_files;
    use crate::lake::paths::TableRoot;
    use crate::lake::test_support::Lake;
    use crate::ports::memory::catalog::MemoryCatalog;
    use crate::services::publisher::PublishReport;
    use crate::services::publisher::iceberg::{
        IcebergPublication, METADATA_LOCATION_PARAMETER, publish_iceberg,
    };

    const LAKE_URL: &str = "s3://lake-bucket";

    /// Keyed by `id`, partitioned by region; snapshots kept no longer than the newest 5.
    const ORDERS: &str = r#"{
      "source": {"schema": "sales", "table": "orders"},
      "target": {"database": "lake", "table": "orders", "location": "lake/orders", "format": "iceberg"},
      "primary_key": ["id"],
      "ordering": {"commit_timestamp_column": "ts"},
      "partition_by": ["identity(region)"],
      "time_travel_days": 0,
      "input": {"columns": [
        {"name": "id", "type": "bigint"},
        {"name": "region", "type": "string"},
        {"name": "amount", "type": "decimal(10,2)"},
        {"name": "ts", "type": "timestamp"}
      ]}
    }"#;

    /// Publishes the lake's newest snapshot at the lake's clock, as the processor's step 7 does.
    async fn publish(catalog: &MemoryCatalog, lake: &Lake) -> PublishReport {
        let snapshot = lake.snapshot().await;
        let publication = IcebergPublication {
            lake: Arc::clone(&lake.stores.lake),
            lake_url: LAKE_URL,
            config: &lake.config,
            snapshot: &snapshot,
            rows: None,
            now: lake.now,
        };
        publish_iceberg(catalog, &publication).await.unwrap()
    }

    /// The catalog's current metadata file and its metadata.
    async fn current(catalog: &MemoryCatalog, io: &MetadataStore) -> (String, TableMetadata) {
        let table = catalog.table_of("lake", "orders").unwrap();
        let location = table.parameters[METADATA_LOCATION_PARAMETER].clone();
        let metadata = io.read_metadata(&location).await.unwrap();
        (location, metadata)
    }

    fn data_files(paths: &BTreeSet<Path>) -> impl Iterator<Item = &Path> {
        paths.iter().filter(|p| p.as_ref().contains("/data/"))
    }

    #[tokio::test]
    async fn after_expiry_only_files_no_retained_iceberg_snapshot_needs_are_collected() {
        let mut lake = Lake::new(ORDERS);
        let catalog = MemoryCatalog::default();
        let io = MetadataStore::new(Arc::clone(&lake.stores.lake), LAKE_URL);
        let load = lake
            .stage(
                "LOAD00000001.csv",
                "1,eu,1.00,2024-01-01 00:00:00\n2,us,2.00,2024-01-01 00:00:00\n",
            )
            .await;
        lake.refresh(&[load]).await.unwrap();
        let first = publish(&catalog, &lake).await.iceberg_references.unwrap();
        let mut ever = first.clone();
        // Six more versions, each rewriting region eu only: us's file stays referenced.
        let mut report = PublishReport::default();
        for round in 2..=7 {
            let name = format!("2024010{round}-000000000.csv");
            let change = format!("U,1,eu,{round}.00,2024-01-0{round} 00:00:00\n");
            let cdc = lake.stage(&name, change).await;
            lake.refresh(&[cdc]).await.unwrap();
            report = publish(&catalog, &lake).await;
            ever.extend(report.iceberg_references.clone().unwrap());
        }
        let retained = report.iceberg_references.clone().unwrap();
        let (location, metadata) = current(&catalog, &io).await;
        assert_eq!(metadata.snapshots().count(), 5, "versions 1 and 2 expired");
        let expired_only: BTreeSet<&Path> = ever.difference(&retained).collect();
        assert_eq!(
            data_files(&first).filter(|p| !retained.contains(p)).count(),
            1,
            "version 1's eu file is referenced by expired snapshots only"
        );
        let kept_from_first: Vec<&Path> = data_files(&first)
            .filter(|p| retained.contains(p))
            .collect();
        assert_eq!(
            kept_from_first.len(),
            1,
            "version 1's us file is still live"
        );
        assert!(
            expired_only
                .iter()
                .any(|p| p.as_ref().contains("/metadata/")),
            "expired snapshots' manifest lists"
        );

        lake.age_lake_objects(std::time::Duration::from_secs(3600));
        let root = TableRoot::new(&lake.config.location);
        let uncommitted = root.join("metadata/00099-uncommitted.metadata.json");
        lake.stores
            .lake
            .put(&uncommitted, PutPayload::from_static(b"{}"))
            .await
            .unwrap();
        let policy = GarbagePolicy {
            catalog_locations: &report.catalog_locations,
            iceberg_references: Some(&retained),
            now: Utc::now(),
            grace: GRACE,
        };
        let snapshot = lake.snapshot().await;
        let gc = collect_garbage(&*lake.stores.lake, &lake.config.location, &snapshot, policy)
            .await
            .unwrap();

        let left: BTreeSet<Path> = list(&*lake.stores.lake, root.location())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.location)
            .collect();
        let missing: Vec<&Path> = retained.difference(&left).collect();
        assert!(missing.is_empty(), "retained objects deleted: {missing:?}");
        let undeleted: Vec<&&Path> = expired_only.iter().filter(|p| left.contains(*p)).collect();
        assert!(undeleted.is_empty(), "expired objects left: {undeleted:?}");
        assert_eq!(gc.objects_deleted, expired_only.len() as u64);
        assert!(
            left.contains(&io.path(&location).unwrap()),
            "the current metadata"
        );
        assert!(
            left.contains(&uncommitted),
            "a metadata file within the grace"
        );
        // Every retained snapshot still reads completely: its manifests and files are there.
        let again = referenced_files(&io, &metadata, &location).await.unwrap();
        assert_eq!(again, retained);
    }
}
