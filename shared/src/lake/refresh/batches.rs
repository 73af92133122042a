//! Small arrow operations the phases of a refresh share: named columns, projections, row
//! selection and sorting. A missing column is an engine bug, reported as [`MergeError::Arrow`].

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatchOptions, StringArray, UInt32Array};
use arrow::compute::{SortColumn, cast, lexsort_to_indices, take_record_batch};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use super::error::{MergeError, arrow};
use crate::lake::table_config::meta_columns;

/// The named column of `batch`; its absence is an engine bug reported as an arrow error.
pub(super) fn column<'b>(
    batch: &'b RecordBatch,
    name: &str,
    context: &'static str,
) -> Result<&'b ArrayRef, MergeError> {
    batch.column_by_name(name).ok_or_else(|| MergeError::Arrow {
        context,
        source: ArrowError::SchemaError(format!("column {name} missing")),
    })
}

/// The `cdc_order` column of `batch`.
pub(super) fn order_values(batch: &RecordBatch) -> Result<&StringArray, MergeError> {
    text_column(batch, meta_columns::ORDER, "reading change order")
}

/// The `cdc_op` column of `batch`.
pub(super) fn op_values(batch: &RecordBatch) -> Result<&StringArray, MergeError> {
    text_column(batch, meta_columns::OP, "reading change ops")
}

/// The named text column of `batch`.
fn text_column<'b>(
    batch: &'b RecordBatch,
    name: &str,
    context: &'static str,
) -> Result<&'b StringArray, MergeError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| MergeError::Arrow {
            context,
            source: ArrowError::SchemaError(format!("{name} missing")),
        })
}

/// The columns of `schema`, by name, from `batch`.
pub(super) fn project(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, MergeError> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            let column = column(batch, f.name(), "projecting rows")?;
            if column.data_type() == f.data_type() {
                return Ok(Arc::clone(column));
            }
            cast(column, f.data_type()).map_err(arrow("casting rows to the file's types"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(arrow("projecting rows"))
}

/// The rows `rows` of `batch`, in that order.
pub(super) fn take_rows(batch: &RecordBatch, rows: Vec<u32>) -> Result<RecordBatch, MergeError> {
    take_record_batch(batch, &UInt32Array::from(rows)).map_err(arrow("selecting rows"))
}

/// `batch` sorted by the columns at `columns`.
pub(super) fn sort_batch(
    batch: &RecordBatch,
    columns: &[usize],
) -> Result<RecordBatch, MergeError> {
    if batch.num_rows() < 2 || columns.is_empty() {
        return Ok(batch.clone());
    }
    let sort: Vec<SortColumn> = columns
        .iter()
        .map(|i| SortColumn {
            values: Arc::clone(batch.column(*i)),
            options: None,
        })
        .collect();
    let indices = lexsort_to_indices(&sort, None).map_err(arrow("sorting rows"))?;
    take_record_batch(batch, &indices).map_err(arrow("sorting rows"))
}
