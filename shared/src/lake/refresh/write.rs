//! Writing a plan: every touched partition gets a new version folder named by the attempt, and
//! new tombstones get a file (docs/DESIGN.md §8, §9). In a partition, stored files holding a
//! removed key (and small files, when the partition has many) are decoded, filtered and merged
//! with the new rows; the others are kept unchanged: copied into a Hive table's new folder,
//! referenced where they are by an Iceberg table's. Nothing written here is referenced until the
//! commit.

use std::collections::{BTreeMap, HashSet};
use std::ops::AddAssign;
use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::batches::{project, sort_batch, take_rows};
use super::error::{MergeError, arrow};
use super::key_lookup::StoredFileId;
use super::layout::{FileKeys, with_identity_columns};
use super::plan::Plan;
use super::{BATCH_ROWS, RefreshContext};
use crate::lake::lake_files::{LakeFileError, RollingWriter, StoredFile, writer_properties};
use crate::lake::partitioning::{PartitionValues, assign_partitions};
use crate::lake::paths::Attempt;
use crate::lake::schema_evolution::conform;
use crate::lake::snapshot::{DataFile, PartitionState, TombstoneFile};
use crate::lake::sorted_merge::SortedMerge;
use crate::lake::table_config::TableFormat;

/// A touched partition with at least this many files under half the target size is compacted.
pub const COMPACTION_SMALL_FILES: usize = 4;

/// What the write phase wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct WriteIo {
    /// Stored files decoded and rewritten.
    pub(super) files_rewritten: u64,
    /// Stored files copied unchanged into a new partition version (Hive tables).
    pub(super) files_copied: u64,
    /// Stored files kept unchanged where they are, by reference (Iceberg tables).
    pub(super) files_referenced: u64,
    /// Parquet files written.
    pub(super) files_written: u64,
    /// Bytes of Parquet written.
    pub(super) bytes_written: u64,
    /// Partition versions written.
    pub(super) partitions_written: u64,
}

impl AddAssign for WriteIo {
    fn add_assign(&mut self, other: WriteIo) {
        self.files_rewritten += other.files_rewritten;
        self.files_copied += other.files_copied;
        self.files_referenced += other.files_referenced;
        self.files_written += other.files_written;
        self.bytes_written += other.bytes_written;
        self.partitions_written += other.partitions_written;
    }
}

/// A plan written into new partition versions and a tombstone file, not yet committed.
#[derive(Default)]
pub(super) struct Written {
    /// Every live partition after the refresh, ordered by path.
    pub(super) partitions: Vec<PartitionState>,
    /// Partitions with a new version.
    pub(super) written: Vec<PartitionState>,
    /// Partitions that became empty.
    pub(super) dropped: Vec<PartitionValues>,
    /// Partition folders no longer referenced.
    pub(super) replaced: Vec<String>,
    /// The file of the refresh's new tombstones, if any.
    pub(super) tombstone: Option<TombstoneFile>,
    /// What was written.
    pub(super) io: WriteIo,
}

/// Writes `plan` into new partition versions (and tombstones) named by `attempt`.
pub(super) async fn write(
    context: RefreshContext<'_>,
    plan: &Plan,
    attempt: Attempt<'_>,
) -> Result<Written, MergeError> {
    let mut additions = additions_by_partition(context, plan)?;
    let touched = touched_partitions(plan, &additions);
    let mut partitions: BTreeMap<String, PartitionState> = context
        .previous
        .partitions
        .iter()
        .map(|p| (p.values.path(), p.clone()))
        .collect();
    let mut written = Written::default();
    for (path, values) in touched {
        let previous = partitions.remove(&path);
        let values = match (values, &previous) {
            (Some(values), _) => values,
            (None, Some(previous)) => previous.values.clone(),
            (None, None) => continue,
        };
        let partition = PartitionWrite {
            context,
            plan,
            attempt,
            path: &path,
            values: values.clone(),
            previous: previous.as_ref(),
            new_rows: additions.remove(&path).map(|(_, batch)| batch),
        };
        let (state, io) = partition.write().await?;
        written.io += io;
        if let Some(previous) = previous {
            written.replaced.push(previous.location);
        }
        match state {
            Some(state) => {
                partitions.insert(path, state.clone());
                written.written.push(state);
            }
            None => written.dropped.push(values),
        }
    }
    written.partitions = partitions.into_values().collect();
    if let Some(batch) = plan.tombstones.as_ref().filter(|b| b.num_rows() > 0) {
        let (file, io) = write_tombstones(context, batch, attempt).await?;
        written.io += io;
        written.tombstone = Some(file);
    }
    Ok(written)
}

/// The plan's new rows split by partition (keyed by path), each sorted by key and `cdc_order`.
fn additions_by_partition(
    context: RefreshContext<'_>,
    plan: &Plan,
) -> Result<BTreeMap<String, (PartitionValues, RecordBatch)>, MergeError> {
    let mut additions = BTreeMap::new();
    let Some(batch) = plan.additions.as_ref().filter(|b| b.num_rows() > 0) else {
        return Ok(additions);
    };
    let config = context.config;
    let assignment =
        assign_partitions(batch, &config.partition_fields, config.date_partition_style)?;
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); assignment.partitions.len()];
    for (row, partition) in assignment.row_partition.iter().enumerate() {
        if let Some(list) = members.get_mut(*partition as usize) {
            list.push(row as u32);
        }
    }
    let layout = context.layout;
    for (values, rows) in assignment.partitions.into_iter().zip(members) {
        let part = sort_batch(&take_rows(batch, rows)?, &layout.sort_columns(&layout.rows))?;
        additions.insert(values.path(), (values, part));
    }
    Ok(additions)
}

/// The partitions the plan touches, by path: those holding removed rows (their values come from
/// the snapshot) and those receiving rows.
fn touched_partitions(
    plan: &Plan,
    additions: &BTreeMap<String, (PartitionValues, RecordBatch)>,
) -> BTreeMap<String, Option<PartitionValues>> {
    let mut touched: BTreeMap<String, Option<PartitionValues>> = BTreeMap::new();
    for StoredFileId { partition, .. } in &plan.rewrite {
        touched.insert(partition.clone(), None);
    }
    for (path, (values, _)) in additions {
        touched.insert(path.clone(), Some(values.clone()));
    }
    touched
}

/// One partition's new version to write.
struct PartitionWrite<'w> {
    context: RefreshContext<'w>,
    plan: &'w Plan,
    attempt: Attempt<'w>,
    /// The partition path.
    path: &'w str,
    values: PartitionValues,
    /// Its current version, if it exists.
    previous: Option<&'w PartitionState>,
    /// Its new rows (row schema, sorted).
    new_rows: Option<RecordBatch>,
}

/// A partition's stored files as they enter its new version.
struct CarriedOver<'s> {
    /// Streams of the files decoded (without the removed keys), as merge inputs.
    decoded: Vec<BoxStream<'s, Result<RecordBatch, MergeError>>>,
    /// Files kept unchanged (copied into a Hive table's new folder, referenced by an Iceberg
    /// table's).
    kept: Vec<DataFile>,
}

impl<'w> PartitionWrite<'w> {
    /// Writes the version; `None` when the partition holds no rows any more.
    async fn write(mut self) -> Result<(Option<PartitionState>, WriteIo), MergeError> {
        let folder = self.attempt.partition_folder(self.path);
        let carried = self.carry_over(&folder).await?;
        let referenced = carried.kept.iter().filter(|f| f.folder.is_some()).count() as u64;
        let mut io = WriteIo {
            files_rewritten: carried.decoded.len() as u64,
            files_copied: carried.kept.len() as u64 - referenced,
            files_referenced: referenced,
            ..WriteIo::default()
        };
        let mut inputs = carried.decoded;
        if let Some(rows) = self.new_rows.take() {
            inputs.push(batch_stream(project(&rows, &self.context.layout.file)?));
        }
        let folder_path = self.context.root().join(&folder);
        let new_files = write_merged(self.context, folder_path, self.attempt, inputs).await?;
        io.files_written += new_files.len() as u64;
        io.bytes_written += new_files.iter().map(|f| f.size).sum::<u64>();
        let mut files = carried.kept;
        files.extend(new_files);
        if files.iter().all(|f| f.rows == 0) {
            return Ok((None, io));
        }
        io.partitions_written += 1;
        let state = PartitionState {
            values: self.values,
            location: folder,
            files,
        };
        Ok((Some(state), io))
    }

    /// Copies the stored files the plan leaves alone into `folder`, and opens the others —
    /// holding removed keys, or small ones in a partition due for compaction — for the merge.
    async fn carry_over(&self, folder: &str) -> Result<CarriedOver<'w>, MergeError> {
        let mut carried = CarriedOver {
            decoded: Vec::new(),
            kept: Vec::new(),
        };
        let Some(previous) = self.previous else {
            return Ok(carried);
        };
        let plan: &'w Plan = self.plan;
        let target = self.context.config.output.target_file_size_bytes;
        let small = previous
            .files
            .iter()
            .filter(|f| f.size < target / 2)
            .count();
        let compact = small >= COMPACTION_SMALL_FILES;
        let root = self.context.root();
        for file in &previous.files {
            let holds_removed = plan.rewrite.contains(&StoredFileId {
                partition: self.path.to_owned(),
                file: file.name.clone(),
            });
            let source = root.data_file(previous.folder_of(file), &file.name);
            if holds_removed || (compact && file.size < target / 2) {
                let remove = &plan.remove_keys;
                let stored = decode_stored(self.context, source, file.size, &self.values, remove);
                carried.decoded.push(stored);
            } else {
                carried
                    .kept
                    .push(self.keep(previous, file, source, folder).await?);
            }
        }
        Ok(carried)
    }

    /// A stored file the plan leaves alone, as the new version lists it: a Hive table's is copied
    /// into `folder` (a Glue partition is one folder); an Iceberg table's stays where it is,
    /// referenced (its manifests name files, not folders).
    async fn keep(
        &self,
        previous: &PartitionState,
        file: &DataFile,
        source: Path,
        folder: &str,
    ) -> Result<DataFile, MergeError> {
        if self.context.config.format == TableFormat::Iceberg {
            let folder = previous.folder_of(file).to_owned();
            return Ok(DataFile {
                folder: Some(folder),
                ..file.clone()
            });
        }
        let destination = self.context.root().data_file(folder, &file.name);
        self.context
            .lake
            .copy(&source, &destination)
            .await
            .map_err(|source| LakeFileError::Storage {
                path: destination.to_string(),
                source,
            })?;
        Ok(file.clone())
    }
}

/// `batch` as a stream of merge-sized batches.
fn batch_stream<'s>(batch: RecordBatch) -> BoxStream<'s, Result<RecordBatch, MergeError>> {
    let chunks: Vec<Result<RecordBatch, MergeError>> = (0..batch.num_rows())
        .step_by(BATCH_ROWS)
        .map(|offset| Ok(batch.slice(offset, BATCH_ROWS.min(batch.num_rows() - offset))))
        .collect();
    stream::iter(chunks).boxed()
}

/// Merges the sorted `inputs` into new data files in `folder`.
async fn write_merged(
    context: RefreshContext<'_>,
    folder: Path,
    attempt: Attempt<'_>,
    inputs: Vec<BoxStream<'_, Result<RecordBatch, MergeError>>>,
) -> Result<Vec<DataFile>, MergeError> {
    let layout = context.layout;
    let file_schema = Arc::clone(&layout.file);
    let keys = layout.file_keys(&file_schema);
    let target = context.config.output.target_file_size_bytes;
    let mut writer = new_writer(context, folder, &file_schema, target, keys)
        .with_name_prefix(attempt.data_file_prefix());
    let sort_columns = layout.sort_columns(&file_schema);
    let mut merge = SortedMerge::new(inputs, &file_schema, sort_columns, BATCH_ROWS)?;
    while let Some(batch) = merge.next_batch().await? {
        writer.write(&batch).await?;
    }
    Ok(writer.finish().await?)
}

/// A writer of sorted lake files of `schema` into `folder`, rolling over at `target` bytes.
fn new_writer(
    context: RefreshContext<'_>,
    folder: Path,
    schema: &SchemaRef,
    target: u64,
    keys: FileKeys,
) -> RollingWriter {
    let properties = writer_properties(
        &context.config.output,
        schema,
        &context.layout.sort_names(),
        &keys.names,
    );
    RollingWriter::new(
        Arc::clone(context.lake),
        folder,
        Arc::clone(schema),
        properties,
        target,
        keys.indices,
        keys.hive_types,
    )
}

/// A stored file's rows without the removed keys, in the file schema.
fn decode_stored<'s>(
    context: RefreshContext<'s>,
    location: Path,
    size: u64,
    values: &PartitionValues,
    remove: &'s HashSet<Box<[u8]>>,
) -> BoxStream<'s, Result<RecordBatch, MergeError>> {
    let store = Arc::clone(context.lake);
    let values = values.clone();
    let path = location.to_string();
    let open = async move {
        let stored = StoredFile::open(store, location, size).await?;
        Ok::<_, MergeError>(stored.stream(None, None, BATCH_ROWS)?)
    };
    stream::once(open)
        .map_ok(move |batches| {
            let path = path.clone();
            batches.map_err(move |source| {
                MergeError::LakeFile(LakeFileError::Parquet {
                    path: path.clone(),
                    source,
                })
            })
        })
        .try_flatten()
        .and_then(move |batch| {
            futures::future::ready(without_removed_keys(context, &batch, &values, remove))
        })
        .boxed()
}

/// A stored batch with its partition columns restored, the rows of removed keys dropped, in the
/// file schema.
fn without_removed_keys(
    context: RefreshContext<'_>,
    batch: &RecordBatch,
    values: &PartitionValues,
    remove: &HashSet<Box<[u8]>>,
) -> Result<RecordBatch, MergeError> {
    let layout = context.layout;
    let rows = with_identity_columns(context.config, &conform(batch, &layout.rows)?, Some(values))?;
    let keys = layout.encode_keys(&rows)?;
    let keep: BooleanArray = (0..rows.num_rows())
        .map(|i| Some(!remove.contains(keys.row(i).as_ref())))
        .collect();
    let kept = filter_record_batch(&rows, &keep).map_err(arrow("removing changed keys"))?;
    project(&kept, &layout.file)
}

/// Writes the refresh's new tombstones (key columns and `cdc_order`) into one file.
async fn write_tombstones(
    context: RefreshContext<'_>,
    batch: &RecordBatch,
    attempt: Attempt<'_>,
) -> Result<(TombstoneFile, WriteIo), MergeError> {
    let layout = context.layout;
    let schema = batch.schema();
    let sorted = sort_batch(batch, &layout.sort_columns(&schema))?;
    let folder = context.root().tombstone_dir();
    let mut writer = new_writer(context, folder, &schema, u64::MAX, layout.tombstone_keys())
        .with_name_prefix(attempt.tombstone_file_prefix());
    writer.write(&sorted).await?;
    let files = writer.finish().await?;
    let Some(file) = files.into_iter().next() else {
        return Err(MergeError::Arrow {
            context: "writing tombstones",
            source: ArrowError::ComputeError("no file written".into()),
        });
    };
    let io = WriteIo {
        files_written: 1,
        bytes_written: file.size,
        ..WriteIo::default()
    };
    let tombstone = TombstoneFile {
        name: file.name,
        created_at: context.now,
        rows: file.rows,
        key_ranges: file.key_ranges,
        size: file.size,
    };
    Ok((tombstone, io))
}
