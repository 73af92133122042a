//! The table catalog (the Glue Data Catalog when deployed): table and partition definitions that
//! point query engines at the lake's current partition versions.
//!
//! This module is the port; `adapters::glue_catalog` is the Glue implementation. What a table
//! should look like and how the catalog is brought there is decided in [`crate::services::publisher`].

use std::collections::BTreeMap;
use std::future::Future;

use thiserror::Error;

/// Most partitions one batch call may carry (Glue's BatchCreatePartition / BatchUpdatePartition /
/// BatchDeletePartition limit).
pub const MAX_PARTITIONS_PER_CALL: usize = 100;

/// The Parquet SerDe Athena, Spark and Hive read.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// The Parquet input format.
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// The Parquet output format.
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

/// A column of a catalog table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogColumn {
    /// Column name (lower case, `[a-z0-9_]`).
    pub name: String,
    /// Hive type, e.g. `bigint`, `decimal(12,2)`, `timestamp`.
    pub hive_type: String,
}

/// A table definition: what the catalog holds for one lake table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    /// Database.
    pub database: String,
    /// Table name.
    pub name: String,
    /// Data columns (partition columns excluded), in file order.
    pub columns: Vec<CatalogColumn>,
    /// Partition keys, outermost first.
    pub partition_keys: Vec<CatalogColumn>,
    /// `s3://…/` folder: the table root of a partitioned table, the current data folder of an
    /// unpartitioned one.
    pub location: String,
    /// SerDe library.
    pub serde: String,
    /// Input format class.
    pub input_format: String,
    /// Output format class.
    pub output_format: String,
    /// Table parameters (`classification`, `EXTERNAL`, Tributary's own).
    pub parameters: BTreeMap<String, String>,
}

/// A table as the catalog holds it, with the version id an optimistic update must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedTable {
    /// Its definition.
    pub definition: TableDefinition,
    /// The catalog's version of it (Glue `VersionId`); an update naming an older one is a
    /// [`CatalogError::Conflict`].
    pub version_id: String,
}

/// One partition: its values (in partition-key order) and its data folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CatalogPartition {
    /// Values as strings; a null value is `__HIVE_DEFAULT_PARTITION__`.
    pub values: Vec<String>,
    /// `s3://…/` folder.
    pub location: String,
}

/// A partition a batch call could not create, update or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFailure {
    /// The partition's values.
    pub values: Vec<String>,
    /// Service error code, e.g. `AlreadyExistsException`.
    pub code: String,
    /// Service error message.
    pub message: String,
}

impl PartitionFailure {
    /// The partition already exists (a create must become an update).
    pub fn already_exists(&self) -> bool {
        self.code == "AlreadyExistsException"
    }

    /// The partition does not exist (an update must become a create; a delete is done).
    pub fn not_found(&self) -> bool {
        self.code == "EntityNotFoundException"
    }
}

/// A catalog request failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CatalogError {
    /// The catalog asked us to slow down.
    #[error("throttled by the catalog: {0}")]
    Throttled(String),
    /// The catalog refused the request (access denied, validation, missing database).
    #[error("the catalog refused {operation} ({code}): {message}")]
    Refused {
        /// The API operation.
        operation: &'static str,
        /// Service error code.
        code: String,
        /// Service error message.
        message: String,
    },
    /// Another writer changed the table since its version was read (Glue
    /// `ConcurrentModificationException`): reload it and reconcile.
    #[error("the catalog refused {operation}: the table changed since it was read ({message})")]
    Conflict {
        /// The API operation.
        operation: &'static str,
        /// Service error message.
        message: String,
    },
    /// The request did not complete.
    #[error("the catalog could not be reached during {operation}: {detail}")]
    Unreachable {
        /// The API operation.
        operation: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl CatalogError {
    /// Whether repeating the request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            CatalogError::Throttled(_)
                | CatalogError::Unreachable { .. }
                | CatalogError::Conflict { .. }
        )
    }
}

/// The port the processor publishes tables through.
pub trait Catalog: Send + Sync {
    /// Creates the database unless it exists.
    fn ensure_database(
        &self,
        database: &str,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;

    /// The table's definition, or `None` when it does not exist.
    fn table(
        &self,
        database: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<TableDefinition>, CatalogError>> + Send;

    /// The table's definition and the version the catalog holds, or `None` when it does not
    /// exist.
    fn versioned_table(
        &self,
        database: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<VersionedTable>, CatalogError>> + Send;

    /// Creates the table.
    fn create_table(
        &self,
        table: &TableDefinition,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;

    /// Replaces the table's definition without archiving a table version.
    fn update_table(
        &self,
        table: &TableDefinition,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;

    /// Replaces the table's definition without archiving a table version, only if the catalog
    /// still holds `version_id`: [`CatalogError::Conflict`] when another writer changed it since.
    fn update_table_at(
        &self,
        table: &TableDefinition,
        version_id: &str,
    ) -> impl Future<Output = Result<(), CatalogError>> + Send;

    /// Every partition of the table (all pages).
    fn partitions(
        &self,
        table: &TableDefinition,
    ) -> impl Future<Output = Result<Vec<CatalogPartition>, CatalogError>> + Send;

    /// Creates up to [`MAX_PARTITIONS_PER_CALL`] partitions with the table's storage format;
    /// returns the ones that failed.
    fn create_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, CatalogError>> + Send;

    /// Points up to [`MAX_PARTITIONS_PER_CALL`] existing partitions at new locations; returns the
    /// ones that failed.
    fn update_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, CatalogError>> + Send;

    /// Deletes up to [`MAX_PARTITIONS_PER_CALL`] partitions by values; returns the ones that
    /// failed.
    fn delete_partitions(
        &self,
        table: &TableDefinition,
        values: &[Vec<String>],
    ) -> impl Future<Output = Result<Vec<PartitionFailure>, CatalogError>> + Send;
}
