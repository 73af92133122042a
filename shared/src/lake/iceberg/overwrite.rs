//! The commit the `iceberg` crate lacks (it has fast append only): one new snapshot whose live
//! data files are exactly the wanted ones, shaped like the crate's snapshot producers
//! (`transaction/snapshot.rs`) and built on its spec types.
//!
//! Two steps, so the footer reads stay outside: [`plan`] compares the wanted files with the
//! current snapshot's (added = wanted − live, removed = live − wanted) and says which files need
//! an Iceberg data file ([`PendingOverwrite::added_files`], see `stats::read_data_file`);
//! [`PendingOverwrite::commit`] then writes
//! - manifests without a removed file: carried over by reference, unchanged;
//! - manifests holding a removed file: rewritten, one per partition spec — kept entries EXISTING,
//!   removed ones DELETED, both with their original snapshot ids and sequence numbers;
//! - one manifest of the added files (ADDED), a manifest list, and the snapshot: operation
//!   `append` when nothing is removed, `overwrite` otherwise, Iceberg's standard summary counters
//!   plus Tributary's (`tributary.snapshot-version`, …), parent, sequence number, `main` branch;
//! - the new metadata file (schema, spec, sort order and properties as wanted, snapshot and
//!   metadata logs, expired snapshots removed), through `TableMetadataBuilder`.
//!
//! A table whose current snapshot already publishes this Tributary version (or a later one), or
//! whose live files are already the wanted ones, gets no new snapshot: [`OverwritePlan::AlreadyPublished`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, MAIN_BRANCH, ManifestContentType, ManifestEntryRef,
    ManifestFile, Operation, PartitionSpecRef, Schema, SchemaRef, Snapshot,
    SnapshotSummaryCollector, SortOrder, Struct, Summary, TableMetadata, TableMetadataBuilder,
    UnboundPartitionSpec,
};
use uuid::Uuid;

use super::metadata_io::{MetadataStore, manifest_list_url, manifest_url, next_metadata_url};
use super::retention::RetentionPolicy;
use super::{
    IcebergError, SUMMARY_REFRESH_ID, SUMMARY_ROWS_DELETED, SUMMARY_ROWS_INSERTED,
    SUMMARY_ROWS_UPDATED, SUMMARY_SNAPSHOT_VERSION,
};

/// A data file the table should hold: its URL, partition tuple, size and rows (from our
/// snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFile {
    /// The file's URL (`s3://<lake bucket>/<key>`).
    pub path: String,
    /// Its partition tuple (see `partition_spec::partition_tuple`).
    pub partition: Struct,
    /// Size in bytes.
    pub size: u64,
    /// Row count.
    pub rows: u64,
}

/// The table as the commit should leave it.
#[derive(Debug, Clone)]
pub struct DesiredTable {
    /// The table's location URL (`s3://<lake bucket>/<table root>`, no trailing `/`).
    pub location: String,
    /// Its schema (`schema::table_schema`).
    pub schema: Schema,
    /// Its partition spec (`partition_spec::partition_spec`).
    pub partition_spec: UnboundPartitionSpec,
    /// Its sort order (`schema::sort_order`).
    pub sort_order: SortOrder,
    /// Table properties to set (the retention policy's are added).
    pub properties: HashMap<String, String>,
    /// Every live data file.
    pub files: Vec<LiveFile>,
    /// Which snapshots to keep.
    pub retention: RetentionPolicy,
}

impl DesiredTable {
    /// The properties to set: the given ones and the retention policy's.
    fn table_properties(&self) -> HashMap<String, String> {
        let mut properties = self.properties.clone();
        properties.extend(self.retention.table_properties());
        properties
    }
}

/// The Tributary snapshot the commit publishes, recorded in the Iceberg snapshot's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishedVersion {
    /// Our snapshot's version.
    pub snapshot_version: u64,
    /// The refresh that committed it.
    pub refresh_id: Option<String>,
    /// Rows it inserted, when known.
    pub rows_inserted: Option<u64>,
    /// Rows it updated, when known.
    pub rows_updated: Option<u64>,
    /// Rows it deleted, when known.
    pub rows_deleted: Option<u64>,
}

/// The table's current Iceberg metadata and the file it was read from.
#[derive(Debug, Clone)]
pub struct CurrentTable {
    /// The metadata.
    pub metadata: TableMetadata,
    /// Its URL (the catalog's `metadata_location`).
    pub metadata_location: String,
}

/// What a reconcile has to do.
#[derive(Debug)]
pub enum OverwritePlan {
    /// Nothing: the current snapshot already publishes this version or a later one, or already
    /// holds exactly the wanted files.
    AlreadyPublished {
        /// The current Iceberg snapshot.
        snapshot_id: Option<i64>,
        /// The Tributary version it publishes, when it records one.
        snapshot_version: Option<u64>,
    },
    /// A commit, once the added files' data files are known (boxed: it holds the manifests).
    Commit(Box<PendingOverwrite>),
}

/// The Tributary version the table's current snapshot publishes.
pub fn published_version(metadata: &TableMetadata) -> Option<u64> {
    metadata
        .current_snapshot()?
        .summary()
        .additional_properties
        .get(SUMMARY_SNAPSHOT_VERSION)?
        .parse()
        .ok()
}

/// One manifest of the current snapshot, read.
#[derive(Debug)]
struct LoadedManifest {
    file: ManifestFile,
    /// Its entries (inherited values filled in); empty for a delete manifest, never read.
    entries: Vec<ManifestEntryRef>,
}

impl LoadedManifest {
    fn live_entries(&self) -> impl Iterator<Item = &ManifestEntryRef> {
        self.entries.iter().filter(|e| e.is_alive())
    }
}

/// A planned commit waiting for the added files' data files.
#[derive(Debug)]
pub struct PendingOverwrite {
    current: Option<CurrentTable>,
    desired: DesiredTable,
    version: PublishedVersion,
    /// The table's schema and default spec once the desired ones are applied.
    schema: SchemaRef,
    spec: PartitionSpecRef,
    manifests: Vec<LoadedManifest>,
    added: Vec<LiveFile>,
    removed: HashSet<String>,
}

/// Compares the wanted state with the current one (reading the current snapshot's manifests).
pub async fn plan(
    io: &MetadataStore,
    current: Option<CurrentTable>,
    desired: DesiredTable,
    version: PublishedVersion,
) -> Result<OverwritePlan, IcebergError> {
    if let Some(table) = &current {
        let published = published_version(&table.metadata);
        if published.is_some_and(|v| v >= version.snapshot_version) {
            return Ok(OverwritePlan::AlreadyPublished {
                snapshot_id: table.metadata.current_snapshot_id(),
                snapshot_version: published,
            });
        }
    }
    let staged = stage(current.as_ref(), &desired)?
        .build()
        .map_err(IcebergError::spec(
            "applying the table's schema, spec and properties",
        ))?
        .metadata;
    let manifests = match &current {
        Some(table) => load_manifests(io, &table.metadata).await?,
        None => Vec::new(),
    };
    let live: HashSet<&str> = manifests
        .iter()
        .flat_map(LoadedManifest::live_entries)
        .map(|e| e.file_path())
        .collect();
    let wanted = wanted_paths(&desired.files)?;
    let added: Vec<LiveFile> = desired
        .files
        .iter()
        .filter(|f| !live.contains(f.path.as_str()))
        .cloned()
        .collect();
    let removed: HashSet<String> = live
        .iter()
        .filter(|path| !wanted.contains(*path))
        .map(|path| (*path).to_owned())
        .collect();
    if let Some(table) = current
        .as_ref()
        .filter(|_| added.is_empty() && removed.is_empty())
    {
        return Ok(OverwritePlan::AlreadyPublished {
            snapshot_id: table.metadata.current_snapshot_id(),
            snapshot_version: published_version(&table.metadata),
        });
    }
    Ok(OverwritePlan::Commit(Box::new(PendingOverwrite {
        current,
        desired,
        version,
        schema: Arc::clone(staged.current_schema()),
        spec: Arc::clone(staged.default_partition_spec()),
        manifests,
        added,
        removed,
    })))
}

/// The wanted files' paths; a path listed twice is refused.
fn wanted_paths(files: &[LiveFile]) -> Result<HashSet<&str>, IcebergError> {
    let mut paths = HashSet::with_capacity(files.len());
    for file in files {
        if !paths.insert(file.path.as_str()) {
            return Err(IcebergError::FileMismatch {
                path: file.path.clone(),
                detail: "the table lists it twice".to_owned(),
            });
        }
    }
    Ok(paths)
}

/// The manifests of the current snapshot; data manifests are read.
async fn load_manifests(
    io: &MetadataStore,
    metadata: &TableMetadata,
) -> Result<Vec<LoadedManifest>, IcebergError> {
    let Some(snapshot) = metadata.current_snapshot() else {
        return Ok(Vec::new());
    };
    let list = io
        .read_manifest_list(snapshot, metadata.format_version())
        .await?;
    // Collected first: the list's own iterator is not `Send`, and the reads below await.
    let files: Vec<ManifestFile> = list.consume_entries().into_iter().collect();
    let mut loaded = Vec::with_capacity(files.len());
    for file in files {
        let entries = match file.content {
            ManifestContentType::Data => io.read_manifest(&file).await?.into_parts().0,
            ManifestContentType::Deletes => Vec::new(),
        };
        loaded.push(LoadedManifest { file, entries });
    }
    Ok(loaded)
}

/// The builder of the table's next metadata with the desired schema, spec, sort order and
/// properties applied: from the current metadata (logging its file), or a new v2 table.
fn stage(
    current: Option<&CurrentTable>,
    desired: &DesiredTable,
) -> Result<TableMetadataBuilder, IcebergError> {
    let builder = match current {
        Some(table) => TableMetadataBuilder::new_from_metadata(
            table.metadata.clone(),
            Some(table.metadata_location.clone()),
        ),
        None => new_table(desired)?,
    };
    let applied = builder
        .add_current_schema(desired.schema.clone())
        .and_then(|b| b.add_default_partition_spec(desired.partition_spec.clone()))
        .and_then(|b| b.add_sort_order(desired.sort_order.clone()))
        .and_then(|b| b.set_default_sort_order(i64::from(TableMetadataBuilder::LAST_ADDED)))
        .and_then(|b| b.set_properties(desired.table_properties()))
        .map_err(IcebergError::spec(
            "applying the table's schema, spec and properties",
        ))?;
    match current {
        Some(_) => Ok(applied),
        None => drop_placeholders(applied, desired),
    }
}

/// A new table whose schema, spec and sort order are placeholders: `TableMetadataBuilder::new`
/// renumbers the schema's field ids, and ours are stable by design, so the real ones are added
/// after it and the placeholders dropped ([`drop_placeholders`]).
fn new_table(desired: &DesiredTable) -> Result<TableMetadataBuilder, IcebergError> {
    let placeholder = Schema::builder()
        .build()
        .map_err(IcebergError::spec("creating the table"))?;
    TableMetadataBuilder::new(
        placeholder,
        UnboundPartitionSpec::builder().build(),
        SortOrder::unsorted_order(),
        desired.location.clone(),
        FormatVersion::V2,
        HashMap::new(),
    )
    .map_err(IcebergError::spec("creating the table"))
}

/// Removes a new table's placeholder schema (id 0), and its unpartitioned spec (id 0) when a
/// partitioned one replaced it.
fn drop_placeholders(
    builder: TableMetadataBuilder,
    desired: &DesiredTable,
) -> Result<TableMetadataBuilder, IcebergError> {
    let placeholder_id = 0;
    let builder = builder
        .remove_schemas(&[placeholder_id])
        .map_err(IcebergError::spec("creating the table"))?;
    if desired.partition_spec.fields().is_empty() {
        return Ok(builder);
    }
    builder
        .remove_partition_specs(&[placeholder_id])
        .map_err(IcebergError::spec("creating the table"))
}

/// The commit's new metadata, written to the lake (not yet in the catalog).
#[derive(Debug, Clone)]
pub struct CommittedMetadata {
    /// The new metadata.
    pub metadata: TableMetadata,
    /// Where it was written: the catalog's new `metadata_location`.
    pub metadata_location: String,
    /// The metadata it replaces: the catalog's `previous_metadata_location`.
    pub previous_metadata_location: Option<String>,
    /// The new snapshot; `None` for a new table without files.
    pub snapshot_id: Option<i64>,
}

/// The ids and numbers of the snapshot being produced.
struct NewSnapshot<'a> {
    id: i64,
    commit: Uuid,
    sequence_number: i64,
    location: &'a str,
}

impl PendingOverwrite {
    /// The wanted files the table does not hold yet: each needs its Iceberg data file
    /// (`stats::read_data_file` with [`PendingOverwrite::schema`] and
    /// [`PendingOverwrite::partition_spec_id`]).
    pub fn added_files(&self) -> &[LiveFile] {
        &self.added
    }

    /// The paths of the live files the commit removes.
    pub fn removed_files(&self) -> impl Iterator<Item = &str> {
        self.removed.iter().map(String::as_str)
    }

    /// The table's schema after the commit.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The id of the table's partition spec after the commit (the added files' spec).
    pub fn partition_spec_id(&self) -> i32 {
        self.spec.spec_id()
    }

    /// Writes the manifests, manifest list and metadata file of the commit at `now_ms`, given the
    /// data files of [`PendingOverwrite::added_files`] (in any order).
    pub async fn commit(
        self,
        io: &MetadataStore,
        added: Vec<DataFile>,
        now_ms: i64,
    ) -> Result<CommittedMetadata, IcebergError> {
        let added = self.check_added(added)?;
        let previous = self.current.as_ref().map(|t| &t.metadata);
        let mut builder = stage(self.current.as_ref(), &self.desired)?;
        let mut snapshot_id = None;
        if !added.is_empty() || !self.removed.is_empty() {
            let snapshot = self.write_snapshot(io, &added, previous, now_ms).await?;
            let expired = self.expired(previous, &snapshot, now_ms);
            snapshot_id = Some(snapshot.snapshot_id());
            builder = builder
                .set_branch_snapshot(snapshot, MAIN_BRANCH)
                .map_err(IcebergError::spec("adding the snapshot"))?
                .remove_snapshots(&expired);
        }
        let metadata = builder
            .build()
            .map_err(IcebergError::spec("building the table metadata"))?
            .metadata;
        let previous_location = self.current.map(|t| t.metadata_location);
        let url = next_metadata_url(
            &self.desired.location,
            previous_location.as_deref(),
            &metadata,
        )?;
        io.write_metadata(&url, &metadata).await?;
        Ok(CommittedMetadata {
            metadata,
            metadata_location: url,
            previous_metadata_location: previous_location,
            snapshot_id,
        })
    }

    /// The added data files, checked against the plan: one per planned file, with its rows, size
    /// and partition.
    fn check_added(&self, added: Vec<DataFile>) -> Result<Vec<DataFile>, IcebergError> {
        let mut by_path: HashMap<String, DataFile> = added
            .into_iter()
            .map(|f| (f.file_path().to_owned(), f))
            .collect();
        let mut checked = Vec::with_capacity(self.added.len());
        for planned in &self.added {
            let mismatch = |detail: String| IcebergError::FileMismatch {
                path: planned.path.clone(),
                detail,
            };
            let file = by_path
                .remove(&planned.path)
                .ok_or_else(|| mismatch("no data file was given for it".to_owned()))?;
            let actual = (
                file.content_type(),
                file.record_count(),
                file.file_size_in_bytes(),
                file.partition(),
            );
            let expected = (
                DataContentType::Data,
                planned.rows,
                planned.size,
                &planned.partition,
            );
            if actual != expected {
                return Err(mismatch(format!(
                    "(content, rows, size, partition) are {actual:?}, the plan's {expected:?}"
                )));
            }
            checked.push(file);
        }
        match by_path.into_keys().next() {
            Some(path) => Err(IcebergError::FileMismatch {
                path,
                detail: "it is not among the planned added files".to_owned(),
            }),
            None => Ok(checked),
        }
    }

    /// Writes the manifests and manifest list of the new snapshot and returns it.
    async fn write_snapshot(
        &self,
        io: &MetadataStore,
        added: &[DataFile],
        previous: Option<&TableMetadata>,
        now_ms: i64,
    ) -> Result<Snapshot, IcebergError> {
        let new = NewSnapshot {
            id: unique_snapshot_id(previous),
            commit: Uuid::new_v4(),
            sequence_number: previous.map_or(1, TableMetadata::next_sequence_number),
            location: &self.desired.location,
        };
        let manifests = self.write_manifests(io, &new, added).await?;
        let manifest_list = manifest_list_url(new.location, new.id, new.commit);
        let parent = previous.and_then(TableMetadata::current_snapshot_id);
        io.write_manifest_list(
            &manifest_list,
            new.id,
            parent,
            new.sequence_number,
            manifests,
        )
        .await?;
        let timestamp_ms = previous.map_or(now_ms, |m| now_ms.max(m.last_updated_ms()));
        Ok(Snapshot::builder()
            .with_snapshot_id(new.id)
            .with_parent_snapshot_id(parent)
            .with_sequence_number(new.sequence_number)
            .with_timestamp_ms(timestamp_ms)
            .with_manifest_list(manifest_list)
            .with_summary(self.summary(added))
            .with_schema_id(self.schema.schema_id())
            .build())
    }

    /// The new snapshot's manifest list entries: carried-over manifests, rewritten ones, and the
    /// manifest of the added files.
    async fn write_manifests(
        &self,
        io: &MetadataStore,
        new: &NewSnapshot<'_>,
        added: &[DataFile],
    ) -> Result<Vec<ManifestFile>, IcebergError> {
        let mut manifests = Vec::new();
        let mut rewrites: BTreeMap<i32, Vec<&ManifestEntryRef>> = BTreeMap::new();
        for loaded in &self.manifests {
            let holds_removed = loaded
                .live_entries()
                .any(|e| self.removed.contains(e.file_path()));
            if holds_removed {
                let spec_entries = rewrites.entry(loaded.file.partition_spec_id).or_default();
                spec_entries.extend(loaded.live_entries());
            } else if loaded.file.content == ManifestContentType::Deletes
                || loaded.live_entries().next().is_some()
            {
                manifests.push(loaded.file.clone());
            }
        }
        for (spec_id, entries) in rewrites {
            let url = manifest_url(new.location, new.commit, manifests.len());
            manifests.push(self.rewrite(io, new, &url, spec_id, &entries).await?);
        }
        if !added.is_empty() {
            let url = manifest_url(new.location, new.commit, manifests.len());
            let spec = self.spec.as_ref().clone();
            let manifest = io
                .write_manifest(&url, new.id, Arc::clone(&self.schema), spec, |writer| {
                    added
                        .iter()
                        .try_for_each(|f| writer.add_file(f.clone(), new.sequence_number))
                })
                .await?;
            manifests.push(manifest);
        }
        Ok(manifests)
    }

    /// Rewrites the live entries of the manifests of spec `spec_id` that hold a removed file:
    /// kept files EXISTING, removed ones DELETED, with their original snapshot ids and sequence
    /// numbers.
    async fn rewrite(
        &self,
        io: &MetadataStore,
        new: &NewSnapshot<'_>,
        url: &str,
        spec_id: i32,
        entries: &[&ManifestEntryRef],
    ) -> Result<ManifestFile, IcebergError> {
        let spec = self
            .current
            .as_ref()
            .and_then(|t| t.metadata.partition_spec_by_id(spec_id))
            .ok_or_else(|| IcebergError::Corrupt {
                path: url.to_owned(),
                detail: format!("the table has no partition spec {spec_id}"),
            })?;
        let spec = spec.as_ref().clone();
        io.write_manifest(url, new.id, Arc::clone(&self.schema), spec, |writer| {
            entries.iter().try_for_each(|entry| {
                let (Some(added_by), Some(sequence_number)) =
                    (entry.snapshot_id(), entry.sequence_number())
                else {
                    return Err(iceberg::Error::new(
                        iceberg::ErrorKind::DataInvalid,
                        format!(
                            "entry {} has no snapshot id or sequence number",
                            entry.file_path()
                        ),
                    ));
                };
                let file = entry.data_file().clone();
                if self.removed.contains(entry.file_path()) {
                    writer.add_delete_file(file, sequence_number, entry.file_sequence_number)
                } else {
                    writer.add_existing_file(
                        file,
                        added_by,
                        sequence_number,
                        entry.file_sequence_number,
                    )
                }
            })
        })
        .await
    }

    /// The removed files' entries and their partition specs.
    fn removed_entries(&self) -> impl Iterator<Item = (&ManifestEntryRef, i32)> {
        self.manifests.iter().flat_map(|m| {
            m.live_entries()
                .filter(|e| self.removed.contains(e.file_path()))
                .map(|e| (e, m.file.partition_spec_id))
        })
    }

    /// The snapshot summary: operation, Iceberg's counters and Tributary's keys.
    fn summary(&self, added: &[DataFile]) -> Summary {
        let mut collector = SnapshotSummaryCollector::default();
        let mut changed: HashSet<(i32, &Struct)> = HashSet::new();
        for file in added {
            collector.add_file(file, Arc::clone(&self.schema), Arc::clone(&self.spec));
            changed.insert((self.spec.spec_id(), file.partition()));
        }
        for (entry, spec_id) in self.removed_entries() {
            let spec = self
                .current
                .as_ref()
                .and_then(|t| t.metadata.partition_spec_by_id(spec_id))
                .map_or_else(|| Arc::clone(&self.spec), Arc::clone);
            collector.remove_file(entry.data_file(), Arc::clone(&self.schema), spec);
            changed.insert((spec_id, entry.data_file().partition()));
        }
        let mut properties = collector.build();
        properties.insert("changed-partition-count".into(), changed.len().to_string());
        properties.extend(self.totals(added));
        properties.extend(self.tributary_properties());
        Summary {
            operation: if self.removed.is_empty() {
                Operation::Append
            } else {
                Operation::Overwrite
            },
            additional_properties: properties,
        }
    }

    /// `total-*` counters of the new snapshot's live data files.
    fn totals(&self, added: &[DataFile]) -> [(String, String); 3] {
        let kept = self
            .manifests
            .iter()
            .flat_map(LoadedManifest::live_entries)
            .filter(|e| !self.removed.contains(e.file_path()))
            .map(|e| e.data_file());
        let (mut files, mut records, mut bytes) = (0u64, 0u64, 0u64);
        for file in kept.chain(added) {
            files += 1;
            records += file.record_count();
            bytes += file.file_size_in_bytes();
        }
        [
            ("total-data-files".into(), files.to_string()),
            ("total-records".into(), records.to_string()),
            ("total-files-size".into(), bytes.to_string()),
        ]
    }

    /// Tributary's summary keys.
    fn tributary_properties(&self) -> Vec<(String, String)> {
        let version = &self.version;
        let mut properties = vec![(
            SUMMARY_SNAPSHOT_VERSION.to_owned(),
            version.snapshot_version.to_string(),
        )];
        let optional = [
            (SUMMARY_REFRESH_ID, version.refresh_id.clone()),
            (
                SUMMARY_ROWS_INSERTED,
                version.rows_inserted.map(|n| n.to_string()),
            ),
            (
                SUMMARY_ROWS_UPDATED,
                version.rows_updated.map(|n| n.to_string()),
            ),
            (
                SUMMARY_ROWS_DELETED,
                version.rows_deleted.map(|n| n.to_string()),
            ),
        ];
        properties.extend(
            optional
                .into_iter()
                .filter_map(|(key, value)| Some((key.to_owned(), value?))),
        );
        properties
    }

    /// The snapshots the retention policy expires once `snapshot` is current.
    fn expired(
        &self,
        previous: Option<&TableMetadata>,
        snapshot: &Snapshot,
        now_ms: i64,
    ) -> Vec<i64> {
        let older = previous
            .into_iter()
            .flat_map(TableMetadata::snapshots)
            .map(AsRef::as_ref);
        self.desired.retention.expired(
            older.chain([snapshot]),
            Some(snapshot.snapshot_id()),
            now_ms,
        )
    }
}

/// A random positive snapshot id no snapshot of the table has.
fn unique_snapshot_id(previous: Option<&TableMetadata>) -> i64 {
    loop {
        let (high, low) = Uuid::new_v4().as_u64_pair();
        let id = i64::try_from((high ^ low) >> 1).unwrap_or_default();
        let taken = previous.is_some_and(|m| m.snapshot_by_id(id).is_some());
        if id != 0 && !taken {
            return id;
        }
    }
}

#[cfg(test)]
#[path = "overwrite_test.rs"]
mod tests;
