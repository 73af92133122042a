//! Publishing a committed snapshot of an Iceberg table (docs/DESIGN.md §15).
//!
//! Our snapshot stays the commit point; the Iceberg metadata is published *from* it by a
//! reconciler: read the catalog's table (its `VersionId` and `metadata_location`), plan one
//! Iceberg snapshot whose live files are our snapshot's ([`overwrite::plan`]: nothing to do when
//! the current Iceberg snapshot already publishes our version), write it, and swing the catalog
//! with `UpdateTable` at the version read (`CreateTable` for a new table). A conflict — another
//! writer moved the table since it was read — reloads and reconciles again, so a commit is never
//! lost and never published twice.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;

use super::{
    PublishError, PublishReport, STORAGE_MODE_PARAMETER, TABLE_ID_PARAMETER, location_url,
};
use crate::lake::iceberg::IcebergError;
use crate::lake::iceberg::metadata_io::MetadataStore;
use crate::lake::iceberg::overwrite::{
    self, CommittedMetadata, CurrentTable, DesiredTable, LiveFile, OverwritePlan, PendingOverwrite,
    PublishedVersion,
};
use crate::lake::iceberg::partition_spec::{partition_spec, partition_tuple};
use crate::lake::iceberg::retention::{RetentionPolicy, referenced_files};
use crate::lake::iceberg::schema::{sort_order, table_schema};
use crate::lake::iceberg::stats::read_data_file;
use crate::lake::paths::TableRoot;
use crate::lake::snapshot::TableSnapshot;
use crate::lake::table_config::{TableConfig, hive_type_name, mode_fields};
use crate::ports::catalog::{Catalog, CatalogColumn, CatalogError, TableDefinition};

/// Glue table parameter naming the table's format.
pub const TABLE_TYPE_PARAMETER: &str = "table_type";
/// Its value for an Iceberg table.
pub const ICEBERG_TABLE_TYPE: &str = "ICEBERG";
/// Glue table parameter naming the current metadata file.
pub const METADATA_LOCATION_PARAMETER: &str = "metadata_location";
/// Glue table parameter naming the metadata file the current one replaced.
pub const PREVIOUS_METADATA_LOCATION_PARAMETER: &str = "previous_metadata_location";

/// How many times a publish reloads the table after a conflict before giving up (retryable).
const MAX_RECONCILES: usize = 5;
/// Footers read at once for the added files' stats.
const FOOTER_READS: usize = 8;

/// What an Iceberg table is published from.
pub struct IcebergPublication<'a> {
    /// The lake store (metadata files are written there).
    pub lake: Arc<dyn ObjectStore>,
    /// The lake bucket's URL, e.g. `s3://my-lake`.
    pub lake_url: &'a str,
    /// The table's configuration.
    pub config: &'a TableConfig,
    /// The snapshot to publish.
    pub snapshot: &'a TableSnapshot,
    /// Rows the refresh that committed it inserted, updated and deleted, when this run made it.
    pub rows: Option<[u64; 3]>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Publishes `publication`'s snapshot as the table's current Iceberg snapshot.
pub async fn publish_iceberg<C: Catalog>(
    catalog: &C,
    publication: &IcebergPublication<'_>,
) -> Result<PublishReport, PublishError> {
    let config = publication.config;
    catalog.ensure_database(&config.target_database).await?;
    let io = MetadataStore::new(Arc::clone(&publication.lake), publication.lake_url);
    let mut attempt = 1;
    loop {
        match reconcile(catalog, &io, publication).await {
            Err(PublishError::Catalog(CatalogError::Conflict { .. }))
                if attempt < MAX_RECONCILES =>
            {
                attempt += 1;
            }
            published => return published,
        }
    }
}

/// One attempt: read the catalog, plan, commit the metadata, swing the catalog.
async fn reconcile<C: Catalog>(
    catalog: &C,
    io: &MetadataStore,
    publication: &IcebergPublication<'_>,
) -> Result<PublishReport, PublishError> {
    let config = publication.config;
    let stored = catalog
        .versioned_table(&config.target_database, &config.target_table)
        .await?;
    let current = match &stored {
        Some(table) => Some(current_metadata(io, &table.definition).await?),
        None => None,
    };
    let desired = desired_table(publication)?;
    let version = published_version(publication);
    let mut report = PublishReport::default();
    let committed = match overwrite::plan(io, current.clone(), desired, version).await? {
        OverwritePlan::AlreadyPublished { snapshot_id, .. } => {
            report.iceberg_snapshot_id = snapshot_id;
            let current = current.ok_or(IcebergError::Missing {
                path: "the table's current metadata".to_owned(),
            })?;
            report.iceberg_references =
                Some(referenced_files(io, &current.metadata, &current.metadata_location).await?);
            return Ok(report);
        }
        OverwritePlan::Commit(pending) => commit(io, *pending, publication.now).await?,
    };
    let definition = table_definition(publication, &committed);
    match stored {
        Some(table) => {
            catalog
                .update_table_at(&definition, &table.version_id)
                .await?;
            report.table_updated = true;
        }
        None => {
            catalog.create_table(&definition).await?;
            report.table_created = true;
        }
    }
    report.iceberg_snapshot_id = committed.snapshot_id;
    let current = CurrentTable {
        metadata: committed.metadata,
        metadata_location: committed.metadata_location,
    };
    report.iceberg_references =
        Some(referenced_files(io, &current.metadata, &current.metadata_location).await?);
    Ok(report)
}

/// The Iceberg metadata the catalog's table points at; a table of another format is refused.
async fn current_metadata(
    io: &MetadataStore,
    table: &TableDefinition,
) -> Result<CurrentTable, PublishError> {
    let parameter = |name: &str| table.parameters.get(name).map(String::as_str);
    let is_iceberg =
        parameter(TABLE_TYPE_PARAMETER).is_some_and(|t| t.eq_ignore_ascii_case(ICEBERG_TABLE_TYPE));
    let location = parameter(METADATA_LOCATION_PARAMETER).filter(|_| is_iceberg);
    let Some(location) = location else {
        return Err(PublishError::NotIceberg {
            table: format!("{}.{}", table.database, table.name),
        });
    };
    let metadata = io.read_metadata(location).await?;
    Ok(CurrentTable {
        metadata,
        metadata_location: location.to_owned(),
    })
}

/// The table as our snapshot says it should be.
fn desired_table(publication: &IcebergPublication<'_>) -> Result<DesiredTable, IcebergError> {
    let config = publication.config;
    let snapshot = publication.snapshot;
    let schema = table_schema(&snapshot.columns, config.mode, &config.primary_key)?;
    let root = TableRoot::new(&config.location);
    let io_url = |path: &object_store::path::Path| {
        format!("{}/{path}", publication.lake_url.trim_end_matches('/'))
    };
    let mut files = Vec::new();
    for partition in &snapshot.partitions {
        let tuple = partition_tuple(
            &config.partition_fields,
            config.date_partition_style,
            &schema,
            &partition.values,
        )?;
        for file in &partition.files {
            files.push(LiveFile {
                path: io_url(&root.data_file(partition.folder_of(file), &file.name)),
                partition: tuple.clone(),
                size: file.size,
                rows: file.rows,
            });
        }
    }
    Ok(DesiredTable {
        location: io_url(root.location()),
        partition_spec: partition_spec(&config.partition_fields, &schema)?,
        sort_order: sort_order(&schema, &config.primary_key)?,
        schema,
        properties: Default::default(),
        files,
        retention: RetentionPolicy::with_window(config.time_travel),
    })
}

/// The Tributary version the publication records in the Iceberg snapshot's summary.
fn published_version(publication: &IcebergPublication<'_>) -> PublishedVersion {
    let [inserted, updated, deleted] = publication.rows.map_or([None; 3], |r| r.map(Some));
    PublishedVersion {
        snapshot_version: publication.snapshot.version,
        refresh_id: publication.snapshot.refresh_id.clone(),
        rows_inserted: inserted,
        rows_updated: updated,
        rows_deleted: deleted,
    }
}

/// Reads the added files' stats from their footers and writes the new metadata.
async fn commit(
    io: &MetadataStore,
    pending: PendingOverwrite,
    now: DateTime<Utc>,
) -> Result<CommittedMetadata, IcebergError> {
    let schema = Arc::clone(pending.schema());
    let spec_id = pending.partition_spec_id();
    let added = futures::stream::iter(pending.added_files().iter().cloned())
        .map(|file| {
            let schema = Arc::clone(&schema);
            async move { read_data_file(io, &schema, spec_id, &file).await }
        })
        .buffer_unordered(FOOTER_READS)
        .try_collect()
        .await?;
    pending.commit(io, added, now.timestamp_millis()).await
}

/// The Glue table of the committed metadata: `table_type=ICEBERG`, the metadata locations, our
/// parameters, and the schema's columns mirrored for display (no SerDe: the format is in the
/// metadata).
fn table_definition(
    publication: &IcebergPublication<'_>,
    committed: &CommittedMetadata,
) -> TableDefinition {
    let config = publication.config;
    let mut parameters = BTreeMap::from([
        (
            TABLE_TYPE_PARAMETER.to_owned(),
            ICEBERG_TABLE_TYPE.to_owned(),
        ),
        (
            METADATA_LOCATION_PARAMETER.to_owned(),
            committed.metadata_location.clone(),
        ),
        (TABLE_ID_PARAMETER.to_owned(), config.source.id()),
        (
            STORAGE_MODE_PARAMETER.to_owned(),
            config.mode.as_str().to_owned(),
        ),
    ]);
    if let Some(previous) = &committed.previous_metadata_location {
        parameters.insert(
            PREVIOUS_METADATA_LOCATION_PARAMETER.to_owned(),
            previous.clone(),
        );
    }
    let mut columns: Vec<CatalogColumn> = publication
        .snapshot
        .columns
        .iter()
        .map(|c| CatalogColumn {
            name: c.name.clone(),
            hive_type: c.hive_type.clone(),
        })
        .collect();
    columns.extend(mode_fields(config.mode).iter().map(|f| CatalogColumn {
        name: f.name().clone(),
        hive_type: hive_type_name(f.data_type()).unwrap_or_else(|| "string".to_owned()),
    }));
    TableDefinition {
        database: config.target_database.clone(),
        name: config.target_table.clone(),
        columns,
        partition_keys: Vec::new(),
        location: location_url(publication.lake_url, config, ""),
        serde: String::new(),
        input_format: String::new(),
        output_format: String::new(),
        parameters,
    }
}

#[cfg(test)]
#[path = "iceberg_test.rs"]
mod tests;
