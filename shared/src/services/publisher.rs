//! Publishing a committed lake snapshot to the catalog (docs/DESIGN.md §11).
//!
//! The catalog is *reconciled* with the snapshot, never patched from a diff of one refresh: the
//! desired table and partitions are derived from the snapshot alone, compared with what the
//! catalog holds, and only the differences are written. So publishing is idempotent, and a rerun
//! after a crash anywhere in a previous publish finishes it.
//!
//! Order: database → table (a new column is visible before any partition holding it) → new
//! partitions → moved partitions → dropped partitions. Each partition switch is one atomic
//! catalog write; batch calls carry at most [`MAX_PARTITIONS_PER_CALL`] partitions.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use object_store::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::lake::iceberg::IcebergError;
use crate::lake::partitioning::{HIVE_DEFAULT_PARTITION, PartitionLimitError};
use crate::lake::paths::{self, DATA_DIR, TableRoot};
use crate::lake::snapshot::TableSnapshot;
use crate::lake::table_config::{
    PartitionTransform, TableConfig, hive_type_name, mode_fields, partition_key_names,
};
use crate::ports::catalog::{
    Catalog, CatalogColumn, CatalogError, CatalogPartition, MAX_PARTITIONS_PER_CALL,
    PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE, PartitionFailure, TableDefinition,
};

pub mod iceberg;

/// Table parameter naming the Tributary table id.
pub const TABLE_ID_PARAMETER: &str = "tributary.table_id";
/// Table parameter naming the storage mode.
pub const STORAGE_MODE_PARAMETER: &str = "tributary.storage_mode";

/// Publishing failed; the catalog may be partly updated, and the next publish completes it.
#[derive(Debug, Error)]
pub enum PublishError {
    /// A catalog request failed as a whole.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// The catalog table is partitioned differently from the configuration.
    #[error(
        "catalog table {database}.{table} has partition keys ({current}) but the configuration gives ({desired}); fix: drop the catalog table (Tributary recreates it and its partitions from the lake) or restore the configuration's partition_by"
    )]
    PartitionKeysChanged {
        /// Database.
        database: String,
        /// Table.
        table: String,
        /// Partition keys in the catalog.
        current: String,
        /// Partition keys the configuration produces.
        desired: String,
    },
    /// A partition value is longer than AWS Glue accepts (a snapshot committed before the
    /// engine checked it): nothing is written.
    #[error("catalog table {table}: {problem}")]
    PartitionLimit {
        /// `database.table`.
        table: String,
        /// The value and the fix.
        #[source]
        problem: PartitionLimitError,
    },
    /// The catalog's table of an Iceberg table is not an Iceberg table (a Hive table of the same
    /// name, or one without `metadata_location`): nothing is written.
    #[error(
        "catalog table {table} is not an Iceberg table (no table_type=ICEBERG with a metadata_location); fix: drop it (Tributary registers the table from the lake) or give the table another target.table"
    )]
    NotIceberg {
        /// `database.table`.
        table: String,
    },
    /// The Iceberg metadata cannot be read, built or written.
    #[error(transparent)]
    Iceberg(#[from] IcebergError),
    /// Some partitions could not be written.
    #[error("{count} partition(s) of {table} could not be published, e.g. {sample}")]
    Partitions {
        /// `database.table`.
        table: String,
        /// How many failed.
        count: usize,
        /// The first failures, `values: code message`.
        sample: String,
        /// Whether every failure is worth retrying.
        retryable: bool,
    },
}

impl PublishError {
    /// Whether publishing again may succeed without a fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            PublishError::Catalog(e) => e.is_retryable(),
            PublishError::Iceberg(e) => e.is_retryable(),
            PublishError::PartitionKeysChanged { .. }
            | PublishError::PartitionLimit { .. }
            | PublishError::NotIceberg { .. } => false,
            PublishError::Partitions { retryable, .. } => *retryable,
        }
    }
}

/// What publishing changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// The table was created.
    pub table_created: bool,
    /// The table definition was replaced (schema or location change).
    pub table_updated: bool,
    /// Partitions created.
    pub partitions_created: u64,
    /// Partitions pointed at a new version.
    pub partitions_updated: u64,
    /// Partitions removed (they hold no rows any more).
    pub partitions_deleted: u64,
    /// The Iceberg snapshot the catalog's table is at after publishing (Iceberg tables).
    pub iceberg_snapshot_id: Option<i64>,
    /// Locations the catalog's partitions point to after publishing, relative to the table root
    /// (Hive tables).
    #[serde(skip)]
    pub catalog_locations: HashSet<String>,
    /// Every object the Iceberg table's retained snapshots and metadata log reference after
    /// publishing (`iceberg::retention::referenced_files`), for the garbage collector (Iceberg
    /// tables).
    #[serde(skip)]
    pub iceberg_references: Option<BTreeSet<Path>>,
}

/// The S3 URL of `relative` (a folder under the table root), with a trailing `/`.
pub fn location_url(lake_url: &str, config: &TableConfig, relative: &str) -> String {
    paths::folder_url(lake_url, &TableRoot::new(&config.location).join(relative))
}

/// The catalog table the snapshot should be published as. `lake_url` is the lake bucket's URL,
/// e.g. `s3://my-lake`.
pub fn table_definition(
    config: &TableConfig,
    snapshot: &TableSnapshot,
    lake_url: &str,
) -> TableDefinition {
    let identity: HashSet<&str> = config
        .partition_fields
        .iter()
        .filter(|f| f.transform == PartitionTransform::Identity)
        .map(|f| f.column.as_str())
        .collect();
    let source_type: HashMap<&str, &str> = snapshot
        .columns
        .iter()
        .map(|c| (c.name.as_str(), c.hive_type.as_str()))
        .collect();
    let mut columns: Vec<CatalogColumn> = snapshot
        .columns
        .iter()
        .filter(|c| !identity.contains(c.name.as_str()))
        .map(|c| CatalogColumn {
            name: c.name.clone(),
            hive_type: c.hive_type.clone(),
        })
        .collect();
    columns.extend(mode_fields(config.mode).iter().map(|f| CatalogColumn {
        name: f.name().clone(),
        hive_type: hive_type_name(f.data_type()).unwrap_or_else(|| "string".to_owned()),
    }));
    let partition_keys = partition_key_names(&config.partition_fields, config.date_partition_style)
        .into_iter()
        .map(|name| {
            let hive_type = if identity.contains(name.as_str()) {
                source_type.get(name.as_str()).copied().unwrap_or("string")
            } else {
                "string"
            };
            CatalogColumn {
                hive_type: hive_type.to_owned(),
                name,
            }
        })
        .collect::<Vec<_>>();
    let location = if partition_keys.is_empty() {
        let current = snapshot.partitions.first().map(|p| p.location.clone());
        location_url(
            lake_url,
            config,
            &current.unwrap_or_else(paths::empty_table_folder),
        )
    } else {
        location_url(lake_url, config, DATA_DIR)
    };
    let parameters = BTreeMap::from([
        ("classification".to_owned(), "parquet".to_owned()),
        ("EXTERNAL".to_owned(), "TRUE".to_owned()),
        (TABLE_ID_PARAMETER.to_owned(), config.table_id()),
        (
            STORAGE_MODE_PARAMETER.to_owned(),
            config.mode.as_str().to_owned(),
        ),
    ]);
    TableDefinition {
        database: config.target_database.clone(),
        name: config.target_table.clone(),
        columns,
        partition_keys,
        location,
        serde: PARQUET_SERDE.to_owned(),
        input_format: PARQUET_INPUT_FORMAT.to_owned(),
        output_format: PARQUET_OUTPUT_FORMAT.to_owned(),
        parameters,
    }
}

/// The catalog partitions of the snapshot (none for an unpartitioned table).
pub fn desired_partitions(
    config: &TableConfig,
    snapshot: &TableSnapshot,
    lake_url: &str,
) -> Vec<CatalogPartition> {
    if config.partition_fields.is_empty() {
        return Vec::new();
    }
    let mut partitions: Vec<CatalogPartition> = snapshot
        .partitions
        .iter()
        .map(|p| CatalogPartition {
            values: p
                .values
                .0
                .iter()
                .map(|(_, v)| {
                    v.clone()
                        .unwrap_or_else(|| HIVE_DEFAULT_PARTITION.to_owned())
                })
                .collect(),
            location: location_url(lake_url, config, &p.location),
        })
        .collect();
    partitions.sort();
    partitions
}

/// What the table itself needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableChange {
    /// It does not exist.
    Create(TableDefinition),
    /// Its definition differs (columns, location, format, our parameters).
    Update(TableDefinition),
    /// It is as desired.
    Unchanged,
}

/// Compares the desired table with the catalog's. Parameters others added (e.g. by Athena) are
/// kept; only ours must match.
pub fn table_change(
    desired: &TableDefinition,
    current: Option<&TableDefinition>,
) -> Result<TableChange, PublishError> {
    let Some(current) = current else {
        return Ok(TableChange::Create(desired.clone()));
    };
    if current.partition_keys != desired.partition_keys {
        let names = |keys: &[CatalogColumn]| {
            keys.iter()
                .map(|k| format!("{} {}", k.name, k.hive_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(PublishError::PartitionKeysChanged {
            database: desired.database.clone(),
            table: desired.name.clone(),
            current: names(&current.partition_keys),
            desired: names(&desired.partition_keys),
        });
    }
    let mut merged = desired.clone();
    merged.parameters = current.parameters.clone();
    merged.parameters.extend(desired.parameters.clone());
    if &merged == current {
        Ok(TableChange::Unchanged)
    } else {
        Ok(TableChange::Update(merged))
    }
}

/// Partition writes that bring the catalog to the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionPlan {
    /// Partitions the catalog lacks.
    pub create: Vec<CatalogPartition>,
    /// Partitions whose location must move to the new version.
    pub update: Vec<CatalogPartition>,
    /// Values of partitions the snapshot no longer has.
    pub delete: Vec<Vec<String>>,
}

/// Compares desired and current partitions by values.
pub fn plan_partitions(
    desired: &[CatalogPartition],
    current: &[CatalogPartition],
) -> PartitionPlan {
    let current_by_values: HashMap<&[String], &str> = current
        .iter()
        .map(|p| (p.values.as_slice(), p.location.as_str()))
        .collect();
    let desired_values: HashSet<&[String]> = desired.iter().map(|p| p.values.as_slice()).collect();
    let mut plan = PartitionPlan::default();
    for partition in desired {
        match current_by_values.get(partition.values.as_slice()) {
            None => plan.create.push(partition.clone()),
            Some(location) if *location != partition.location => {
                plan.update.push(partition.clone())
            }
            Some(_) => {}
        }
    }
    plan.delete = current
        .iter()
        .filter(|p| !desired_values.contains(p.values.as_slice()))
        .map(|p| p.values.clone())
        .collect();
    plan
}

/// Brings the catalog to `snapshot`: database, table, partitions. A partition value AWS Glue
/// would refuse fails the publish before any write.
pub async fn publish<C: Catalog>(
    catalog: &C,
    config: &TableConfig,
    snapshot: &TableSnapshot,
    lake_url: &str,
) -> Result<PublishReport, PublishError> {
    let desired = table_definition(config, snapshot, lake_url);
    check_glue_limits(&desired, snapshot)?;
    let mut report = publish_table(catalog, &desired).await?;
    let table_root = location_url(lake_url, config, "");
    let relative = |url: &str| {
        url.strip_prefix(&table_root)
            .map(|rest| rest.trim_end_matches('/').to_owned())
    };
    if desired.partition_keys.is_empty() {
        report.catalog_locations.extend(relative(&desired.location));
        return Ok(report);
    }
    let wanted = desired_partitions(config, snapshot, lake_url);
    let existing = if report.table_created {
        Vec::new()
    } else {
        catalog.partitions(&desired).await?
    };
    let plan = plan_partitions(&wanted, &existing);
    let failures = apply_partition_plan(catalog, &desired, plan, &mut report).await?;
    if !failures.is_empty() {
        return Err(partition_errors(&desired, failures));
    }
    report.catalog_locations = wanted
        .iter()
        .filter_map(|p| relative(&p.location))
        .collect();
    Ok(report)
}

/// Fails when a partition value of `snapshot` is beyond what AWS Glue accepts.
fn check_glue_limits(
    desired: &TableDefinition,
    snapshot: &TableSnapshot,
) -> Result<(), PublishError> {
    for partition in &snapshot.partitions {
        partition
            .values
            .check_glue_limit()
            .map_err(|problem| PublishError::PartitionLimit {
                table: format!("{}.{}", desired.database, desired.name),
                problem,
            })?;
    }
    Ok(())
}

/// The database and the table itself: created or updated to `desired` when they differ.
async fn publish_table<C: Catalog>(
    catalog: &C,
    desired: &TableDefinition,
) -> Result<PublishReport, PublishError> {
    let mut report = PublishReport::default();
    catalog.ensure_database(&desired.database).await?;
    let current = catalog.table(&desired.database, &desired.name).await?;
    match table_change(desired, current.as_ref())? {
        TableChange::Create(table) => {
            catalog.create_table(&table).await?;
            report.table_created = true;
        }
        TableChange::Update(table) => {
            catalog.update_table(&table).await?;
            report.table_updated = true;
        }
        TableChange::Unchanged => {}
    }
    Ok(report)
}

/// Writes `plan` in batches Glue accepts, counting into `report`; returns the partitions that
/// could not be written. Creates that meet an existing partition (a concurrent or earlier
/// publish) become updates; updates that meet a missing one become creates, once; deleting a
/// partition already gone is no failure.
async fn apply_partition_plan<C: Catalog>(
    catalog: &C,
    desired: &TableDefinition,
    plan: PartitionPlan,
    report: &mut PublishReport,
) -> Result<Vec<PartitionFailure>, PublishError> {
    let mut failures = Vec::new();
    let mut updates = plan.update;
    for chunk in plan.create.chunks(MAX_PARTITIONS_PER_CALL) {
        let failed = catalog.create_partitions(desired, chunk).await?;
        report.partitions_created += chunk.len().saturating_sub(failed.len()) as u64;
        for failure in failed {
            match find(chunk, &failure) {
                Some(p) if failure.already_exists() => updates.push(p.clone()),
                _ => failures.push(failure),
            }
        }
    }
    let mut recreate = Vec::new();
    for chunk in updates.chunks(MAX_PARTITIONS_PER_CALL) {
        let failed = catalog.update_partitions(desired, chunk).await?;
        report.partitions_updated += chunk.len().saturating_sub(failed.len()) as u64;
        for failure in failed {
            match find(chunk, &failure) {
                Some(p) if failure.not_found() => recreate.push(p.clone()),
                _ => failures.push(failure),
            }
        }
    }
    for chunk in recreate.chunks(MAX_PARTITIONS_PER_CALL) {
        let failed = catalog.create_partitions(desired, chunk).await?;
        report.partitions_created += chunk.len().saturating_sub(failed.len()) as u64;
        failures.extend(failed);
    }
    for chunk in plan.delete.chunks(MAX_PARTITIONS_PER_CALL) {
        let failed = catalog.delete_partitions(desired, chunk).await?;
        report.partitions_deleted += chunk.len().saturating_sub(failed.len()) as u64;
        failures.extend(failed.into_iter().filter(|f| !f.not_found()));
    }
    Ok(failures)
}

/// The partition of `chunk` a failure is about.
fn find<'a>(
    chunk: &'a [CatalogPartition],
    failure: &PartitionFailure,
) -> Option<&'a CatalogPartition> {
    chunk.iter().find(|p| p.values == failure.values)
}

fn partition_errors(table: &TableDefinition, failures: Vec<PartitionFailure>) -> PublishError {
    const RETRYABLE: [&str; 3] = [
        "ThrottlingException",
        "ConcurrentModificationException",
        "InternalServiceException",
    ];
    let sample = failures
        .iter()
        .take(3)
        .map(|f| format!("[{}]: {} {}", f.values.join(", "), f.code, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    PublishError::Partitions {
        table: format!("{}.{}", table.database, table.name),
        count: failures.len(),
        retryable: failures
            .iter()
            .all(|f| RETRYABLE.contains(&f.code.as_str())),
        sample,
    }
}

#[cfg(test)]
#[path = "publisher_test.rs"]
mod tests;
