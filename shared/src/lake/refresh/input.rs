//! The refresh's input: the pending DMS files read in order while the memory budget lasts, each
//! file's rows checked, and all changes assembled into one batch carrying the total order
//! (docs/DESIGN.md §6, §9, §10).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use object_store::ObjectStore;

use super::PendingFile;
use super::batches::column;
use super::error::{MergeError, arrow};
use super::layout::Layout;
use crate::domain::dms_layout::FileKind;
use crate::lake::change_order::{CommitTimes, FileOrdering, order_column};
use crate::lake::dms_reader::{ChangeFileRef, ChangeOp, FileChanges, ReadError, read_change_file};
use crate::lake::partitioning::assign_partitions;
use crate::lake::paths;
use crate::lake::schema_evolution::conform;
use crate::lake::table_config::{StorageMode, TableConfig, meta_columns};

/// One DMS file the refresh read, with its changes.
pub(super) struct ChangeInput<'p> {
    /// The pending file.
    pub(super) file: &'p PendingFile,
    /// Its decoded changes.
    pub(super) changes: FileChanges,
}

/// The files a refresh read, and those it did not apply.
pub(super) struct ReadFiles<'p> {
    /// Files read, in order, with their changes.
    pub(super) inputs: Vec<ChangeInput<'p>>,
    /// Ids of files whose recorded version no longer exists.
    pub(super) superseded: Vec<String>,
    /// Ids of files left for the next refresh (the budget was spent).
    pub(super) deferred: Vec<String>,
}

/// Reads `todo` in order while the memory budget lasts: each file may decompress to what is
/// left of `budget`, and what its decoded changes hold in memory is subtracted. The first file
/// read gets the whole budget, so only a file larger than the budget on its own fails.
pub(super) async fn read_within_budget<'p>(
    staging: &dyn ObjectStore,
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
        match read_change_file(staging, &reference, &config.input).await {
            Ok(changes) => {
                let held = changes.columns.get_array_memory_size() + changes.ops.len();
                left = left.saturating_sub(held as u64);
                read.inputs.push(ChangeInput { file, changes });
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

/// All changes of the refresh: source columns, `cdc_op`, `cdc_order`, and in scd2 the commit
/// time as `valid_from`. Each file's rows are checked on the way ([`check_rows`]).
pub(super) fn change_batch(
    layout: &Layout,
    config: &TableConfig,
    inputs: &[ChangeInput<'_>],
) -> Result<RecordBatch, MergeError> {
    let mut fields: Vec<Field> = layout
        .source
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(meta_columns::OP, DataType::Utf8, true));
    fields.push(Field::new(meta_columns::ORDER, DataType::Utf8, true));
    if config.mode == StorageMode::Scd2 {
        fields.push(Field::new(
            meta_columns::VALID_FROM,
            commit_time_type(),
            true,
        ));
    }
    let schema = Arc::new(Schema::new(fields));
    let batches = inputs
        .iter()
        .map(|input| {
            let columns = change_columns(&layout.source, config, input)?;
            RecordBatch::try_new(Arc::clone(&schema), columns).map_err(arrow("assembling changes"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    concat_batches(&schema, &batches).map_err(arrow("assembling changes"))
}

/// The type of scd2's `valid_from`: commit times in microseconds.
fn commit_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

/// The columns of one file's changes (see [`change_batch`]), its rows checked.
fn change_columns(
    source: &SchemaRef,
    config: &TableConfig,
    input: &ChangeInput<'_>,
) -> Result<Vec<ArrayRef>, MergeError> {
    let ChangeInput { file, changes } = input;
    let conformed = conform(&changes.columns, source)?;
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
            None => arrow::array::new_null_array(&commit_time_type(), rows),
        });
    }
    Ok(columns)
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
