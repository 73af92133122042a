//! The table catalog in the Glue Data Catalog.
//!
//! Tables are `EXTERNAL_TABLE`s over Parquet folders: the storage descriptor carries the data
//! columns, the location and the Parquet SerDe and formats; partition keys and table parameters
//! are the definition's. Every partition gets the table's storage descriptor with its own
//! location, so a query engine reads each partition the way it reads the table.
//!
//! Batch calls carry at most [`MAX_PARTITIONS_PER_CALL`] partitions; a larger batch is refused
//! before anything is sent, so a caller's chunking bug never becomes a half-applied batch.

use std::collections::HashMap;

use aws_sdk_glue::Client;
use aws_sdk_glue::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    BatchUpdatePartitionRequestEntry, Column, DatabaseInput, ErrorDetail, PartitionInput,
    PartitionValueList, SerDeInfo, StorageDescriptor, Table, TableInput,
};
use aws_smithy_types::error::operation::BuildError;

use crate::ports::catalog::{
    Catalog, CatalogColumn, CatalogError, CatalogPartition, MAX_PARTITIONS_PER_CALL,
    PartitionFailure, TableDefinition, VersionedTable,
};

/// Glue error codes that mean "slow down".
const THROTTLING_CODES: [&str; 3] = [
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
];

/// Glue error codes that mean the request did not complete on the service side (worth repeating).
const TRANSIENT_CODES: [&str; 2] = ["InternalServiceException", "OperationTimeoutException"];

/// The code of an update naming a table version that is no longer the current one.
const CONCURRENT_MODIFICATION: &str = "ConcurrentModificationException";

/// The code of a request this adapter could not build or the SDK could not serialize.
const INVALID_REQUEST: &str = "InvalidRequest";

/// The code of a batch larger than [`MAX_PARTITIONS_PER_CALL`].
const TOO_MANY_PARTITIONS: &str = "TooManyPartitions";

/// Largest page GetPartitions returns.
const PARTITIONS_PAGE_SIZE: i32 = 1000;

/// The Glue table type of a table over files the catalog does not own.
const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";

/// [`Catalog`] on the Glue Data Catalog of the client's account and region.
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: Client,
}

impl GlueCatalog {
    /// A catalog sending its requests through `client`.
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl Catalog for GlueCatalog {
    async fn ensure_database(&self, database: &str) -> Result<(), CatalogError> {
        const OPERATION: &str = "CreateDatabase";
        let input = DatabaseInput::builder()
            .name(database)
            .build()
            .map_err(|e| invalid_request(OPERATION, &e))?;
        match self
            .client
            .create_database()
            .database_input(input)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(catalog_error(OPERATION, &e)),
        }
    }

    async fn table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<TableDefinition>, CatalogError> {
        let table = self.versioned_table(database, name).await?;
        Ok(table.map(|table| table.definition))
    }

    async fn versioned_table(
        &self,
        database: &str,
        name: &str,
    ) -> Result<Option<VersionedTable>, CatalogError> {
        let result = self
            .client
            .get_table()
            .database_name(database)
            .name(name)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.table().map(|table| VersionedTable {
                definition: definition(database, table),
                version_id: text(table.version_id()),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(catalog_error("GetTable", &e)),
        }
    }

    async fn create_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        const OPERATION: &str = "CreateTable";
        let input = table_input(table).map_err(|e| invalid_request(OPERATION, &e))?;
        self.client
            .create_table()
            .database_name(&table.database)
            .table_input(input)
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(())
    }

    async fn update_table(&self, table: &TableDefinition) -> Result<(), CatalogError> {
        const OPERATION: &str = "UpdateTable";
        let input = table_input(table).map_err(|e| invalid_request(OPERATION, &e))?;
        self.client
            .update_table()
            .database_name(&table.database)
            .table_input(input)
            .skip_archive(true)
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(())
    }

    async fn update_table_at(
        &self,
        table: &TableDefinition,
        version_id: &str,
    ) -> Result<(), CatalogError> {
        const OPERATION: &str = "UpdateTable";
        let input = table_input(table).map_err(|e| invalid_request(OPERATION, &e))?;
        self.client
            .update_table()
            .database_name(&table.database)
            .table_input(input)
            .skip_archive(true)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(())
    }

    async fn partitions(
        &self,
        table: &TableDefinition,
    ) -> Result<Vec<CatalogPartition>, CatalogError> {
        let mut pages = self
            .client
            .get_partitions()
            .database_name(&table.database)
            .table_name(&table.name)
            .into_paginator()
            .page_size(PARTITIONS_PAGE_SIZE)
            .send();
        let mut partitions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| catalog_error("GetPartitions", &e))?;
            partitions.extend(page.partitions().iter().map(|partition| {
                CatalogPartition {
                    values: partition.values().to_vec(),
                    location: text(
                        partition
                            .storage_descriptor()
                            .and_then(StorageDescriptor::location),
                    ),
                }
            }));
        }
        Ok(partitions)
    }

    async fn create_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        const OPERATION: &str = "BatchCreatePartition";
        if !needs_call(OPERATION, partitions.len())? {
            return Ok(Vec::new());
        }
        let inputs = partitions
            .iter()
            .map(|partition| partition_input(table, partition))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_request(OPERATION, &e))?;
        let output = self
            .client
            .batch_create_partition()
            .database_name(&table.database)
            .table_name(&table.name)
            .set_partition_input_list(Some(inputs))
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(output
            .errors()
            .iter()
            .map(|e| partition_failure(e.partition_values(), e.error_detail()))
            .collect())
    }

    async fn update_partitions(
        &self,
        table: &TableDefinition,
        partitions: &[CatalogPartition],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        const OPERATION: &str = "BatchUpdatePartition";
        if !needs_call(OPERATION, partitions.len())? {
            return Ok(Vec::new());
        }
        let entries = partitions
            .iter()
            .map(|partition| {
                BatchUpdatePartitionRequestEntry::builder()
                    .set_partition_value_list(Some(partition.values.clone()))
                    .partition_input(partition_input(table, partition)?)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_request(OPERATION, &e))?;
        let output = self
            .client
            .batch_update_partition()
            .database_name(&table.database)
            .table_name(&table.name)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(output
            .errors()
            .iter()
            .map(|e| partition_failure(e.partition_value_list(), e.error_detail()))
            .collect())
    }

    async fn delete_partitions(
        &self,
        table: &TableDefinition,
        values: &[Vec<String>],
    ) -> Result<Vec<PartitionFailure>, CatalogError> {
        const OPERATION: &str = "BatchDeletePartition";
        if !needs_call(OPERATION, values.len())? {
            return Ok(Vec::new());
        }
        let to_delete = values
            .iter()
            .map(|values| {
                PartitionValueList::builder()
                    .set_values(Some(values.clone()))
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_request(OPERATION, &e))?;
        let output = self
            .client
            .batch_delete_partition()
            .database_name(&table.database)
            .table_name(&table.name)
            .set_partitions_to_delete(Some(to_delete))
            .send()
            .await
            .map_err(|e| catalog_error(OPERATION, &e))?;
        Ok(output
            .errors()
            .iter()
            .map(|e| partition_failure(e.partition_values(), e.error_detail()))
            .collect())
    }
}

/// Whether a batch of `len` items needs a call: not when empty; refused when larger than
/// [`MAX_PARTITIONS_PER_CALL`].
fn needs_call(operation: &'static str, len: usize) -> Result<bool, CatalogError> {
    if len > MAX_PARTITIONS_PER_CALL {
        return Err(CatalogError::Refused {
            operation,
            code: TOO_MANY_PARTITIONS.to_owned(),
            message: format!(
                "{len} partitions in one call; at most {MAX_PARTITIONS_PER_CALL} are allowed"
            ),
        });
    }
    Ok(len > 0)
}

/// The table's definition as Glue takes it.
fn table_input(table: &TableDefinition) -> Result<TableInput, BuildError> {
    TableInput::builder()
        .name(&table.name)
        .table_type(EXTERNAL_TABLE)
        .storage_descriptor(storage_descriptor(table, &table.location)?)
        .set_partition_keys(Some(glue_columns(&table.partition_keys)?))
        .set_parameters(Some(
            table
                .parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .build()
}

/// A partition of the table as Glue takes it.
fn partition_input(
    table: &TableDefinition,
    partition: &CatalogPartition,
) -> Result<PartitionInput, BuildError> {
    Ok(PartitionInput::builder()
        .set_values(Some(partition.values.clone()))
        .storage_descriptor(storage_descriptor(table, &partition.location)?)
        .build())
}

/// The table's storage format (data columns, Parquet SerDe and formats) over `location`: the
/// table's own folder, or one of its partitions'. A table without a SerDe (an Iceberg table,
/// whose format is in its metadata) gets columns and location only.
fn storage_descriptor(
    table: &TableDefinition,
    location: &str,
) -> Result<StorageDescriptor, BuildError> {
    let builder = StorageDescriptor::builder()
        .set_columns(Some(glue_columns(&table.columns)?))
        .location(location);
    if table.serde.is_empty() {
        return Ok(builder.build());
    }
    Ok(builder
        .input_format(&table.input_format)
        .output_format(&table.output_format)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(&table.serde)
                .set_parameters(Some(HashMap::from([(
                    "serialization.format".to_owned(),
                    "1".to_owned(),
                )])))
                .build(),
        )
        .build())
}

/// Catalog columns as Glue columns.
fn glue_columns(columns: &[CatalogColumn]) -> Result<Vec<Column>, BuildError> {
    columns
        .iter()
        .map(|c| Column::builder().name(&c.name).r#type(&c.hive_type).build())
        .collect()
}

/// Glue columns as catalog columns.
fn catalog_columns(columns: &[Column]) -> Vec<CatalogColumn> {
    columns
        .iter()
        .map(|c| CatalogColumn {
            name: c.name().to_owned(),
            hive_type: text(c.r#type()),
        })
        .collect()
}

/// What GetTable returned, as a definition; a field Glue does not hold (a table some other tool
/// made) is empty, so comparing it with the wanted definition asks for an update.
fn definition(database: &str, table: &Table) -> TableDefinition {
    let storage = table.storage_descriptor();
    let serde = storage.and_then(StorageDescriptor::serde_info);
    TableDefinition {
        database: database.to_owned(),
        name: table.name().to_owned(),
        columns: catalog_columns(storage.map(StorageDescriptor::columns).unwrap_or_default()),
        partition_keys: catalog_columns(table.partition_keys()),
        location: text(storage.and_then(StorageDescriptor::location)),
        serde: text(serde.and_then(SerDeInfo::serialization_library)),
        input_format: text(storage.and_then(StorageDescriptor::input_format)),
        output_format: text(storage.and_then(StorageDescriptor::output_format)),
        parameters: table
            .parameters()
            .map(|p| p.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

/// An optional string field, empty when absent.
fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_owned()
}

/// One entry of a batch call's `Errors`.
fn partition_failure(values: &[String], detail: Option<&ErrorDetail>) -> PartitionFailure {
    PartitionFailure {
        values: values.to_vec(),
        code: detail
            .and_then(ErrorDetail::error_code)
            .unwrap_or("Unknown")
            .to_owned(),
        message: text(detail.and_then(ErrorDetail::error_message)),
    }
}

/// A request this adapter could not build (a required field is missing: a bug, not worth
/// repeating).
fn invalid_request(operation: &'static str, error: &BuildError) -> CatalogError {
    CatalogError::Refused {
        operation,
        code: INVALID_REQUEST.to_owned(),
        message: error.to_string(),
    }
}

/// Maps an SDK error of `operation` to the port's error kinds.
fn catalog_error<E, R>(operation: &'static str, error: &SdkError<E, R>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown").to_owned();
            let message = service.err().message().unwrap_or_default().to_owned();
            if code == CONCURRENT_MODIFICATION {
                CatalogError::Conflict { operation, message }
            } else if THROTTLING_CODES.contains(&code.as_str()) {
                CatalogError::Throttled(format!("{operation}: {code}: {message}"))
            } else if TRANSIENT_CODES.contains(&code.as_str()) {
                CatalogError::Unreachable {
                    operation,
                    detail: format!("{code}: {message}"),
                }
            } else {
                CatalogError::Refused {
                    operation,
                    code,
                    message,
                }
            }
        }
        SdkError::ConstructionFailure(_) => CatalogError::Refused {
            operation,
            code: INVALID_REQUEST.to_owned(),
            message: DisplayErrorContext(error).to_string(),
        },
        other => CatalogError::Unreachable {
            operation,
            detail: DisplayErrorContext(other).to_string(),
        },
    }
}

#[cfg(test)]
#[path = "glue_catalog_test.rs"]
mod tests;
