//! The Iceberg schema of a lake table, from the snapshot's columns (Hive types), the storage mode
//! and the primary key (COMMON15 §4–§6).
//!
//! Field ids are stateless and stable: Tributary's own columns get their position in
//! [`meta_columns::ALL`] + 1 (`cdc_order` = 1 … `is_deleted` = 6), source column `i` (0-based, in
//! the snapshot's append-only `columns`) gets [`FIRST_SOURCE_FIELD_ID`] + `i`. So appending a column
//! never changes an existing id, and the same columns always give the same schema. Field order:
//! source columns, then the mode's columns. The identifier fields (primary key, plus `cdc_order`
//! where a key has several versions) are required.

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef as ArrowSchemaRef, TimeUnit};
use iceberg::spec::{
    NestedField, NullOrder, PrimitiveType, Schema, SortDirection, SortField, SortOrder, Transform,
    Type,
};

use super::IcebergError;
use crate::lake::snapshot::SnapshotColumn;
use crate::lake::table_config::{StorageMode, meta_columns, mode_fields, parse_hive_type};

/// Field id of the first source column; Tributary's columns take the ids below it.
pub const FIRST_SOURCE_FIELD_ID: i32 = meta_columns::ALL.len() as i32 + 1;

/// Id of the sort order [`sort_order`] builds (0 is "unsorted").
const SORT_ORDER_ID: i64 = 1;

/// The field id of Tributary's column `name`, `None` for any other name.
pub fn mode_field_id(name: &str) -> Option<i32> {
    meta_columns::ALL
        .iter()
        .position(|m| *m == name)
        .and_then(|i| i32::try_from(i + 1).ok())
}

/// The field id of the source column at 0-based `position`.
pub fn source_field_id(position: usize) -> Option<i32> {
    i32::try_from(position)
        .ok()
        .and_then(|p| p.checked_add(FIRST_SOURCE_FIELD_ID))
}

/// The Iceberg type a Hive type is stored as: tinyint, smallint and int as `int`, bigint as
/// `long`, timestamp as `timestamp` (microseconds, no zone); `None` for a type Iceberg tables do
/// not support.
pub fn iceberg_type(hive_type: &str) -> Option<PrimitiveType> {
    parse_hive_type(hive_type).and_then(|t| primitive_of_arrow(&t))
}

/// The Iceberg type of an arrow type Tributary stores.
fn primitive_of_arrow(data_type: &DataType) -> Option<PrimitiveType> {
    Some(match data_type {
        DataType::Boolean => PrimitiveType::Boolean,
        DataType::Int8 | DataType::Int16 | DataType::Int32 => PrimitiveType::Int,
        DataType::Int64 => PrimitiveType::Long,
        DataType::Float32 => PrimitiveType::Float,
        DataType::Float64 => PrimitiveType::Double,
        DataType::Decimal128(precision, scale) => PrimitiveType::Decimal {
            precision: u32::from(*precision),
            scale: u32::try_from(*scale).ok()?,
        },
        DataType::Utf8 => PrimitiveType::String,
        DataType::Binary => PrimitiveType::Binary,
        DataType::Date32 => PrimitiveType::Date,
        DataType::Timestamp(TimeUnit::Microsecond, None) => PrimitiveType::Timestamp,
        _ => return None,
    })
}

/// The key fields of the mode: the primary key, plus `cdc_order` in history and scd2 (a key has
/// several versions there).
fn identifier_names(mode: StorageMode, primary_key: &[String]) -> Vec<&str> {
    let mut names: Vec<&str> = primary_key.iter().map(String::as_str).collect();
    if mode != StorageMode::Current {
        names.push(meta_columns::ORDER);
    }
    names
}

/// One schema field; required when it is an identifier field.
fn field(id: i32, name: &str, field_type: PrimitiveType, identifiers: &[&str]) -> NestedField {
    let field_type = Type::Primitive(field_type);
    if identifiers.contains(&name) {
        NestedField::required(id, name, field_type)
    } else {
        NestedField::optional(id, name, field_type)
    }
}

/// The table's Iceberg schema (schema id 0; the table metadata assigns the real one).
pub fn table_schema(
    columns: &[SnapshotColumn],
    mode: StorageMode,
    primary_key: &[String],
) -> Result<Schema, IcebergError> {
    let identifiers = identifier_names(mode, primary_key);
    let mut fields = Vec::with_capacity(columns.len() + meta_columns::ALL.len());
    for (position, column) in columns.iter().enumerate() {
        let unsupported = || IcebergError::UnsupportedType {
            column: column.name.clone(),
            hive_type: column.hive_type.clone(),
        };
        let field_type = iceberg_type(&column.hive_type).ok_or_else(unsupported)?;
        let id = source_field_id(position).ok_or_else(unsupported)?;
        fields.push(field(id, &column.name, field_type, &identifiers));
    }
    for mode_field in mode_fields(mode) {
        let unsupported = || IcebergError::UnsupportedType {
            column: mode_field.name().clone(),
            hive_type: mode_field.data_type().to_string(),
        };
        let field_type = primitive_of_arrow(mode_field.data_type()).ok_or_else(unsupported)?;
        let id = mode_field_id(mode_field.name()).ok_or_else(unsupported)?;
        fields.push(field(id, mode_field.name(), field_type, &identifiers));
    }
    let identifier_ids = identifiers
        .iter()
        .map(|name| {
            fields
                .iter()
                .find(|f| f.name == *name)
                .map(|f| f.id)
                .ok_or_else(|| IcebergError::UnknownColumn {
                    column: (*name).to_owned(),
                    role: "primary key",
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Schema::builder()
        .with_fields(fields.into_iter().map(Arc::new))
        .with_identifier_field_ids(identifier_ids)
        .build()
        .map_err(IcebergError::spec("building the table schema"))
}

/// The arrow schema data files of `schema` are written with: Iceberg's arrow types (int as Int32,
/// timestamps in microseconds, binary as LargeBinary) and each field's id as `PARQUET:field_id`
/// metadata, so the Parquet files carry Iceberg field ids.
pub fn file_arrow_schema(schema: &Schema) -> Result<ArrowSchemaRef, IcebergError> {
    iceberg::arrow::schema_to_arrow_schema(schema)
        .map(Arc::new)
        .map_err(IcebergError::spec("converting the schema to arrow"))
}

/// Whether an Iceberg table can promote `from` to `to`: the same type, int→long, float→double,
/// or a decimal's precision up with the same scale.
fn promotes(from: &PrimitiveType, to: &PrimitiveType) -> bool {
    match (from, to) {
        (PrimitiveType::Int, PrimitiveType::Long)
        | (PrimitiveType::Float, PrimitiveType::Double) => true,
        (
            PrimitiveType::Decimal {
                precision: p1,
                scale: s1,
            },
            PrimitiveType::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p2 >= p1,
        (from, to) => from == to,
    }
}

/// Refuses a schema change an Iceberg table cannot take: every previous column must stay at its
/// position (field ids are positions) with its type or a promotion of it (see [`promotes`]);
/// `next` may append columns. The error names the column and both Hive types.
pub fn check_promotions(
    previous: &[SnapshotColumn],
    next: &[SnapshotColumn],
) -> Result<(), IcebergError> {
    for (position, old) in previous.iter().enumerate() {
        let new = next
            .get(position)
            .filter(|new| new.name == old.name)
            .ok_or_else(|| IcebergError::ColumnMoved {
                column: old.name.clone(),
                position,
            })?;
        let incompatible = || IcebergError::IncompatibleType {
            column: old.name.clone(),
            from: old.hive_type.clone(),
            to: new.hive_type.clone(),
        };
        let from = iceberg_type(&old.hive_type).ok_or_else(incompatible)?;
        let to = iceberg_type(&new.hive_type).ok_or_else(incompatible)?;
        if !promotes(&from, &to) {
            return Err(incompatible());
        }
    }
    Ok(())
}

/// The table's sort order: the primary-key columns ascending (nulls first), then `cdc_order`.
pub fn sort_order(schema: &Schema, primary_key: &[String]) -> Result<SortOrder, IcebergError> {
    let mut builder = SortOrder::builder();
    builder.with_order_id(SORT_ORDER_ID);
    let names = primary_key
        .iter()
        .map(String::as_str)
        .chain([meta_columns::ORDER]);
    for name in names {
        let source = schema
            .field_by_name(name)
            .ok_or_else(|| IcebergError::UnknownColumn {
                column: name.to_owned(),
                role: "primary key",
            })?;
        builder.with_sort_field(SortField {
            source_id: source.id,
            transform: Transform::Identity,
            direction: SortDirection::Ascending,
            null_order: NullOrder::First,
        });
    }
    builder
        .build(schema)
        .map_err(IcebergError::spec("building the sort order"))
}

#[cfg(test)]
#[path = "schema_test.rs"]
mod tests;
