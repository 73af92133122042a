//! The layout of one refresh: the table's schema after the refresh's files evolved it, the lake
//! rows' and stored files' schemas derived from it, and how keys are encoded, sorted and read
//! back from stored files (identity partition columns live in the folder name, not the file).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, RecordBatchOptions};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};

use super::batches::column;
use super::error::{MergeError, arrow};
use super::input::ChangeInput;
use crate::lake::iceberg::schema as iceberg_schema;
use crate::lake::partitioning::{PartitionValues, identity_column};
use crate::lake::paths::TableRoot;
use crate::lake::schema_evolution::evolve;
use crate::lake::snapshot::{SnapshotColumn, SnapshotError, TableSnapshot};
use crate::lake::table_config::{
    PartitionTransform, StorageMode, TableConfig, TableFormat, date_partition_key_clash,
    hive_type_name, meta_columns, mode_fields, parse_hive_type,
};

/// Schemas and column positions of one refresh.
pub(super) struct Layout {
    /// Source columns (evolved).
    pub(super) source: SchemaRef,
    /// Lake rows: source columns plus the mode's columns.
    pub(super) rows: SchemaRef,
    /// Stored files: a Hive table's `rows` without identity partition columns; an Iceberg table's
    /// `rows` in Iceberg types, each field carrying its Iceberg field id.
    pub(super) file: SchemaRef,
    /// Key columns: names and types.
    pub(super) key_fields: Vec<(String, DataType)>,
    /// Hive types of the key columns.
    pub(super) key_hive_types: Vec<String>,
    /// Decodes keys into comparable bytes.
    key_converter: RowConverter,
    /// Whether the table schema changed.
    pub(super) schema_changed: bool,
    /// The snapshot's view of the schema.
    pub(super) columns: Vec<SnapshotColumn>,
}

/// The key columns of a stored file's schema, as its writer records them.
pub(super) struct FileKeys {
    /// Their names.
    pub(super) names: Vec<String>,
    /// Their positions in the schema.
    pub(super) indices: Vec<usize>,
    /// Their Hive types.
    pub(super) hive_types: Vec<String>,
}

impl Layout {
    /// The layout of a refresh of `config` from `previous` applying `inputs`; refuses files whose
    /// columns the table cannot take and configured columns missing from the data.
    pub(super) fn new(
        config: &TableConfig,
        previous: &TableSnapshot,
        inputs: &[ChangeInput<'_>],
    ) -> Result<Layout, MergeError> {
        let source = Arc::new(source_schema(config, previous, inputs)?);
        check_configured_columns(config, &source, inputs)?;
        let mut row_fields: Vec<Field> =
            source.fields().iter().map(|f| f.as_ref().clone()).collect();
        row_fields.extend(mode_fields(config.mode));
        let columns = snapshot_columns(&source);
        let file = file_schema(config, &row_fields, &columns)?;
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
        let key_converter = RowConverter::new(
            key_fields
                .iter()
                .map(|(_, t)| SortField::new(t.clone()))
                .collect(),
        )
        .map_err(arrow("preparing key encoding"))?;
        Ok(Layout {
            schema_changed: columns != previous.columns,
            key_hive_types: key_fields
                .iter()
                .map(|(_, t)| hive_type_name(t).unwrap_or_default())
                .collect(),
            source,
            rows: Arc::new(Schema::new(row_fields)),
            file,
            key_fields,
            key_converter,
            columns,
        })
    }

    /// The key columns of `batch`, encoded as comparable bytes (stored keys of a narrower type
    /// are widened first).
    pub(super) fn encode_keys(&self, batch: &RecordBatch) -> Result<Rows, MergeError> {
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
    pub(super) fn sort_columns(&self, schema: &SchemaRef) -> Vec<usize> {
        self.key_fields
            .iter()
            .map(|(name, _)| name.as_str())
            .chain([meta_columns::ORDER])
            .filter_map(|name| schema.index_of(name).ok())
            .collect()
    }

    /// Names of the sort columns, as a writer records them in the footer.
    pub(super) fn sort_names(&self) -> Vec<String> {
        self.key_fields
            .iter()
            .map(|(n, _)| n.clone())
            .chain([meta_columns::ORDER.to_owned()])
            .collect()
    }

    /// Key columns and `cdc_order`: the schema of tombstones and of key lookups.
    pub(super) fn key_order_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = self
            .key_fields
            .iter()
            .map(|(n, t)| Field::new(n.clone(), t.clone(), true))
            .collect();
        fields.push(Field::new(meta_columns::ORDER, DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    }

    /// The key columns present in `schema` (an identity partition key is not stored in files).
    pub(super) fn file_keys(&self, schema: &SchemaRef) -> FileKeys {
        let names: Vec<String> = self
            .key_fields
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| schema.index_of(n).is_ok())
            .collect();
        let indices = names
            .iter()
            .filter_map(|n| schema.index_of(n).ok())
            .collect();
        let hive_types = names
            .iter()
            .filter_map(|n| {
                schema
                    .field_with_name(n)
                    .ok()
                    .and_then(|f| hive_type_name(f.data_type()))
            })
            .collect();
        FileKeys {
            names,
            indices,
            hive_types,
        }
    }

    /// The key columns of a tombstone file ([`Layout::key_order_schema`]): every key column, in
    /// order.
    pub(super) fn tombstone_keys(&self) -> FileKeys {
        FileKeys {
            names: self.key_fields.iter().map(|(n, _)| n.clone()).collect(),
            indices: (0..self.key_fields.len()).collect(),
            hive_types: self.key_hive_types.clone(),
        }
    }
}

/// The table's source columns after this refresh: the snapshot's (the configured ones for a
/// table never committed), evolved by each file in order.
fn source_schema(
    config: &TableConfig,
    previous: &TableSnapshot,
    inputs: &[ChangeInput<'_>],
) -> Result<Schema, MergeError> {
    let mut schema = previous_schema(config, previous)?;
    for input in inputs {
        let incoming = input.changes.columns.schema();
        if let Some(field) = incoming
            .fields()
            .iter()
            .find(|f| hive_type_name(f.data_type()).is_none() && f.data_type() != &DataType::Null)
        {
            return Err(MergeError::UnsupportedType {
                file: input.file.path.to_string(),
                column: field.name().clone(),
                data_type: field.data_type().to_string(),
            });
        }
        schema = evolve_by(config, &schema, &incoming, input.file.path.as_ref())?;
    }
    Ok(schema)
}

/// `schema` evolved by the columns of `file`. An Iceberg table's columns take the types Iceberg
/// stores (tinyint and smallint as int, timestamps in microseconds) and change only by the
/// promotions Iceberg allows.
fn evolve_by(
    config: &TableConfig,
    schema: &Schema,
    incoming: &Schema,
    file: &str,
) -> Result<Schema, MergeError> {
    let evolved = evolve(schema, incoming, file)?;
    if config.format == TableFormat::Hive {
        return Ok(evolved);
    }
    let evolved = in_iceberg_types(&evolved);
    iceberg_schema::check_promotions(&snapshot_columns(schema), &snapshot_columns(&evolved))
        .map_err(|source| MergeError::IcebergSchema {
            file: file.to_owned(),
            source,
        })?;
    Ok(evolved)
}

/// `schema` with the types an Iceberg table stores its columns in.
fn in_iceberg_types(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = match f.data_type() {
                DataType::Int8 | DataType::Int16 => DataType::Int32,
                DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, None),
                other => other.clone(),
            };
            f.as_ref().clone().with_data_type(data_type)
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// The source columns the previous snapshot recorded (the configured ones when it has none).
fn previous_schema(config: &TableConfig, previous: &TableSnapshot) -> Result<Schema, MergeError> {
    if previous.columns.is_empty() {
        return Ok(Schema::new(config.input.columns.clone()));
    }
    let fields = previous
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
                        detail: format!("column {} has unknown type {}", c.name, c.hive_type),
                    })
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schema::new(fields))
}

/// Refuses a date partition key that is also a source column, and a configured column (key,
/// partition source, scd2 commit timestamp) the data lacks.
fn check_configured_columns(
    config: &TableConfig,
    source: &Schema,
    inputs: &[ChangeInput<'_>],
) -> Result<(), MergeError> {
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
                file: inputs
                    .first()
                    .map(|input| input.file.path.to_string())
                    .unwrap_or_default(),
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
    Ok(())
}

/// The source columns with their Hive types, as the snapshot records them.
/// The schema stored files are written in: a Hive table's rows without its identity partition
/// columns (they live in folder names); an Iceberg table's rows with Iceberg's types and field ids
/// (identity partition source columns kept, as Iceberg readers need them).
fn file_schema(
    config: &TableConfig,
    row_fields: &[Field],
    columns: &[SnapshotColumn],
) -> Result<SchemaRef, MergeError> {
    match config.format {
        TableFormat::Hive => {
            let identity: HashSet<&str> = identity_partition_columns(config).collect();
            let fields: Vec<Field> = row_fields
                .iter()
                .filter(|f| !identity.contains(f.name().as_str()))
                .cloned()
                .collect();
            Ok(Arc::new(Schema::new(fields)))
        }
        TableFormat::Iceberg => {
            let schema = iceberg_schema::table_schema(columns, config.mode, &config.primary_key)?;
            let file = iceberg_schema::file_arrow_schema(&schema)?;
            // Parquet stores binary alike whatever the arrow width; the rows' is kept.
            let fields: Vec<Field> = file
                .fields()
                .iter()
                .map(|f| match f.data_type() {
                    DataType::LargeBinary => f.as_ref().clone().with_data_type(DataType::Binary),
                    _ => f.as_ref().clone(),
                })
                .collect();
            Ok(Arc::new(Schema::new_with_metadata(
                fields,
                file.metadata().clone(),
            )))
        }
    }
}

fn snapshot_columns(source: &Schema) -> Vec<SnapshotColumn> {
    source
        .fields()
        .iter()
        .map(|f| SnapshotColumn {
            name: f.name().clone(),
            hive_type: hive_type_name(f.data_type()).unwrap_or_else(|| "string".to_owned()),
        })
        .collect()
}

/// The columns of identity partition fields (stored in folder names, not in files).
fn identity_partition_columns(config: &TableConfig) -> impl Iterator<Item = &str> {
    config
        .partition_fields
        .iter()
        .filter(|f| f.transform == PartitionTransform::Identity)
        .map(|f| f.column.as_str())
}

/// Puts identity partition columns (not stored in files) back from the partition values.
pub(super) fn with_identity_columns(
    config: &TableConfig,
    batch: &RecordBatch,
    partition: Option<&PartitionValues>,
) -> Result<RecordBatch, MergeError> {
    let Some(values) = partition else {
        return Ok(batch.clone());
    };
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    for name in identity_partition_columns(config) {
        if let Ok(index) = schema.index_of(name)
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
