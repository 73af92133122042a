//! The merge engine: applies a table's pending DMS files to its lake state and commits a new
//! snapshot. See docs/DESIGN.md §6–§8 for the total order, the storage modes and the commit
//! protocol this implements.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatchOptions, StringArray, UInt32Array,
};
use arrow::compute::SortColumn;
use arrow::compute::{
    CastOptions, cast_with_options, concat_batches, filter_record_batch, lexsort_to_indices, take,
    take_record_batch,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;
use thiserror::Error;

use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::lake::change_order::{ChangeOrderError, CommitTimes, FileOrdering, order_column};
use crate::lake::dms_reader::{
    ChangeFileRef, ChangeOp, FileChanges, ReadError, RecordedVersion, read_change_file,
};
use crate::lake::key_ranges::{KeyBound, KeyRange, may_contain, row_bounds};
use crate::lake::lake_files::{LakeFileError, RollingWriter, StoredFile, writer_properties};
use crate::lake::partitioning::{
    PartitionError, PartitionLimitError, PartitionValues, assign_partitions, identity_column,
};
use crate::lake::paths::{self, Attempt, TableRoot};
use crate::lake::schema_evolution::{SchemaError, conform, evolve};
use crate::lake::snapshot::{
    self, AppliedFile, DataFile, PartitionState, SnapshotColumn, SnapshotError, TableSnapshot,
    TombstoneFile,
};
use crate::lake::sorted_merge::SortedMerge;
use crate::lake::table_config::{
    PartitionKeyClash, PartitionTransform, StorageMode, TableConfig, date_partition_key_clash,
    hive_type_name, meta_columns, mode_fields, parse_hive_type,
};

/// Rows per batch when streaming stored files and writing output.
const BATCH_ROWS: usize = 8192;
/// A touched partition with at least this many files under half the target size is compacted.
pub const COMPACTION_SMALL_FILES: usize = 4;

/// One pending DMS file of the table, in the table's file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingFile {
    /// File tracker id (`<order key>#<object version>`), recorded in the snapshot once applied.
    pub id: String,
    /// Object path in the staging store.
    pub path: Path,
    /// Full load or CDC.
    pub kind: FileKind,
    /// Encoding.
    pub format: FileFormat,
    /// The file's order key (dms_layout), the second part of the total order.
    pub order_key: String,
    /// The object version recorded when the file landed; only that version is read.
    pub version: RecordedVersion,
}

/// Where DMS files are read from and where the lake lives.
#[derive(Clone)]
pub struct LakeStores {
    /// The staging bucket (DMS output).
    pub staging: Arc<dyn ObjectStore>,
    /// The lake bucket.
    pub lake: Arc<dyn ObjectStore>,
}

/// Asked right before the commit point. A refusal aborts the refresh: nothing is committed and
/// the new partition folders stay unreferenced.
pub trait CommitGuard: Send + Sync {
    /// Confirms that this refresh may still commit (for the processor: that it still holds the
    /// table's lease); the error says why not.
    fn confirm(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// One refresh of one table.
#[derive(Clone, Copy)]
pub struct RefreshRequest<'a> {
    /// The table.
    pub config: &'a TableConfig,
    /// Pending files in file order (already applied ones are skipped).
    pub pending: &'a [PendingFile],
    /// Unique id of this attempt (`[A-Za-z0-9_-]`, ≤ [`paths::MAX_REFRESH_ID_LEN`]): names the new partition versions, so a
    /// retried refresh never mixes files with a crashed one.
    pub refresh_id: &'a str,
    /// The refresh's clock: tombstone and applied-file retention are measured against it.
    pub now: DateTime<Utc>,
    /// Checked right before the commit point, when set.
    pub commit_guard: Option<&'a dyn CommitGuard>,
    /// The refresh's memory budget: files are read in order while their decompressed size fits
    /// in what is left of it (what each decoded file holds in memory is subtracted); later files
    /// are left for the next refresh. A first file larger than the whole budget fails the
    /// refresh with [`ReadError::TooLarge`].
    pub max_input_bytes: u64,
}

/// What a refresh did to the table's rows. `changes_read` = effects + `ignored` + `superseded`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshCounts {
    /// Change rows read from the applied files.
    pub changes_read: u64,
    /// Rows added: new keys (current), appended changes (history), new versions (scd2).
    pub inserted: u64,
    /// Existing rows replaced: existing keys (current), closed or re-linked versions (scd2).
    pub updated: u64,
    /// Existing keys removed (current).
    pub deleted: u64,
    /// Changes that changed nothing: not newer than the stored row or tombstone, duplicates, and
    /// deletes of keys the table does not hold.
    pub ignored: u64,
    /// Changes overtaken by a later change of the same key in the same refresh (current).
    pub superseded: u64,
}

/// How much a refresh read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefreshIo {
    /// DMS files applied.
    pub dms_files_applied: u64,
    /// Stored files skipped by their key ranges in the snapshot.
    pub files_pruned_by_range: u64,
    /// Stored files whose footer was read and whose bloom filters excluded every changed key.
    pub files_pruned_by_bloom: u64,
    /// Stored files (or tombstone files) whose key columns were decoded to look up keys.
    pub files_scanned: u64,
    /// Stored files decoded and rewritten (they held changed keys, or were compacted).
    pub files_rewritten: u64,
    /// Stored files copied unchanged into a new partition version.
    pub files_copied: u64,
    /// Parquet files written.
    pub files_written: u64,
    /// Bytes of Parquet written.
    pub bytes_written: u64,
    /// Partition versions written.
    pub partitions_written: u64,
}

/// The committed result of a refresh, for the caller to publish (Glue) and record (tracker).
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The committed snapshot version.
    pub version: u64,
    /// The snapshot document.
    pub snapshot_path: Path,
    /// Partitions with a new version (publish these locations).
    pub partitions_written: Vec<PartitionState>,
    /// Partitions that became empty (drop them from the catalog).
    pub partitions_dropped: Vec<PartitionValues>,
    /// Partition folders no longer referenced (garbage after a grace period).
    pub replaced_locations: Vec<String>,
    /// Whether the table's columns changed.
    pub schema_changed: bool,
    /// Tracker ids of the files this commit applied.
    pub applied_files: Vec<String>,
}

/// Result of one refresh.
#[derive(Debug, Clone)]
pub struct RefreshOutcome {
    /// The table state after the refresh (the previous one when nothing was committed).
    pub snapshot: TableSnapshot,
    /// The commit, or `None` when every pending file was already applied.
    pub commit: Option<Commit>,
    /// What happened to the rows.
    pub counts: RefreshCounts,
    /// I/O figures.
    pub io: RefreshIo,
    /// Pending files that the snapshot already contained (a rerun after a crash).
    pub already_applied: Vec<String>,
    /// Pending files whose recorded object version no longer exists (overwritten or deleted):
    /// superseded, never applied.
    pub superseded: Vec<String>,
    /// Pending files left for the next refresh because the memory budget was spent.
    pub deferred: Vec<String>,
}

/// A refresh failed; nothing was committed and the previous snapshot is intact.
#[derive(Debug, Error)]
pub enum MergeError {
    /// A DMS file is malformed (not retryable; names file, row, column).
    #[error(transparent)]
    BadFile(#[from] ReadError),
    /// A file's ordering column is unusable.
    #[error("{file}: {source}")]
    BadOrdering {
        /// The DMS file.
        file: String,
        /// The problem.
        #[source]
        source: ChangeOrderError,
    },
    /// A file's schema cannot be merged into the table's (the table stops; nothing is lost).
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// A column has a type the lake cannot store.
    #[error(
        "{file}: column `{column}` has type {data_type}, which has no Hive type; fix: cast it with a DMS transformation rule"
    )]
    UnsupportedType {
        /// The DMS file.
        file: String,
        /// The column.
        column: String,
        /// Its arrow type.
        data_type: String,
    },
    /// A configured column (key, ordering, partition) is missing from the data.
    #[error(
        "column `{column}` ({role}) is in the table configuration but not in the data (first file: {file}); fix: correct the configuration or the DMS task"
    )]
    MissingColumn {
        /// The column.
        column: String,
        /// Why it is needed.
        role: &'static str,
        /// The first DMS file of the refresh.
        file: String,
    },
    /// A change whose primary key is null (or lacks a key column) cannot identify a row.
    #[error(
        "{file}: row {row}, column `{column}`: the primary-key value is null, so the change cannot identify a row; fix: check that the DMS task writes every key column (a before-image keeps the key), correct the file, and retry it"
    )]
    NullKey {
        /// The DMS file.
        file: String,
        /// 1-based row in the file.
        row: usize,
        /// The key column.
        column: String,
    },
    /// A date transform's partition key is also a column of the data (its files carry no
    /// declared columns, so the configuration could not check it).
    #[error("table {table}: {}; fix: {}", clash.problem(), clash.fix())]
    PartitionKeyClash {
        /// `schema.table`.
        table: String,
        /// The clash (boxed: the variant stays small).
        clash: Box<PartitionKeyClash>,
    },
    /// A row's partition cannot be stored: its value is longer than AWS Glue accepts or its
    /// object keys longer than S3 accepts.
    #[error("{file}: row {row}: table {table}: {problem}")]
    PartitionLimit {
        /// `schema.table`.
        table: String,
        /// The DMS file carrying the value.
        file: String,
        /// 1-based row in the file.
        row: usize,
        /// Which limit, and the fix.
        #[source]
        problem: PartitionLimitError,
    },
    /// A partition value cannot be computed.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// Reading or writing lake Parquet failed.
    #[error(transparent)]
    LakeFile(#[from] LakeFileError),
    /// Reading or committing the snapshot failed (including a lost commit race).
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The commit guard refused the commit (e.g. the processor lost its lease); nothing was
    /// committed.
    #[error("the refresh was not committed: {0}")]
    CommitRefused(String),
    /// The refresh id cannot name files.
    #[error("refresh id {0:?} must be 1-64 characters from [A-Za-z0-9_-]")]
    BadRefreshId(String),
    /// An arrow kernel failed (a bug or an impossible batch).
    #[error("arrow error while {context}: {source}")]
    Arrow {
        /// What the engine was doing.
        context: &'static str,
        /// The error.
        #[source]
        source: ArrowError,
    },
}

impl From<ArrowError> for MergeError {
    fn from(source: ArrowError) -> Self {
        MergeError::Arrow {
            context: "merging",
            source,
        }
    }
}

impl MergeError {
    /// The DMS file (staging path) this error is about, when a file's content caused it (and
    /// not the store, the configuration or the lake). Such a file fails the same way until it is
    /// fixed, so the processor counts its failures and may quarantine it. A value too long for a
    /// partition is the file's content too: the fix is the data or `partition_by`, and the
    /// files before it can still be applied.
    pub fn bad_file(&self) -> Option<&str> {
        match self {
            MergeError::BadFile(ReadError::Storage { .. }) => None,
            MergeError::BadFile(e) => Some(e.file()),
            MergeError::BadOrdering { file, .. }
            | MergeError::UnsupportedType { file, .. }
            | MergeError::NullKey { file, .. }
            | MergeError::PartitionLimit { file, .. }
            | MergeError::Schema(
                SchemaError::Incompatible { file, .. } | SchemaError::DuplicateColumn { file, .. },
            ) => Some(file),
            MergeError::Schema(
                SchemaError::UnexpectedColumn { .. }
                | SchemaError::NotWidening { .. }
                | SchemaError::Arrow(_),
            )
            | MergeError::MissingColumn { .. }
            | MergeError::PartitionKeyClash { .. }
            | MergeError::Partition(_)
            | MergeError::LakeFile(_)
            | MergeError::Snapshot(_)
            | MergeError::CommitRefused(_)
            | MergeError::BadRefreshId(_)
            | MergeError::Arrow { .. } => None,
        }
    }

    /// Whether the cause lies with the table — its configuration, its lake files or snapshots,
    /// or the commit being refused — so that applying fewer files would fail the same way.
    /// Errors that are neither this, [`MergeError::bad_file`] nor retryable come from the data
    /// of some file of the refresh that the error does not name.
    pub fn is_table_problem(&self) -> bool {
        matches!(
            self,
            MergeError::MissingColumn { .. }
                | MergeError::PartitionKeyClash { .. }
                | MergeError::LakeFile(_)
                | MergeError::Snapshot(_)
                | MergeError::CommitRefused(_)
                | MergeError::BadRefreshId(_)
        )
    }

    /// Whether retrying the same refresh can succeed (storage trouble), as opposed to an input or
    /// configuration problem that needs a fix.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MergeError::LakeFile(LakeFileError::Storage { .. })
                | MergeError::Snapshot(
                    SnapshotError::Storage { .. } | SnapshotError::Conflict { .. }
                )
                | MergeError::BadFile(ReadError::Storage { .. })
        )
    }
}

fn arrow(context: &'static str) -> impl Fn(ArrowError) -> MergeError {
    move |source| MergeError::Arrow { context, source }
}

/// Applies `request.pending` to the table and commits a new snapshot.
pub async fn refresh(
    stores: &LakeStores,
    request: RefreshRequest<'_>,
) -> Result<RefreshOutcome, MergeError> {
    let config = request.config;
    if !paths::is_valid_refresh_id(request.refresh_id) {
        return Err(MergeError::BadRefreshId(request.refresh_id.to_owned()));
    }
    let previous =
        snapshot::load_latest(&*stores.lake, &config.location, &config.table_id()).await?;
    let mut seen = HashSet::new();
    let mut todo = Vec::new();
    let mut already_applied = Vec::new();
    for file in request.pending {
        if previous.has_applied(&file.id) {
            already_applied.push(file.id.clone());
        } else if seen.insert(file.id.as_str()) {
            todo.push(file);
        }
    }
    let mut io = RefreshIo::default();
    let read = read_within_budget(stores, config, &todo, request.max_input_bytes).await?;
    if read.inputs.is_empty() {
        return Ok(RefreshOutcome {
            snapshot: previous,
            commit: None,
            counts: RefreshCounts::default(),
            io,
            already_applied,
            superseded: read.superseded,
            deferred: read.deferred,
        });
    }
    let inputs = read.inputs;
    io.dms_files_applied = inputs.len() as u64;
    let layout = Layout::new(config, &previous, &inputs)?;
    let changes = layout.change_batch(config, &inputs)?;
    let mut work = Refresh {
        stores,
        config,
        layout: &layout,
        snapshot: &previous,
        io,
        now: request.now,
        commit_guard: request.commit_guard,
    };
    let plan = match config.mode {
        StorageMode::Current => work.plan_current(&changes).await?,
        StorageMode::History => work.plan_history(&changes)?,
        StorageMode::Scd2 => work.plan_scd2(&changes).await?,
    };
    let applied: Vec<String> = inputs.iter().map(|(f, _)| f.id.clone()).collect();
    let (snapshot, commit) = work.apply(plan, request.refresh_id, applied).await?;
    Ok(RefreshOutcome {
        snapshot,
        commit: Some(commit.0),
        counts: commit.1,
        io: work.io,
        already_applied,
        superseded: read.superseded,
        deferred: read.deferred,
    })
}

/// The files a refresh read, and those it did not apply.
struct ReadFiles<'p> {
    /// Files read, in order, with their changes.
    inputs: Vec<(&'p PendingFile, FileChanges)>,
    /// Ids of files whose recorded version no longer exists.
    superseded: Vec<String>,
    /// Ids of files left for the next refresh (the budget was spent).
    deferred: Vec<String>,
}

/// Reads `todo` in order while the memory budget lasts: each file may decompress to what is
/// left of `budget`, and what its decoded changes hold in memory is subtracted. The first file
/// read gets the whole budget, so only a file larger than the budget on its own fails.
async fn read_within_budget<'p>(
    stores: &LakeStores,
    config: &TableConfig,
    todo: &[&'p PendingFile],
    budget: u64,
) -> Result<ReadFiles<'p>, MergeError> {
    let mut read = ReadFiles {
        inputs: Vec::with_capacity(todo.len()),
        superseded: Vec::new(),
        deferred: Vec::new(),
    };
    let mut left = budget;
    for (index, file) in todo.iter().enumerate() {
        let reference = ChangeFileRef {
            path: &file.path,
            kind: file.kind,
            format: file.format,
            version: &file.version,
            max_bytes: left,
        };
        match read_change_file(&*stores.staging, &reference, &config.input).await {
            Ok(changes) => {
                let held = changes.columns.get_array_memory_size() + changes.ops.len();
                left = left.saturating_sub(held as u64);
                read.inputs.push((*file, changes));
            }
            Err(ReadError::VersionGone { .. }) => read.superseded.push(file.id.clone()),
            Err(ReadError::TooLarge { .. }) if !read.inputs.is_empty() => {
                read.deferred = todo.iter().skip(index).map(|f| f.id.clone()).collect();
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(read)
}

/// Schemas and column positions of one refresh.
struct Layout {
    /// Source columns (evolved).
    source: SchemaRef,
    /// Lake rows: source columns plus the mode's columns.
    rows: SchemaRef,
    /// Stored files: `rows` without identity partition columns.
    file: SchemaRef,
    /// Key columns: names and types.
    key_fields: Vec<(String, DataType)>,
    /// Hive types of the key columns.
    key_hive_types: Vec<String>,
    /// Decodes keys into comparable bytes.
    key_converter: RowConverter,
    /// Whether the table schema changed.
    schema_changed: bool,
    /// The snapshot's view of the schema.
    columns: Vec<SnapshotColumn>,
}

impl Layout {
    fn new(
        config: &TableConfig,
        previous: &TableSnapshot,
        inputs: &[(&PendingFile, FileChanges)],
    ) -> Result<Layout, MergeError> {
        let first_file = inputs
            .first()
            .map(|(f, _)| f.path.to_string())
            .unwrap_or_default();
        let mut fields: Vec<Field> = if previous.columns.is_empty() {
            config.input.columns.clone()
        } else {
            previous
                .columns
                .iter()
                .map(|c| {
                    parse_hive_type(&c.hive_type)
                        .map(|t| Field::new(c.name.clone(), t, true))
                        .ok_or_else(|| {
                            MergeError::Snapshot(SnapshotError::Corrupt {
                                path: TableRoot::new(&config.location)
                                    .snapshot(previous.version)
                                    .to_string(),
                                detail: format!(
                                    "column {} has unknown type {}",
                                    c.name, c.hive_type
                                ),
                            })
                        })
                })
                .collect::<Result<_, _>>()?
        };
        for (file, changes) in inputs {
            let schema = changes.columns.schema();
            for field in schema.fields() {
                if hive_type_name(field.data_type()).is_none()
                    && field.data_type() != &DataType::Null
                {
                    return Err(MergeError::UnsupportedType {
                        file: file.path.to_string(),
                        column: field.name().clone(),
                        data_type: field.data_type().to_string(),
                    });
                }
            }
            let evolved = evolve(&Schema::new(fields.clone()), &schema, file.path.as_ref())?;
            fields = evolved
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
        }
        let source = Arc::new(Schema::new(fields));
        if let Some(clash) = date_partition_key_clash(
            &config.partition_fields,
            config.date_partition_style,
            source.fields().iter().map(|f| f.name().as_str()),
        ) {
            return Err(MergeError::PartitionKeyClash {
                table: config.table_id(),
                clash: Box::new(clash),
            });
        }
        let require = |column: &str, role: &'static str| -> Result<(), MergeError> {
            source
                .index_of(column)
                .map(|_| ())
                .map_err(|_| MergeError::MissingColumn {
                    column: column.to_owned(),
                    role,
                    file: first_file.clone(),
                })
        };
        for key in &config.primary_key {
            require(key, "primary key")?;
        }
        for field in &config.partition_fields {
            require(&field.column, "partition source")?;
        }
        if let Some(column) = &config.commit_timestamp_column
            && config.mode == StorageMode::Scd2
        {
            require(column, "commit timestamp")?;
        }
        let mut row_fields: Vec<Field> =
            source.fields().iter().map(|f| f.as_ref().clone()).collect();
        row_fields.extend(mode_fields(config.mode));
        let identity: HashSet<&str> = config
            .partition_fields
            .iter()
            .filter(|f| f.transform == PartitionTransform::Identity)
            .map(|f| f.column.as_str())
            .collect();
        let file_fields: Vec<Field> = row_fields
            .iter()
            .filter(|f| !identity.contains(f.name().as_str()))
            .cloned()
            .collect();
        let key_fields: Vec<(String, DataType)> = config
            .primary_key
            .iter()
            .filter_map(|k| {
                source
                    .field_with_name(k)
                    .ok()
                    .map(|f| (k.clone(), f.data_type().clone()))
            })
            .collect();
        let key_hive_types = key_fields
            .iter()
            .map(|(_, t)| hive_type_name(t).unwrap_or_default())
            .collect();
        let key_converter = RowConverter::new(
            key_fields
                .iter()
                .map(|(_, t)| SortField::new(t.clone()))
                .collect(),
        )
        .map_err(arrow("preparing key encoding"))?;
        let columns: Vec<SnapshotColumn> = source
            .fields()
            .iter()
            .map(|f| SnapshotColumn {
                name: f.name().clone(),
                hive_type: hive_type_name(f.data_type()).unwrap_or_else(|| "string".to_owned()),
            })
            .collect();
        Ok(Layout {
            schema_changed: columns != previous.columns,
            source,
            rows: Arc::new(Schema::new(row_fields)),
            file: Arc::new(Schema::new(file_fields)),
            key_fields,
            key_hive_types,
            key_converter,
            columns,
        })
    }

    /// All changes of the refresh: source columns, `cdc_op`, `cdc_order`, and in scd2 the
    /// commit time as `valid_from`. Each file's rows are checked on the way ([`check_rows`]).
    fn change_batch(
        &self,
        config: &TableConfig,
        inputs: &[(&PendingFile, FileChanges)],
    ) -> Result<RecordBatch, MergeError> {
        let time = DataType::Timestamp(TimeUnit::Microsecond, None);
        let mut fields: Vec<Field> = self
            .source
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(meta_columns::OP, DataType::Utf8, true));
        fields.push(Field::new(meta_columns::ORDER, DataType::Utf8, true));
        if config.mode == StorageMode::Scd2 {
            fields.push(Field::new(meta_columns::VALID_FROM, time.clone(), true));
        }
        let schema = Arc::new(Schema::new(fields));
        let mut batches = Vec::with_capacity(inputs.len());
        for (file, changes) in inputs {
            let conformed = conform(&changes.columns, &self.source)?;
            check_rows(config, file, &conformed, &changes.ops)?;
            let bad_ordering = |source| MergeError::BadOrdering {
                file: file.path.to_string(),
                source,
            };
            let commit_times = config
                .commit_timestamp_column
                .as_deref()
                .and_then(|name| changes.columns.column_by_name(name).map(|c| (name, c)))
                .map(|(name, values)| CommitTimes::parse(name, values))
                .transpose()
                .map_err(bad_ordering)?;
            let rows = changes.columns.num_rows();
            let ordering = file_ordering(config, file, &changes.columns, commit_times.as_ref());
            let order = order_column(rows, ordering, &file.order_key).map_err(bad_ordering)?;
            let ops: StringArray = changes.ops.iter().map(|op| Some(op.as_str())).collect();
            let mut columns = conformed.columns().to_vec();
            columns.push(Arc::new(ops));
            columns.push(Arc::new(order));
            if config.mode == StorageMode::Scd2 {
                columns.push(match &commit_times {
                    Some(times) => Arc::new(times.micros()),
                    None => arrow::array::new_null_array(&time, rows),
                });
            }
            batches.push(
                RecordBatch::try_new(Arc::clone(&schema), columns)
                    .map_err(arrow("assembling changes"))?,
            );
        }
        concat_batches(&schema, &batches).map_err(arrow("assembling changes"))
    }

    fn encode_keys(&self, batch: &RecordBatch) -> Result<Rows, MergeError> {
        let columns = self
            .key_fields
            .iter()
            .map(|(name, data_type)| {
                let column = column(batch, name, "encoding keys")?;
                if column.data_type() == data_type {
                    Ok(Arc::clone(column))
                } else {
                    cast_with_options(column, data_type, &CastOptions::default())
                        .map_err(arrow("widening a stored key"))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.key_converter
            .convert_columns(&columns)
            .map_err(arrow("encoding keys"))
    }

    /// Sort columns of stored files: key columns present in the file, then `cdc_order`.
    fn sort_columns(&self, schema: &SchemaRef) -> Vec<usize> {
        self.key_fields
            .iter()
            .map(|(name, _)| name.as_str())
            .chain([meta_columns::ORDER])
            .filter_map(|name| schema.index_of(name).ok())
            .collect()
    }

    fn sort_names(&self) -> Vec<String> {
        self.key_fields
            .iter()
            .map(|(n, _)| n.clone())
            .chain([meta_columns::ORDER.to_owned()])
            .collect()
    }
}

/// Changed keys of a refresh: encoded key → slot, with each slot's key bounds.
struct KeyIndex {
    slots: HashMap<Box<[u8]>, usize>,
    bounds: Vec<Vec<Option<KeyBound>>>,
    /// Slot of every change row.
    row_slot: Vec<usize>,
}

impl KeyIndex {
    fn build(layout: &Layout, changes: &RecordBatch) -> Result<KeyIndex, MergeError> {
        let keys = layout.encode_keys(changes)?;
        let mut slots: HashMap<Box<[u8]>, usize> = HashMap::with_capacity(changes.num_rows());
        let mut first_rows = Vec::new();
        let mut row_slot = Vec::with_capacity(changes.num_rows());
        for row in 0..changes.num_rows() {
            let next = slots.len();
            let slot = *slots.entry(keys.row(row).as_ref().into()).or_insert(next);
            if slot == next {
                first_rows.push(row as u32);
            }
            row_slot.push(slot);
        }
        let indices = UInt32Array::from(first_rows);
        let key_columns = layout
            .key_fields
            .iter()
            .map(|(name, _)| {
                let column = column(changes, name, "collecting keys")?;
                take(column, &indices, None).map_err(arrow("collecting keys"))
            })
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        Ok(KeyIndex {
            slots,
            bounds: row_bounds(&key_columns),
            row_slot,
        })
    }

    fn len(&self) -> usize {
        self.bounds.len()
    }

    /// Slots whose key may be in a file with `ranges`.
    fn in_range(&self, ranges: Option<&[KeyRange]>, hive_types: &[String]) -> Vec<usize> {
        (0..self.bounds.len())
            .filter(|slot| {
                self.bounds
                    .get(*slot)
                    .is_some_and(|key| may_contain(ranges, hive_types, key))
            })
            .collect()
    }
}

/// The effect of a refresh, before it is written.
#[derive(Default)]
struct Plan {
    /// Encoded keys whose stored rows are removed.
    remove_keys: HashSet<Box<[u8]>>,
    /// Stored files (partition path, file name) holding such rows.
    rewrite: HashSet<(String, String)>,
    /// New lake rows (row schema).
    additions: Option<RecordBatch>,
    /// New tombstones: key columns and `cdc_order`.
    tombstones: Option<RecordBatch>,
    counts: RefreshCounts,
}

struct Refresh<'a> {
    stores: &'a LakeStores,
    config: &'a TableConfig,
    layout: &'a Layout,
    snapshot: &'a TableSnapshot,
    io: RefreshIo,
    now: DateTime<Utc>,
    commit_guard: Option<&'a dyn CommitGuard>,
}

/// A row of a stored file that holds a changed key.
struct StoredMatch<'b> {
    slot: usize,
    batch: &'b RecordBatch,
    row: usize,
    partition: &'b str,
    file: &'b str,
}

impl<'a> Refresh<'a> {
    fn retention_start(&self) -> DateTime<Utc> {
        let retention = chrono::Duration::from_std(self.config.tombstone_retention)
            .unwrap_or(chrono::Duration::days(7));
        self.now - retention
    }

    /// Reads the stored rows of changed keys: every data file whose ranges and bloom filters may
    /// hold one, only the row groups that may, only `columns`.
    async fn scan_data_files(
        &mut self,
        keys: &KeyIndex,
        columns: &SchemaRef,
        mut on_match: impl FnMut(StoredMatch<'_>),
    ) -> Result<(), MergeError> {
        let snapshot = self.snapshot;
        for partition in &snapshot.partitions {
            let path = partition.values.path();
            for file in &partition.files {
                let location = TableRoot::new(&self.config.location)
                    .data_file(&partition.location, &file.name);
                let found = self
                    .scan_file(
                        keys,
                        location,
                        file.size,
                        file.key_ranges.as_deref(),
                        columns,
                        Some(&partition.values),
                    )
                    .await?;
                for batch in &found {
                    let encoded = self.layout.encode_keys(batch)?;
                    for row in 0..batch.num_rows() {
                        if let Some(slot) = keys.slots.get(encoded.row(row).as_ref()) {
                            on_match(StoredMatch {
                                slot: *slot,
                                batch,
                                row,
                                partition: &path,
                                file: &file.name,
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The batches of one stored file that may hold changed keys (conformed to `columns`).
    async fn scan_file(
        &mut self,
        keys: &KeyIndex,
        location: Path,
        size: u64,
        ranges: Option<&[KeyRange]>,
        columns: &SchemaRef,
        partition: Option<&PartitionValues>,
    ) -> Result<Vec<RecordBatch>, MergeError> {
        let candidates = keys.in_range(ranges, &self.layout.key_hive_types);
        if candidates.is_empty() {
            self.io.files_pruned_by_range += 1;
            return Ok(Vec::new());
        }
        let mut stored =
            StoredFile::open(Arc::clone(&self.stores.lake), location.clone(), size).await?;
        let probe: Vec<&[Option<KeyBound>]> = candidates
            .iter()
            .filter_map(|slot| keys.bounds.get(*slot).map(Vec::as_slice))
            .collect();
        let row_groups = stored
            .row_groups_with_any(&self.layout.key_fields, &probe)
            .await?;
        if row_groups.is_empty() {
            self.io.files_pruned_by_bloom += 1;
            return Ok(Vec::new());
        }
        self.io.files_scanned += 1;
        let names: Vec<String> = columns.fields().iter().map(|f| f.name().clone()).collect();
        let path = location.to_string();
        let mut stream = stored.stream(Some(&names), Some(row_groups), BATCH_ROWS)?;
        let mut batches = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|source| LakeFileError::Parquet {
                path: path.clone(),
                source,
            })?;
            batches.push(with_identity_columns(
                self.config,
                &conform(&batch, columns)?,
                partition,
            )?);
        }
        Ok(batches)
    }

    /// The newest tombstone order of each changed key (within the retention).
    async fn scan_tombstones(
        &mut self,
        keys: &KeyIndex,
    ) -> Result<Vec<Option<String>>, MergeError> {
        let mut newest: Vec<Option<String>> = vec![None; keys.len()];
        let columns = tombstone_schema(self.layout);
        let start = self.retention_start();
        let live: Vec<TombstoneFile> = self
            .snapshot
            .tombstones
            .iter()
            .filter(|t| t.created_at >= start)
            .cloned()
            .collect();
        for tombstone in live {
            let location = TableRoot::new(&self.config.location).tombstone_file(&tombstone.name);
            let batches = self
                .scan_file(
                    keys,
                    location,
                    tombstone.size,
                    tombstone.key_ranges.as_deref(),
                    &columns,
                    None,
                )
                .await?;
            for batch in &batches {
                let encoded = self.layout.encode_keys(batch)?;
                let orders = order_values(batch)?;
                for row in 0..batch.num_rows() {
                    if let Some(slot) = keys.slots.get(encoded.row(row).as_ref())
                        && let Some(entry) = newest.get_mut(*slot)
                    {
                        let order = orders.value(row);
                        if entry.as_deref().is_none_or(|current| order > current) {
                            *entry = Some(order.to_owned());
                        }
                    }
                }
            }
        }
        Ok(newest)
    }

    /// Current mode: per key, the newest change wins if it is newer than the stored row and any
    /// tombstone.
    async fn plan_current(&mut self, changes: &RecordBatch) -> Result<Plan, MergeError> {
        let keys = KeyIndex::build(self.layout, changes)?;
        let orders = order_values(changes)?;
        let ops = op_values(changes)?;
        let mut winner: Vec<usize> = vec![usize::MAX; keys.len()];
        for (row, slot) in keys.row_slot.iter().enumerate() {
            if let Some(best) = winner.get_mut(*slot)
                && (*best == usize::MAX || orders.value(row) > orders.value(*best))
            {
                *best = row;
            }
        }
        let key_schema = key_order_schema(self.layout);
        let mut stored_order: Vec<Option<String>> = vec![None; keys.len()];
        let mut holders: Vec<Vec<(String, String)>> = vec![Vec::new(); keys.len()];
        self.scan_data_files(&keys, &key_schema, |found| {
            if let (Some(order), Some(holder)) = (
                stored_order.get_mut(found.slot),
                holders.get_mut(found.slot),
            ) {
                let value = found
                    .batch
                    .column_by_name(meta_columns::ORDER)
                    .map(|c| c.as_string::<i32>().value(found.row));
                if let Some(value) = value
                    && order.as_deref().is_none_or(|current| value > current)
                {
                    *order = Some(value.to_owned());
                }
                holder.push((found.partition.to_owned(), found.file.to_owned()));
            }
        })
        .await?;
        let tombstones = self.scan_tombstones(&keys).await?;

        let mut plan = Plan::default();
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        let mut applied = vec![false; keys.len()];
        let mut base: Vec<Option<&str>> = Vec::with_capacity(keys.len());
        for slot in 0..keys.len() {
            let stored = stored_order.get(slot).and_then(Option::as_deref);
            let tomb = tombstones.get(slot).and_then(Option::as_deref);
            base.push(stored.max(tomb));
        }
        let encoded = self.layout.encode_keys(changes)?;
        for (slot, &row) in winner.iter().enumerate() {
            let newer = base
                .get(slot)
                .copied()
                .flatten()
                .is_none_or(|b| orders.value(row) > b);
            if !newer {
                continue;
            }
            let exists = stored_order.get(slot).is_some_and(Option::is_some);
            let is_delete = ops.value(row) == "D";
            match (is_delete, exists) {
                (true, true) => plan.counts.deleted += 1,
                (true, false) => plan.counts.ignored += 1,
                (false, true) => plan.counts.updated += 1,
                (false, false) => plan.counts.inserted += 1,
            }
            if let Some(flag) = applied.get_mut(slot) {
                *flag = true;
            }
            if is_delete {
                deletes.push(row as u32);
            } else {
                upserts.push(row as u32);
            }
            if exists {
                plan.remove_keys.insert(encoded.row(row).as_ref().into());
                plan.rewrite
                    .extend(holders.get(slot).into_iter().flatten().cloned());
            }
        }
        for (row, slot) in keys.row_slot.iter().enumerate() {
            if applied.get(*slot).copied().unwrap_or(false) && winner.get(*slot) == Some(&row) {
                continue;
            }
            let stale = base
                .get(*slot)
                .copied()
                .flatten()
                .is_some_and(|b| orders.value(row) <= b);
            let duplicate = winner
                .get(*slot)
                .is_some_and(|w| *w != row && orders.value(*w) == orders.value(row));
            if stale || duplicate || !applied.get(*slot).copied().unwrap_or(false) {
                plan.counts.ignored += 1;
            } else {
                plan.counts.superseded += 1;
            }
        }
        plan.counts.changes_read = changes.num_rows() as u64;
        let rows = project(changes, &self.layout.rows)?;
        plan.additions = Some(take_rows(&rows, upserts)?);
        plan.tombstones = Some(take_rows(
            &project(changes, &tombstone_schema(self.layout))?,
            deletes,
        )?);
        Ok(plan)
    }

    /// History mode: every change is appended.
    fn plan_history(&mut self, changes: &RecordBatch) -> Result<Plan, MergeError> {
        let rows = changes.num_rows() as u64;
        Ok(Plan {
            additions: Some(project(changes, &self.layout.rows)?),
            counts: RefreshCounts {
                changes_read: rows,
                inserted: rows,
                ..RefreshCounts::default()
            },
            ..Plan::default()
        })
    }

    /// SCD2 mode: every change is a version; the versions of each changed key are re-linked
    /// (`valid_to` = the next version's `valid_from`) in the total order.
    async fn plan_scd2(&mut self, changes: &RecordBatch) -> Result<Plan, MergeError> {
        let keys = KeyIndex::build(self.layout, changes)?;
        let rows_schema = Arc::clone(&self.layout.rows);
        let mut stored_parts: Vec<RecordBatch> = Vec::new();
        let mut stored_slots: Vec<usize> = Vec::new();
        let mut holders: Vec<Vec<(String, String)>> = vec![Vec::new(); keys.len()];
        let mut found_rows: Vec<(usize, RecordBatch, u32)> = Vec::new();
        self.scan_data_files(&keys, &rows_schema, |found| {
            found_rows.push((found.slot, found.batch.clone(), found.row as u32));
            if let Some(holder) = holders.get_mut(found.slot) {
                holder.push((found.partition.to_owned(), found.file.to_owned()));
            }
        })
        .await?;
        for (slot, batch, row) in found_rows {
            stored_parts.push(
                take_record_batch(&batch, &UInt32Array::from(vec![row]))
                    .map_err(arrow("collecting versions"))?,
            );
            stored_slots.push(slot);
        }
        let new_versions = self.scd2_versions(changes)?;
        stored_parts.push(new_versions);
        let pool =
            concat_batches(&rows_schema, &stored_parts).map_err(arrow("collecting versions"))?;
        let stored_count = stored_slots.len();
        let mut pool_slot = stored_slots;
        pool_slot.extend(keys.row_slot.iter().copied());
        let orders = order_values(&pool)?;
        let mut chains: Vec<Vec<usize>> = vec![Vec::new(); keys.len()];
        for (index, slot) in pool_slot.iter().enumerate() {
            if let Some(chain) = chains.get_mut(*slot) {
                chain.push(index);
            }
        }
        let mut plan = Plan::default();
        plan.counts.changes_read = changes.num_rows() as u64;
        let valid_from = pool.column_by_name(meta_columns::VALID_FROM).map(|c| {
            c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .clone()
        });
        let valid_to = pool.column_by_name(meta_columns::VALID_TO).map(|c| {
            c.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .clone()
        });
        let current = pool
            .column_by_name(meta_columns::IS_CURRENT)
            .map(|c| c.as_boolean().clone());
        let (Some(valid_from), Some(valid_to), Some(current)) = (valid_from, valid_to, current)
        else {
            return Err(MergeError::Arrow {
                context: "linking versions",
                source: ArrowError::SchemaError("scd2 columns missing".into()),
            });
        };
        let encoded = self.layout.encode_keys(&pool)?;
        let mut output: Vec<u32> = Vec::new();
        let mut out_valid_to: Vec<Option<i64>> = Vec::new();
        let mut out_current: Vec<bool> = Vec::new();
        for (slot, chain) in chains.iter_mut().enumerate() {
            chain.sort_by(|a, b| orders.value(*a).cmp(orders.value(*b)).then(a.cmp(b)));
            let before = chain.len();
            chain.dedup_by(|later, earlier| orders.value(*later) == orders.value(*earlier));
            plan.counts.ignored += (before - chain.len()) as u64;
            let new_in_chain = chain.iter().filter(|i| **i >= stored_count).count();
            if new_in_chain == 0 {
                continue;
            }
            plan.counts.inserted += new_in_chain as u64;
            let Some(&first) = chain.first() else {
                continue;
            };
            plan.remove_keys.insert(encoded.row(first).as_ref().into());
            plan.rewrite
                .extend(holders.get(slot).into_iter().flatten().cloned());
            for (position, &index) in chain.iter().enumerate() {
                let next = chain.get(position + 1);
                let to = next.and_then(|n| valid_from.is_valid(*n).then(|| valid_from.value(*n)));
                let is_current = next.is_none();
                if index < stored_count {
                    let old_to = valid_to.is_valid(index).then(|| valid_to.value(index));
                    if old_to != to || current.value(index) != is_current {
                        plan.counts.updated += 1;
                    }
                }
                output.push(index as u32);
                out_valid_to.push(to);
                out_current.push(is_current);
            }
        }
        let mut additions = take_rows(&pool, output)?;
        let mut columns = additions.columns().to_vec();
        let replace = |name: &str, array: ArrayRef, columns: &mut Vec<ArrayRef>| {
            if let Ok(index) = rows_schema.index_of(name)
                && let Some(slot) = columns.get_mut(index)
            {
                *slot = array;
            }
        };
        replace(
            meta_columns::VALID_TO,
            Arc::new(arrow::array::TimestampMicrosecondArray::from(out_valid_to)),
            &mut columns,
        );
        replace(
            meta_columns::IS_CURRENT,
            Arc::new(BooleanArray::from(out_current)),
            &mut columns,
        );
        additions = RecordBatch::try_new(Arc::clone(&rows_schema), columns)
            .map_err(arrow("linking versions"))?;
        plan.additions = Some(additions);
        Ok(plan)
    }

    /// The changes as SCD2 version rows (`valid_to`/`is_current` are filled when linked).
    fn scd2_versions(&self, changes: &RecordBatch) -> Result<RecordBatch, MergeError> {
        let time = DataType::Timestamp(TimeUnit::Microsecond, None);
        let rows = changes.num_rows();
        let ops = op_values(changes)?;
        let deleted: BooleanArray = ops.iter().map(|op| Some(op == Some("D"))).collect();
        let mut columns = Vec::with_capacity(self.layout.rows.fields().len());
        for field in self.layout.rows.fields() {
            let column: ArrayRef = match field.name().as_str() {
                meta_columns::VALID_FROM => Arc::clone(column(
                    changes,
                    meta_columns::VALID_FROM,
                    "building versions",
                )?),
                meta_columns::VALID_TO => arrow::array::new_null_array(&time, rows),
                meta_columns::IS_CURRENT => Arc::new(BooleanArray::from(vec![false; rows])),
                meta_columns::IS_DELETED => Arc::new(deleted.clone()),
                name => Arc::clone(column(changes, name, "building versions")?),
            };
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(&self.layout.rows), columns)
            .map_err(arrow("building versions"))
    }

    /// Writes the plan into new partition versions and commits the next snapshot.
    async fn apply(
        &mut self,
        plan: Plan,
        refresh_id: &str,
        applied: Vec<String>,
    ) -> Result<(TableSnapshot, (Commit, RefreshCounts)), MergeError> {
        let version = self.snapshot.version + 1;
        let mut additions: BTreeMap<String, (PartitionValues, RecordBatch)> = BTreeMap::new();
        if let Some(batch) = plan.additions.as_ref().filter(|b| b.num_rows() > 0) {
            let assignment = assign_partitions(
                batch,
                &self.config.partition_fields,
                self.config.date_partition_style,
            )?;
            let mut members: Vec<Vec<u32>> = vec![Vec::new(); assignment.partitions.len()];
            for (row, partition) in assignment.row_partition.iter().enumerate() {
                if let Some(list) = members.get_mut(*partition as usize) {
                    list.push(row as u32);
                }
            }
            for (values, rows) in assignment.partitions.into_iter().zip(members) {
                let part = sort_batch(
                    &take_rows(batch, rows)?,
                    &self.layout.sort_columns(&self.layout.rows),
                )?;
                additions.insert(values.path(), (values, part));
            }
        }
        let mut touched: BTreeMap<String, Option<PartitionValues>> = BTreeMap::new();
        for (partition, _) in &plan.rewrite {
            touched.insert(partition.clone(), None);
        }
        for (path, (values, _)) in &additions {
            touched.insert(path.clone(), Some(values.clone()));
        }
        let mut partitions: BTreeMap<String, PartitionState> = self
            .snapshot
            .partitions
            .iter()
            .map(|p| (p.values.path(), p.clone()))
            .collect();
        let mut written = Vec::new();
        let mut dropped = Vec::new();
        let mut replaced = Vec::new();
        for (path, values) in touched {
            let previous = partitions.remove(&path);
            let values = match (values, &previous) {
                (Some(values), _) => values,
                (None, Some(previous)) => previous.values.clone(),
                (None, None) => continue,
            };
            let new_rows = additions.remove(&path).map(|(_, batch)| batch);
            let state = self
                .write_partition(
                    &path,
                    values.clone(),
                    previous.as_ref(),
                    new_rows,
                    &plan,
                    version,
                    refresh_id,
                )
                .await?;
            if let Some(previous) = previous {
                replaced.push(previous.location);
            }
            match state {
                Some(state) => {
                    partitions.insert(path, state.clone());
                    written.push(state);
                }
                None => dropped.push(values),
            }
        }
        let start = self.retention_start();
        let mut tombstones: Vec<TombstoneFile> = self
            .snapshot
            .tombstones
            .iter()
            .filter(|t| t.created_at >= start)
            .cloned()
            .collect();
        if let Some(batch) = plan.tombstones.as_ref().filter(|b| b.num_rows() > 0) {
            tombstones.push(self.write_tombstones(batch, version, refresh_id).await?);
        }
        let mut applied_files: Vec<AppliedFile> = self
            .snapshot
            .applied_files
            .iter()
            .filter(|f| f.applied_at >= start)
            .cloned()
            .collect();
        applied_files.extend(applied.iter().map(|id| AppliedFile {
            id: id.clone(),
            refresh_id: refresh_id.to_owned(),
            applied_at: self.now,
        }));
        let next = TableSnapshot {
            format: snapshot::SNAPSHOT_FORMAT,
            table_id: self.config.table_id(),
            version,
            refresh_id: Some(refresh_id.to_owned()),
            committed_at: Some(self.now),
            columns: self.layout.columns.clone(),
            partitions: partitions.into_values().collect(),
            tombstones,
            applied_files,
        };
        if let Some(guard) = self.commit_guard {
            guard.confirm().await.map_err(MergeError::CommitRefused)?;
        }
        let snapshot_path =
            snapshot::commit(&*self.stores.lake, &self.config.location, &next).await?;
        let commit = Commit {
            version,
            snapshot_path,
            partitions_written: written,
            partitions_dropped: dropped,
            replaced_locations: replaced,
            schema_changed: self.layout.schema_changed,
            applied_files: applied,
        };
        Ok((next, (commit, plan.counts)))
    }

    /// Writes one partition's new version: files holding removed keys and small files are
    /// decoded and merged with the new rows; other files are copied.
    #[allow(clippy::too_many_arguments)]
    async fn write_partition(
        &mut self,
        path: &str,
        values: PartitionValues,
        previous: Option<&PartitionState>,
        new_rows: Option<RecordBatch>,
        plan: &Plan,
        version: u64,
        refresh_id: &str,
    ) -> Result<Option<PartitionState>, MergeError> {
        let attempt = Attempt {
            version,
            refresh_id,
        };
        let root = TableRoot::new(&self.config.location);
        let folder = attempt.partition_folder(path);
        let target = self.config.output.target_file_size_bytes;
        let files = previous.map(|p| p.files.as_slice()).unwrap_or_default();
        let small = files.iter().filter(|f| f.size < target / 2).count();
        let compact = small >= COMPACTION_SMALL_FILES;
        let mut inputs: Vec<BoxStream<'_, Result<RecordBatch, MergeError>>> = Vec::new();
        let mut kept = Vec::new();
        for file in files {
            let holds_removed = plan.rewrite.contains(&(path.to_owned(), file.name.clone()));
            let source = previous.map(|p| root.data_file(&p.location, &file.name));
            let Some(source) = source else { continue };
            if holds_removed || (compact && file.size < target / 2) {
                self.io.files_rewritten += 1;
                inputs.push(self.decode_stored(source, file.size, &values, &plan.remove_keys));
            } else {
                let destination = root.data_file(&folder, &file.name);
                self.stores
                    .lake
                    .copy(&source, &destination)
                    .await
                    .map_err(|source| LakeFileError::Storage {
                        path: destination.to_string(),
                        source,
                    })?;
                self.io.files_copied += 1;
                kept.push(file.clone());
            }
        }
        if let Some(rows) = new_rows {
            let projected = project(&rows, &self.layout.file)?;
            let chunks: Vec<Result<RecordBatch, MergeError>> = (0..projected.num_rows())
                .step_by(BATCH_ROWS)
                .map(|offset| {
                    Ok(projected.slice(offset, BATCH_ROWS.min(projected.num_rows() - offset)))
                })
                .collect();
            inputs.push(stream::iter(chunks).boxed());
        }
        let file_schema = Arc::clone(&self.layout.file);
        let key_names: Vec<String> = self
            .layout
            .key_fields
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| file_schema.index_of(n).is_ok())
            .collect();
        let key_indices: Vec<usize> = key_names
            .iter()
            .filter_map(|n| file_schema.index_of(n).ok())
            .collect();
        let key_hive_types: Vec<String> = key_names
            .iter()
            .filter_map(|n| {
                file_schema
                    .field_with_name(n)
                    .ok()
                    .and_then(|f| hive_type_name(f.data_type()))
            })
            .collect();
        let properties = writer_properties(
            &self.config.output,
            &file_schema,
            &self.layout.sort_names(),
            &key_names,
        );
        let folder_path = root.join(&folder);
        let mut writer = RollingWriter::new(
            Arc::clone(&self.stores.lake),
            folder_path,
            Arc::clone(&file_schema),
            properties,
            target,
            key_indices,
            key_hive_types,
        )
        .with_name_prefix(attempt.data_file_prefix());
        let mut merge = SortedMerge::new(
            inputs,
            &file_schema,
            self.layout.sort_columns(&file_schema),
            BATCH_ROWS,
        )?;
        while let Some(batch) = merge.next_batch().await? {
            writer.write(&batch).await?;
        }
        let new_files = writer.finish().await?;
        self.io.files_written += new_files.len() as u64;
        self.io.bytes_written += new_files.iter().map(|f| f.size).sum::<u64>();
        let mut all: Vec<DataFile> = kept;
        all.extend(new_files);
        if all.iter().all(|f| f.rows == 0) {
            return Ok(None);
        }
        self.io.partitions_written += 1;
        Ok(Some(PartitionState {
            values,
            location: folder,
            files: all,
        }))
    }

    /// A stored file's rows without the removed keys, in the file schema.
    fn decode_stored<'s>(
        &self,
        location: Path,
        size: u64,
        values: &PartitionValues,
        remove: &'s HashSet<Box<[u8]>>,
    ) -> BoxStream<'s, Result<RecordBatch, MergeError>>
    where
        'a: 's,
    {
        let store = Arc::clone(&self.stores.lake);
        let layout = self.layout;
        let config = self.config;
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
                let result = (|| {
                    let rows = with_identity_columns(
                        config,
                        &conform(&batch, &layout.rows)?,
                        Some(&values),
                    )?;
                    let keys = layout.encode_keys(&rows)?;
                    let keep: BooleanArray = (0..rows.num_rows())
                        .map(|i| Some(!remove.contains(keys.row(i).as_ref())))
                        .collect();
                    let kept = filter_record_batch(&rows, &keep)
                        .map_err(arrow("removing changed keys"))?;
                    project(&kept, &layout.file)
                })();
                futures::future::ready(result)
            })
            .boxed()
    }

    async fn write_tombstones(
        &mut self,
        batch: &RecordBatch,
        version: u64,
        refresh_id: &str,
    ) -> Result<TombstoneFile, MergeError> {
        let schema = batch.schema();
        let sorted = sort_batch(batch, &self.layout.sort_columns(&schema))?;
        let key_indices: Vec<usize> = (0..self.layout.key_fields.len()).collect();
        let key_names: Vec<String> = self
            .layout
            .key_fields
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        let properties = writer_properties(
            &self.config.output,
            &schema,
            &self.layout.sort_names(),
            &key_names,
        );
        let folder = TableRoot::new(&self.config.location).tombstone_dir();
        let mut writer = RollingWriter::new(
            Arc::clone(&self.stores.lake),
            folder,
            schema,
            properties,
            u64::MAX,
            key_indices,
            self.layout.key_hive_types.clone(),
        )
        .with_name_prefix(
            Attempt {
                version,
                refresh_id,
            }
            .tombstone_file_prefix(),
        );
        writer.write(&sorted).await?;
        let files = writer.finish().await?;
        let Some(file) = files.into_iter().next() else {
            return Err(MergeError::Arrow {
                context: "writing tombstones",
                source: ArrowError::ComputeError("no file written".into()),
            });
        };
        self.io.files_written += 1;
        self.io.bytes_written += file.size;
        Ok(TombstoneFile {
            name: file.name,
            created_at: self.now,
            rows: file.rows,
            key_ranges: file.key_ranges,
            size: file.size,
        })
    }
}

/// What orders a file's rows: nothing for a full load (a snapshot taken before the CDC stream it
/// precedes: DMS stamps load rows with the transfer time, later than changes cached during the
/// load, and those changes must win), else the sequence column, else the commit times.
fn file_ordering<'f>(
    config: &'f TableConfig,
    file: &PendingFile,
    columns: &'f RecordBatch,
    commit_times: Option<&'f CommitTimes>,
) -> FileOrdering<'f> {
    if file.kind == FileKind::FullLoad {
        return FileOrdering::None;
    }
    match (&config.sequence_column, commit_times) {
        (Some(column), _) => columns
            .column_by_name(column)
            .map_or(FileOrdering::None, |values| FileOrdering::Sequence {
                column,
                values,
            }),
        (None, Some(times)) => FileOrdering::CommitTimes(times),
        (None, None) => FileOrdering::None,
    }
}

/// Refuses rows of one file (conformed to the table's columns) that the table cannot hold,
/// naming the file, the 1-based row and the column: a null primary-key value (CDC and full load,
/// any op), or a partition beyond S3's or AWS Glue's limits.
fn check_rows(
    config: &TableConfig,
    file: &PendingFile,
    rows: &RecordBatch,
    ops: &[ChangeOp],
) -> Result<(), MergeError> {
    for key in &config.primary_key {
        let values = column(rows, key, "checking keys")?;
        let null_row = values
            .logical_nulls()
            .and_then(|nulls| (0..nulls.len()).find(|&row| nulls.is_null(row)));
        if let Some(row) = null_row {
            return Err(MergeError::NullKey {
                file: file.path.to_string(),
                row: row + 1,
                column: key.clone(),
            });
        }
    }
    check_partition_limits(config, file, rows, ops)
}

/// Refuses a partition of the file's rows whose value AWS Glue or whose object keys S3 would
/// refuse, before anything is written. In current mode a delete only leaves a tombstone, so its
/// partition is never written and not checked.
fn check_partition_limits(
    config: &TableConfig,
    file: &PendingFile,
    rows: &RecordBatch,
    ops: &[ChangeOp],
) -> Result<(), MergeError> {
    if config.partition_fields.is_empty() {
        return Ok(());
    }
    let assignment =
        assign_partitions(rows, &config.partition_fields, config.date_partition_style)?;
    for (index, values) in assignment.partitions.iter().enumerate() {
        let Err(problem) = paths::check_partition(&config.location, values) else {
            continue;
        };
        let stored_row = assignment
            .row_partition
            .iter()
            .zip(ops)
            .position(|(partition, op)| {
                *partition as usize == index
                    && (config.mode != StorageMode::Current || !op.is_delete())
            });
        if let Some(row) = stored_row {
            return Err(MergeError::PartitionLimit {
                table: config.table_id(),
                file: file.path.to_string(),
                row: row + 1,
                problem,
            });
        }
    }
    Ok(())
}

/// Key columns and `cdc_order`: the schema of tombstones and of key lookups.
fn tombstone_schema(layout: &Layout) -> SchemaRef {
    key_order_schema(layout)
}

fn key_order_schema(layout: &Layout) -> SchemaRef {
    let mut fields: Vec<Field> = layout
        .key_fields
        .iter()
        .map(|(n, t)| Field::new(n.clone(), t.clone(), true))
        .collect();
    fields.push(Field::new(meta_columns::ORDER, DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// Puts identity partition columns (not stored in files) back from the partition values.
fn with_identity_columns(
    config: &TableConfig,
    batch: &RecordBatch,
    partition: Option<&PartitionValues>,
) -> Result<RecordBatch, MergeError> {
    let Some(values) = partition else {
        return Ok(batch.clone());
    };
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    for field in config
        .partition_fields
        .iter()
        .filter(|f| f.transform == PartitionTransform::Identity)
    {
        if let Ok(index) = schema.index_of(&field.column)
            && let Some(slot) = columns.get_mut(index)
        {
            *slot = identity_column(values, schema.field(index), batch.num_rows())?;
        }
    }
    RecordBatch::try_new_with_options(
        schema,
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(arrow("restoring partition columns"))
}

/// The named column of `batch`; its absence is an engine bug reported as an arrow error.
fn column<'b>(
    batch: &'b RecordBatch,
    name: &str,
    context: &'static str,
) -> Result<&'b ArrayRef, MergeError> {
    batch.column_by_name(name).ok_or_else(|| MergeError::Arrow {
        context,
        source: ArrowError::SchemaError(format!("column {name} missing")),
    })
}

fn order_values(batch: &RecordBatch) -> Result<&StringArray, MergeError> {
    batch
        .column_by_name(meta_columns::ORDER)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| MergeError::Arrow {
            context: "reading change order",
            source: ArrowError::SchemaError("cdc_order missing".into()),
        })
}

fn op_values(batch: &RecordBatch) -> Result<&StringArray, MergeError> {
    batch
        .column_by_name(meta_columns::OP)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| MergeError::Arrow {
            context: "reading change ops",
            source: ArrowError::SchemaError("cdc_op missing".into()),
        })
}

/// The columns of `schema`, by name, from `batch`.
fn project(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, MergeError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| column(batch, f.name(), "projecting rows").map(Arc::clone))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(arrow("projecting rows"))
}

fn take_rows(batch: &RecordBatch, rows: Vec<u32>) -> Result<RecordBatch, MergeError> {
    take_record_batch(batch, &UInt32Array::from(rows)).map_err(arrow("selecting rows"))
}

fn sort_batch(batch: &RecordBatch, columns: &[usize]) -> Result<RecordBatch, MergeError> {
    if batch.num_rows() < 2 || columns.is_empty() {
        return Ok(batch.clone());
    }
    let sort: Vec<SortColumn> = columns
        .iter()
        .map(|i| SortColumn {
            values: Arc::clone(batch.column(*i)),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&sort, None).map_err(arrow("sorting rows"))?;
    take_record_batch(batch, &indices).map_err(arrow("sorting rows"))
}

#[cfg(test)]
#[path = "engine_test.rs"]
mod tests;

#[cfg(test)]
#[path = "engine_model_test.rs"]
mod model_tests;

#[cfg(test)]
#[path = "engine_input_test.rs"]
mod input_tests;
