//! Test fixture of the Iceberg module: a table (keyed by `id`, partitioned by `region`) in an
//! in-memory lake, published version by version through the overwrite commit, and its manifests
//! read back with the crate's readers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum, FormatVersion, Literal,
    ManifestFile, ManifestStatus, SnapshotRef, Struct, TableMetadata,
};
use object_store::ObjectStore;
use object_store::memory::InMemory;

use super::metadata_io::MetadataStore;
use super::overwrite::{
    CommittedMetadata, CurrentTable, DesiredTable, LiveFile, OverwritePlan, PublishedVersion, plan,
};
use super::partition_spec::partition_spec;
use super::retention::RetentionPolicy;
use super::schema::{sort_order, table_schema};
use crate::lake::snapshot::SnapshotColumn;
use crate::lake::table_config::{PartitionField, PartitionTransform, StorageMode};

pub const LOCATION: &str = "s3://lake/db/orders";
pub const DAY_MS: i64 = 24 * 3600 * 1000;
/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600_000;

pub fn columns(extra: bool) -> Vec<SnapshotColumn> {
    let mut spec = vec![("id", "bigint"), ("region", "string"), ("qty", "int")];
    if extra {
        spec.push(("note", "string"));
    }
    spec.iter()
        .map(|(name, hive_type)| SnapshotColumn {
            name: (*name).to_owned(),
            hive_type: (*hive_type).to_owned(),
        })
        .collect()
}

/// A table of `columns(extra)` keyed by `id`, partitioned by `region`, holding `files`.
pub fn desired(files: &[LiveFile], extra: bool) -> DesiredTable {
    let key = ["id".to_owned()];
    let schema = table_schema(&columns(extra), StorageMode::Current, &key).unwrap();
    let region = PartitionField {
        column: "region".to_owned(),
        transform: PartitionTransform::Identity,
        name: None,
    };
    DesiredTable {
        location: LOCATION.to_owned(),
        partition_spec: partition_spec(&[region], &schema).unwrap(),
        sort_order: sort_order(&schema, &key).unwrap(),
        schema,
        properties: HashMap::from([("write.format.default".to_owned(), "parquet".to_owned())]),
        files: files.to_vec(),
        retention: RetentionPolicy::default(),
    }
}

/// A file of `rows` rows in partition `region`.
pub fn file(name: &str, region: &str, rows: u64) -> LiveFile {
    LiveFile {
        path: format!("{LOCATION}/data/region={region}/{name}.parquet"),
        partition: Struct::from_iter([Some(Literal::string(region))]),
        size: rows * 100,
        rows,
    }
}

/// The data file stats would give for `file`: counts and a bound on `id`.
pub fn data_file(file: &LiveFile, spec_id: i32) -> DataFile {
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(file.path.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(file.partition.clone())
        .partition_spec_id(spec_id)
        .record_count(file.rows)
        .file_size_in_bytes(file.size)
        .value_counts(HashMap::from([(7, file.rows)]))
        .lower_bounds(HashMap::from([(7, Datum::long(1))]))
        .build()
        .unwrap()
}

pub fn version(n: u64) -> PublishedVersion {
    PublishedVersion {
        snapshot_version: n,
        refresh_id: Some(format!("r{n}")),
        rows_inserted: Some(10 * n),
        rows_updated: Some(n),
        rows_deleted: Some(0),
    }
}

pub struct Lake {
    pub store: Arc<InMemory>,
    pub io: MetadataStore,
    pub current: Option<CurrentTable>,
    pub now_ms: i64,
}

impl Lake {
    pub fn new() -> Lake {
        let store = Arc::new(InMemory::new());
        let io = MetadataStore::new(Arc::clone(&store) as Arc<dyn ObjectStore>, "s3://lake");
        Lake {
            store,
            io,
            current: None,
            now_ms: T0,
        }
    }

    pub async fn plan(&self, table: DesiredTable, n: u64) -> OverwritePlan {
        plan(&self.io, self.current.clone(), table, version(n))
            .await
            .unwrap()
    }

    /// Publishes version `n` holding `files` (a day after the previous publish).
    pub async fn publish_table(&mut self, table: DesiredTable, n: u64) -> CommittedMetadata {
        let OverwritePlan::Commit(pending) = self.plan(table, n).await else {
            panic!("version {n} is already published")
        };
        let added = pending
            .added_files()
            .iter()
            .map(|f| data_file(f, pending.partition_spec_id()))
            .collect();
        let committed = pending.commit(&self.io, added, self.now_ms).await.unwrap();
        self.now_ms += DAY_MS;
        self.current = Some(CurrentTable {
            metadata: committed.metadata.clone(),
            metadata_location: committed.metadata_location.clone(),
        });
        committed
    }

    pub async fn publish(&mut self, files: &[LiveFile], n: u64) -> CommittedMetadata {
        self.publish_table(desired(files, false), n).await
    }

    pub fn metadata(&self) -> &TableMetadata {
        &self.current.as_ref().unwrap().metadata
    }

    pub async fn manifest_files(&self, snapshot: &SnapshotRef) -> Vec<ManifestFile> {
        let list = self
            .io
            .read_manifest_list(snapshot, FormatVersion::V2)
            .await
            .unwrap();
        list.entries().to_vec()
    }

    /// `(path, status, snapshot id, sequence number)` of every entry of the snapshot's manifests.
    pub async fn entries(&self, snapshot: &SnapshotRef) -> Vec<(String, ManifestStatus, i64, i64)> {
        let mut entries = Vec::new();
        for manifest in self.manifest_files(snapshot).await {
            let read = self.io.read_manifest(&manifest).await.unwrap();
            entries.extend(read.entries().iter().map(|e| {
                (
                    e.file_path().to_owned(),
                    e.status(),
                    e.snapshot_id().unwrap(),
                    e.sequence_number().unwrap(),
                )
            }));
        }
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        entries
    }

    /// The live data files of a snapshot, read back from its manifests.
    pub async fn live(&self, snapshot: &SnapshotRef) -> BTreeSet<String> {
        self.entries(snapshot)
            .await
            .into_iter()
            .filter(|(_, status, ..)| *status != ManifestStatus::Deleted)
            .map(|(path, ..)| path)
            .collect()
    }
}
