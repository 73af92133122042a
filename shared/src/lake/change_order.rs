//! The total order of changes, materialised as the sortable `cdc_order` string.
//!
//! A change's position is: its ordering value (the sequence column when configured, else the
//! commit timestamp), then its file's place in the table's file order, then its row position in
//! that file. The string compares byte-wise in exactly that order, so "newer" is `>` everywhere
//! (in memory, in stored rows, in tombstones). See docs/DESIGN.md §6.
//!
//! Layout: `<present><value>\u{1F}<file order key>\u{1F}<row>` where `<present>` is `0` with an
//! empty value when the row has no ordering value (full loads), else `1`; `<value>` is 40 digits
//! for sequences and `YYYY-MM-DDTHH:MM:SS.ffffff` for timestamps; `<row>` is 10 digits. `\u{1F}`
//! sorts before every character an object key may contain, so a file key that is a prefix of
//! another still sorts first.

use std::fmt::Write;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::DateTime;
use thiserror::Error;

/// Width of a sequence value.
const SEQUENCE_DIGITS: usize = 40;
/// Separator between the parts; lower than any character of an object key.
pub const ORDER_SEPARATOR: char = '\u{1F}';

/// Which column orders the changes of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderingColumn<'a> {
    /// A monotonic sequence (integer, digits-only string, or scale-0 decimal).
    Sequence(&'a str),
    /// A commit timestamp (timestamp or date).
    CommitTimestamp(&'a str),
    /// Neither: only file order and row position.
    None,
}

/// A row's ordering value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangeOrderError {
    /// The ordering column is not a type Tributary can order by.
    #[error(
        "ordering column `{column}` has type {data_type}; fix: use an integer, digit string or scale-0 decimal sequence, or a timestamp/date commit-time column"
    )]
    UnsupportedType {
        /// The column.
        column: String,
        /// Its type.
        data_type: String,
    },
    /// A sequence value is negative, not made of digits, or longer than 40 digits.
    #[error(
        "row {row}: sequence column `{column}` holds {value:?}, not a non-negative integer of at most 40 digits; fix: map `$AR_H_CHANGE_SEQ` (or another monotonic counter) into this column"
    )]
    BadSequence {
        /// 1-based row in the file.
        row: usize,
        /// The column.
        column: String,
        /// The value found.
        value: String,
    },
    /// A commit timestamp outside years 0..=9999.
    #[error(
        "row {row}: commit timestamp in `{column}` is out of range; fix: check the DMS TimestampColumnName column"
    )]
    TimestampOutOfRange {
        /// 1-based row in the file.
        row: usize,
        /// The column.
        column: String,
    },
}

/// Builds the `cdc_order` column for the rows of one file.
///
/// `columns` holds the file's source columns; when the ordering column is absent from the file its
/// rows have no ordering value (they sort before every row that has one).
pub fn order_column(
    columns: &RecordBatch,
    ordering: OrderingColumn<'_>,
    file_order_key: &str,
) -> Result<StringArray, ChangeOrderError> {
    let rows = columns.num_rows();
    let mut builder = StringBuilder::with_capacity(rows, rows * (file_order_key.len() + 64));
    let values = match ordering {
        OrderingColumn::Sequence(name) => columns.column_by_name(name).map(|a| (name, a, true)),
        OrderingColumn::CommitTimestamp(name) => {
            columns.column_by_name(name).map(|a| (name, a, false))
        }
        OrderingColumn::None => None,
    };
    match values {
        None => {
            for row in 0..rows {
                push(&mut builder, "", file_order_key, row);
            }
        }
        Some((name, array, true)) => write_sequences(&mut builder, name, array, file_order_key)?,
        Some((name, array, false)) => write_timestamps(&mut builder, name, array, file_order_key)?,
    }
    Ok(builder.finish())
}

fn push(builder: &mut StringBuilder, value: &str, file_order_key: &str, row: usize) {
    let present = if value.is_empty() { '0' } else { '1' };
    // Writing into the builder's value buffer cannot fail.
    let _ = write!(
        builder,
        "{present}{value}{ORDER_SEPARATOR}{file_order_key}{ORDER_SEPARATOR}{row:010}"
    );
    builder.append_value("");
}

fn write_sequences(
    builder: &mut StringBuilder,
    column: &str,
    array: &ArrayRef,
    file_order_key: &str,
) -> Result<(), ChangeOrderError> {
    let bad = |row: usize, value: String| ChangeOrderError::BadSequence {
        row: row + 1,
        column: column.to_owned(),
        value,
    };
    let mut digits = String::with_capacity(SEQUENCE_DIGITS);
    match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())
                .map_err(|_| unsupported(column, array))?;
            let text = text.as_string::<i32>();
            for row in 0..text.len() {
                digits.clear();
                if text.is_valid(row) {
                    let value = text.value(row);
                    let trimmed = value.trim_start_matches('0');
                    if value.is_empty()
                        || !value.bytes().all(|b| b.is_ascii_digit())
                        || trimmed.len() > SEQUENCE_DIGITS
                    {
                        return Err(bad(row, value.to_owned()));
                    }
                    let _ = write!(digits, "{trimmed:0>SEQUENCE_DIGITS$}");
                }
                push(builder, &digits, file_order_key, row);
            }
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal128(_, 0) => {
            let wide =
                cast_with_options(array, &DataType::Decimal128(38, 0), &CastOptions::default())
                    .map_err(|_| unsupported(column, array))?;
            let wide = wide.as_primitive::<Decimal128Type>();
            for row in 0..wide.len() {
                digits.clear();
                if wide.is_valid(row) {
                    let value = wide.value(row);
                    if value < 0 {
                        return Err(bad(row, value.to_string()));
                    }
                    let _ = write!(digits, "{value:0>SEQUENCE_DIGITS$}");
                }
                push(builder, &digits, file_order_key, row);
            }
        }
        _ => return Err(unsupported(column, array)),
    }
    Ok(())
}

fn write_timestamps(
    builder: &mut StringBuilder,
    column: &str,
    array: &ArrayRef,
    file_order_key: &str,
) -> Result<(), ChangeOrderError> {
    let micros = match array.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => cast_with_options(
            array,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
            &CastOptions::default(),
        )
        .map_err(|_| unsupported(column, array))?,
        _ => return Err(unsupported(column, array)),
    };
    let micros = micros.as_primitive::<TimestampMicrosecondType>();
    let mut text = String::with_capacity(32);
    for row in 0..micros.len() {
        text.clear();
        if micros.is_valid(row) {
            let time = DateTime::from_timestamp_micros(micros.value(row))
                .filter(|t| (0..=9999).contains(&chrono::Datelike::year(t)))
                .ok_or_else(|| ChangeOrderError::TimestampOutOfRange {
                    row: row + 1,
                    column: column.to_owned(),
                })?;
            let _ = write!(text, "{}", time.format("%Y-%m-%dT%H:%M:%S%.6f"));
        }
        push(builder, &text, file_order_key, row);
    }
    Ok(())
}

fn unsupported(column: &str, array: &ArrayRef) -> ChangeOrderError {
    ChangeOrderError::UnsupportedType {
        column: column.to_owned(),
        data_type: array.data_type().to_string(),
    }
}

#[cfg(test)]
#[path = "change_order_test.rs"]
mod tests;
