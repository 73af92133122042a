//! Apache Iceberg table metadata of a lake table, built on the `iceberg` crate's spec types (never
//! hand-written Avro or JSON), with all I/O through `object_store` (docs/DESIGN.md, issue 15).
//!
//! One file per concern, shaped like the crate's transaction actions:
//! - [`schema`]: the Iceberg schema of a table (stable field ids), the arrow schema data files are
//!   written with, the promotions an Iceberg table allows, the sort order;
//! - [`partition_spec`]: the partition spec from `partition_by` and each partition's tuple;
//! - [`stats`]: an Iceberg data file (column stats) from a Parquet footer;
//! - [`overwrite`]: the commit the crate lacks — one snapshot whose live files are the wanted
//!   ones (append or overwrite), manifests carried over or rewritten;
//! - [`retention`]: snapshot expiry and the files the retained snapshots reference;
//! - [`metadata_io`]: metadata JSON, manifests and manifest lists in the lake bucket.

pub mod metadata_io;
pub mod overwrite;
pub mod partition_spec;
pub mod retention;
pub mod schema;
pub mod stats;
#[cfg(test)]
pub(crate) mod test_support;

use thiserror::Error;

/// Summary key of the Tributary snapshot version an Iceberg snapshot publishes.
pub const SUMMARY_SNAPSHOT_VERSION: &str = "tributary.snapshot-version";
/// Summary key of the refresh that committed that version.
pub const SUMMARY_REFRESH_ID: &str = "tributary.refresh-id";
/// Summary key of the rows the refresh inserted.
pub const SUMMARY_ROWS_INSERTED: &str = "tributary.rows-inserted";
/// Summary key of the rows the refresh updated.
pub const SUMMARY_ROWS_UPDATED: &str = "tributary.rows-updated";
/// Summary key of the rows the refresh deleted.
pub const SUMMARY_ROWS_DELETED: &str = "tributary.rows-deleted";

/// Building, reading or writing Iceberg metadata failed.
#[derive(Debug, Error)]
pub enum IcebergError {
    /// The `iceberg` crate refused a schema, spec, manifest or metadata update (a bug of ours or
    /// metadata another writer made that we cannot extend); not retryable.
    #[error("Iceberg metadata error while {context}: {source}")]
    Spec {
        /// What was being built.
        context: String,
        /// The crate's error (boxed: it is large).
        #[source]
        source: Box<iceberg::Error>,
    },
    /// The lake store failed; retryable.
    #[error("lake store error at {path}: {source}")]
    Storage {
        /// The object.
        path: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// A metadata file the table references does not exist; not retryable (restore it from the
    /// bucket's object versions).
    #[error(
        "Iceberg metadata file {path} does not exist; fix: restore it from the lake bucket's object versions"
    )]
    Missing {
        /// The object.
        path: String,
    },
    /// A metadata file, manifest, manifest list or Parquet footer cannot be parsed; not
    /// retryable.
    #[error("{path} is unreadable: {detail}")]
    Corrupt {
        /// The object.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A file URL that is not in the lake bucket; not retryable.
    #[error("{url} is not in the lake bucket {lake_url}")]
    OutsideLake {
        /// The URL.
        url: String,
        /// The lake bucket's URL.
        lake_url: String,
    },
    /// A column's Hive type has no Iceberg type; not retryable.
    #[error("column `{column}` has type {hive_type}, which Iceberg tables do not support")]
    UnsupportedType {
        /// The column.
        column: String,
        /// Its Hive type.
        hive_type: String,
    },
    /// A column changed type in a way Iceberg cannot promote; the table stops (not retryable).
    #[error(
        "column `{column}` changed from {from} to {to}; an Iceberg table only promotes int to bigint, float to double and a decimal's precision up with the same scale; fix: cast the column back at the source (a DMS transformation rule) or recreate the table"
    )]
    IncompatibleType {
        /// The column.
        column: String,
        /// Its previous Hive type.
        from: String,
        /// Its new Hive type.
        to: String,
    },
    /// A column of the previous schema is no longer at its position (columns are append-only:
    /// Iceberg field ids are positions); not retryable.
    #[error("column `{column}` is no longer at position {position} of the table's columns")]
    ColumnMoved {
        /// The column.
        column: String,
        /// Its 0-based position in the previous columns.
        position: usize,
    },
    /// A primary-key or partition column is not among the table's columns; not retryable.
    #[error("{role} column `{column}` is not among the table's columns")]
    UnknownColumn {
        /// The column.
        column: String,
        /// `primary key` or `partition`.
        role: &'static str,
    },
    /// A partition's values do not convert to the partition spec's tuple; not retryable.
    #[error("partition {path:?}: {problem}")]
    PartitionValue {
        /// The partition's path.
        path: String,
        /// What does not convert.
        problem: String,
    },
    /// A data file handed to a commit is not the file the plan expects (path, rows, size,
    /// partition or spec differ); not retryable.
    #[error("data file {path} does not match the planned commit: {detail}")]
    FileMismatch {
        /// The data file.
        path: String,
        /// What differs.
        detail: String,
    },
    /// A metadata file with this (unique) name exists already: retryable with a new name.
    #[error("Iceberg metadata file {path} exists already")]
    AlreadyExists {
        /// The object.
        path: String,
    },
}

impl IcebergError {
    /// Whether a retry of the same operation may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            IcebergError::Storage { .. } | IcebergError::AlreadyExists { .. } => true,
            IcebergError::Spec { .. }
            | IcebergError::Missing { .. }
            | IcebergError::Corrupt { .. }
            | IcebergError::OutsideLake { .. }
            | IcebergError::UnsupportedType { .. }
            | IcebergError::IncompatibleType { .. }
            | IcebergError::ColumnMoved { .. }
            | IcebergError::UnknownColumn { .. }
            | IcebergError::PartitionValue { .. }
            | IcebergError::FileMismatch { .. } => false,
        }
    }

    /// Wraps a crate error with what was being done.
    pub(crate) fn spec(context: impl Into<String>) -> impl FnOnce(iceberg::Error) -> IcebergError {
        let context = context.into();
        move |source| IcebergError::Spec {
            context,
            source: Box::new(source),
        }
    }
}
