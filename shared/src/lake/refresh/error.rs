//! How a refresh fails: [`MergeError`], and which failures name a bad DMS file, which are the
//! table's, and which are worth retrying.

use arrow::error::ArrowError;
use thiserror::Error;

use crate::lake::change_order::ChangeOrderError;
use crate::lake::dms_reader::ReadError;
use crate::lake::iceberg::IcebergError;
use crate::lake::lake_files::LakeFileError;
use crate::lake::partitioning::{PartitionError, PartitionLimitError};
use crate::lake::schema_evolution::SchemaError;
use crate::lake::snapshot::SnapshotError;
use crate::lake::table_config::{PartitionKeyClash, TableFormat};

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
    /// A file's schema changes a column of an Iceberg table in a way Iceberg cannot promote (the
    /// table stops; nothing is lost).
    #[error("{file}: {source}")]
    IcebergSchema {
        /// The DMS file.
        file: String,
        /// The column and the change.
        #[source]
        source: IcebergError,
    },
    /// The table's Iceberg schema or metadata cannot be built.
    #[error(transparent)]
    Iceberg(#[from] IcebergError),
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
    /// The configured table format differs from the one the table's snapshots are written in.
    /// A configuration error found before any file is read: no file is at fault.
    #[error(
        "table {table} is stored as {} (snapshot {version}) but configured as {}; fix: set target.format back to {}; changing a table's format needs a migration, which Tributary does not do yet: copy the data you want to keep (e.g. an Athena CTAS), drop the table (delete its lake folder and its Glue table, or give it a new target.location and target.table), and reload it from the source with a DMS full load",
        stored.as_str(), configured.as_str(), stored.as_str()
    )]
    FormatChanged {
        /// `schema.table`.
        table: String,
        /// The latest snapshot's version.
        version: u64,
        /// The format the snapshots record.
        stored: TableFormat,
        /// The format the configuration names.
        configured: TableFormat,
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
            | MergeError::IcebergSchema { file, .. }
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
            | MergeError::FormatChanged { .. }
            | MergeError::Iceberg(_)
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
                | MergeError::FormatChanged { .. }
                | MergeError::Iceberg(_)
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

/// Wraps an arrow kernel's error with what the refresh was doing.
pub(super) fn arrow(context: &'static str) -> impl Fn(ArrowError) -> MergeError {
    move |source| MergeError::Arrow { context, source }
}
