//! Schema evolution of lake tables: merging a table's schema with the schema of an incoming DMS
//! file ([`evolve`]) and making batches conform to the merged schema ([`conform`]).
//!
//! Only lossless widenings are applied automatically: `Int8 → Int16 → Int32 → Int64`,
//! `Float32 → Float64`, a `Decimal128` to one with at least as many integer and fraction digits, and
//! the `Null` type to anything. Any other type change stops the table with
//! [`SchemaError::Incompatible`], which says how to fix it.

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use thiserror::Error;

/// The largest precision of a `Decimal128`.
const MAX_DECIMAL128_PRECISION: u8 = 38;

/// Why a schema cannot evolve or a batch cannot conform.
#[derive(Debug, Error)]
pub enum SchemaError {
    /// An incoming file changes a column's type in a way that could lose data.
    #[error(
        "file `{file}`: column `{column}` is {file_type} in the file but {table_type} in the \
         table, and neither type widens losslessly to the other. The table stops at this file and \
         nothing is lost: this file and every later change stay pending until the conflict is \
         resolved. Fix: add a DMS transformation rule that keeps the column's type \
         ({table_type}), or re-create the table with the new type"
    )]
    Incompatible {
        /// The incoming file.
        file: String,
        /// The column whose type changed.
        column: String,
        /// The column's type in the table.
        table_type: DataType,
        /// The column's type in the file.
        file_type: DataType,
    },
    /// An incoming file declares a column twice.
    #[error(
        "file `{file}`: column `{column}` appears twice; the table stops at this file and nothing \
         is lost. Fix: rename one of the columns with a DMS transformation rule"
    )]
    DuplicateColumn {
        /// The incoming file.
        file: String,
        /// The repeated column.
        column: String,
    },
    /// A batch has a column the target schema does not (the schema was not evolved first).
    #[error(
        "column `{column}` of the batch is not in the target schema; evolve the table schema with \
         the batch's schema before conforming"
    )]
    UnexpectedColumn {
        /// The batch column.
        column: String,
    },
    /// A batch column's type is neither the target type nor losslessly widened to it.
    #[error(
        "column `{column}` is {batch_type} in the batch, which does not widen losslessly to the \
         target type {target_type}; evolve the table schema with the batch's schema first"
    )]
    NotWidening {
        /// The batch column.
        column: String,
        /// Its type in the batch.
        batch_type: DataType,
        /// Its type in the target schema.
        target_type: DataType,
    },
    /// An arrow kernel failed while conforming a batch.
    #[error("arrow failed while conforming a batch: {0}")]
    Arrow(#[from] ArrowError),
}

/// Whether every value of `from` is exactly representable in `to` under Tributary's widening
/// rules (reflexive: a type widens to itself).
pub fn is_widening(from: &DataType, to: &DataType) -> bool {
    if from == to || *from == DataType::Null {
        return true;
    }
    match (from, to) {
        (DataType::Int8, DataType::Int16 | DataType::Int32 | DataType::Int64)
        | (DataType::Int16, DataType::Int32 | DataType::Int64)
        | (DataType::Int32, DataType::Int64)
        | (DataType::Float32, DataType::Float64) => true,
        (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) => {
            let (p1, s1, p2, s2) = (
                i16::from(*p1),
                i16::from(*s1),
                i16::from(*p2),
                i16::from(*s2),
            );
            s2 >= s1 && p2 - s2 >= p1 - s1 && p2 <= i16::from(MAX_DECIMAL128_PRECISION)
        }
        _ => false,
    }
}

/// The type a column of type `table` in the table and `file` in a file merges to, `None` when
/// incompatible.
fn merge_types(table: &DataType, file: &DataType) -> Option<DataType> {
    if is_widening(file, table) {
        return Some(table.clone());
    }
    if is_widening(table, file) {
        return Some(file.clone());
    }
    match (table, file) {
        (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let integer_digits =
                (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
            let precision = u8::try_from(integer_digits + i16::from(scale)).ok()?;
            (1..=MAX_DECIMAL128_PRECISION)
                .contains(&precision)
                .then_some(DataType::Decimal128(precision, scale))
        }
        _ => None,
    }
}

/// Merges the table's current schema with an incoming file's schema. The result has all table
/// fields in their order (types possibly widened), then the file's new fields in file order; every
/// field is nullable. A table field missing from the file is kept. Field and schema metadata come
/// from the table (new fields keep the file's field metadata).
pub fn evolve(table: &Schema, incoming: &Schema, file: &str) -> Result<Schema, SchemaError> {
    for (i, field) in incoming.fields().iter().enumerate() {
        if incoming
            .fields()
            .iter()
            .take(i)
            .any(|f| f.name() == field.name())
        {
            return Err(SchemaError::DuplicateColumn {
                file: file.to_owned(),
                column: field.name().clone(),
            });
        }
    }
    let mut fields: Vec<FieldRef> =
        Vec::with_capacity(table.fields().len() + incoming.fields().len());
    for field in table.fields() {
        let data_type = match incoming.field_with_name(field.name()) {
            Ok(other) => merge_types(field.data_type(), other.data_type()).ok_or_else(|| {
                SchemaError::Incompatible {
                    file: file.to_owned(),
                    column: field.name().clone(),
                    table_type: field.data_type().clone(),
                    file_type: other.data_type().clone(),
                }
            })?,
            Err(_) => field.data_type().clone(),
        };
        fields.push(nullable(field, data_type));
    }
    for field in incoming.fields() {
        if table.field_with_name(field.name()).is_err() {
            fields.push(nullable(field, field.data_type().clone()));
        }
    }
    Ok(Schema::new_with_metadata(fields, table.metadata().clone()))
}

fn nullable(field: &Field, data_type: DataType) -> FieldRef {
    field
        .clone()
        .with_data_type(data_type)
        .with_nullable(true)
        .into()
}

/// Makes a batch conform to `target`: columns are matched by name, target columns missing from the
/// batch are filled with nulls, other columns are cast (only the widenings [`is_widening`] allows),
/// and the output is in target order with the target schema. A batch column absent from `target`
/// is an error.
pub fn conform(batch: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch, SchemaError> {
    let schema = batch.schema();
    if let Some(extra) = schema
        .fields()
        .iter()
        .find(|f| target.field_with_name(f.name()).is_err())
    {
        return Err(SchemaError::UnexpectedColumn {
            column: extra.name().clone(),
        });
    }
    let rows = batch.num_rows();
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = target
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef, SchemaError> {
            let Some(column) = batch.column_by_name(field.name()) else {
                return Ok(new_null_array(field.data_type(), rows));
            };
            if column.data_type() == field.data_type() {
                Ok(column.clone())
            } else if is_widening(column.data_type(), field.data_type()) {
                Ok(cast_with_options(column, field.data_type(), &options)?)
            } else {
                Err(SchemaError::NotWidening {
                    column: field.name().clone(),
                    batch_type: column.data_type().clone(),
                    target_type: field.data_type().clone(),
                })
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch_options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &batch_options,
    )?)
}

#[cfg(test)]
#[path = "schema_evolution_test.rs"]
mod tests;
