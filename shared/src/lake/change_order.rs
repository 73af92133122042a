//! The total order of changes, materialised as the sortable `cdc_order` string.
//!
//! A change's position is: its ordering value (the sequence column when configured, else the
//! commit timestamp), then its file's place in the table's file order, then its row position in
//! that file. The string compares byte-wise in exactly that order, so "newer" is `>` everywhere
//! (in memory, in stored rows, in tombstones). See docs/DESIGN.md §6.
//!
//! Layout: `<present><value>\u{1F}<file order key>\u{1F}<row>` where `<present>` is `0` with an
//! empty value when the row has no ordering value (full loads), else `1`; `<value>` is 40 digits
//! for sequences and `YYYY-MM-DDTHH:MM:SS.ffffff[nnn]` for commit times; `<row>` is 10 digits.
//! `\u{1F}` sorts before every character an object key may contain, so a file key that is a prefix
//! of another still sorts first.
//!
//! Commit times keep full precision: six fractional digits always, then the sub-microsecond
//! digits (at most three) only when they are not all zero, without trailing zeros. So a
//! microsecond time is spelled exactly as before sub-microsecond digits were kept (rows already
//! stored compare unchanged), one instant has one spelling, and a longer spelling is a later
//! instant than its prefix (its extra digits end in a non-zero digit, and the separator that ends
//! the shorter one sorts below every digit).
//!
//! Commit times come from a timestamp or date column, or from text (DMS writes its
//! `TimestampColumnName` column as a string in Parquet, and CSV is text):
//! `yyyy-MM-dd HH:mm:ss[.f]` with 0–9 fractional digits (`T` may separate date and time), UTC.

use std::fmt::Write;

use arrow::array::{
    Array, ArrayRef, AsArray, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit, TimestampMicrosecondType};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use thiserror::Error;

/// Width of a sequence value.
const SEQUENCE_DIGITS: usize = 40;
/// Separator between the parts; lower than any character of an object key.
pub const ORDER_SEPARATOR: char = '\u{1F}';
/// Length of `yyyy-MM-dd HH:mm:ss`, the commit-time text before its fraction.
const COMMIT_TIME_SECONDS_LEN: usize = 19;
/// Most fractional digits a commit-time text may have (nanoseconds).
const MAX_FRACTION_DIGITS: usize = 9;

/// What orders the rows of one file.
#[derive(Debug, Clone, Copy)]
pub enum FileOrdering<'a> {
    /// A monotonic sequence column (integer, digits-only string, or scale-0 decimal).
    Sequence {
        /// The column's name.
        column: &'a str,
        /// Its values in the file.
        values: &'a ArrayRef,
    },
    /// The rows' commit times.
    CommitTimes(&'a CommitTimes),
    /// Neither: only file order and row position.
    None,
}

/// A row's ordering value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChangeOrderError {
    /// The ordering column is not a type Tributary can order by.
    #[error(
        "ordering column `{column}` has type {data_type}; fix: use an integer, digit string or scale-0 decimal sequence, or a timestamp, date or `yyyy-MM-dd HH:mm:ss[.fffffffff]` text commit-time column"
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
    /// A text commit timestamp that is not `yyyy-MM-dd HH:mm:ss[.fffffffff]`.
    #[error(
        "row {row}, column `{column}`: commit timestamp {value:?} is not `yyyy-MM-dd HH:mm:ss` with 0-9 fractional digits (UTC, as DMS writes its TimestampColumnName column); fix: check that ordering.commit_timestamp_column names the DMS TimestampColumnName column, or correct the value in the file"
    )]
    BadCommitTimestamp {
        /// 1-based row in the file.
        row: usize,
        /// The column.
        column: String,
        /// The text found.
        value: String,
    },
}

/// The commit times of one file's rows (null where the column is null), parsed once and used
/// for the total order and for scd2 `valid_from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTimes {
    times: Vec<Option<NaiveDateTime>>,
}

impl CommitTimes {
    /// Reads the commit-timestamp column `column` of a file: a timestamp or date column, or
    /// text in `yyyy-MM-dd HH:mm:ss[.f]` (0–9 fractional digits, `T` also accepted between date
    /// and time). An unparsable text or a time outside years 0..=9999 names its 1-based row.
    pub fn parse(column: &str, values: &ArrayRef) -> Result<CommitTimes, ChangeOrderError> {
        let times = match values.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                parse_texts(column, values)?
            }
            DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
                parse_instants(column, values)?
            }
            _ => return Err(unsupported(column, values)),
        };
        Ok(CommitTimes { times })
    }

    /// The times as UTC microseconds (sub-microsecond digits truncated): scd2 `valid_from`.
    pub fn micros(&self) -> TimestampMicrosecondArray {
        self.times
            .iter()
            .map(|time| time.map(|t| t.and_utc().timestamp_micros()))
            .collect()
    }
}

fn parse_texts(
    column: &str,
    values: &ArrayRef,
) -> Result<Vec<Option<NaiveDateTime>>, ChangeOrderError> {
    let text = cast_with_options(values, &DataType::Utf8, &CastOptions::default())
        .map_err(|_| unsupported(column, values))?;
    text.as_string::<i32>()
        .iter()
        .enumerate()
        .map(|(row, value)| match value {
            None => Ok(None),
            Some(value) => parse_commit_time(value).map(Some).ok_or_else(|| {
                ChangeOrderError::BadCommitTimestamp {
                    row: row + 1,
                    column: column.to_owned(),
                    value: value.to_owned(),
                }
            }),
        })
        .collect()
}

fn parse_instants(
    column: &str,
    values: &ArrayRef,
) -> Result<Vec<Option<NaiveDateTime>>, ChangeOrderError> {
    let micros = cast_with_options(
        values,
        &DataType::Timestamp(TimeUnit::Microsecond, None),
        &CastOptions::default(),
    )
    .map_err(|_| unsupported(column, values))?;
    micros
        .as_primitive::<TimestampMicrosecondType>()
        .iter()
        .enumerate()
        .map(|(row, value)| match value {
            None => Ok(None),
            Some(value) => DateTime::from_timestamp_micros(value)
                .map(|t| t.naive_utc())
                .filter(|t| (0..=9999).contains(&t.year()))
                .map(Some)
                .ok_or_else(|| ChangeOrderError::TimestampOutOfRange {
                    row: row + 1,
                    column: column.to_owned(),
                }),
        })
        .collect()
}

/// Parses `yyyy-MM-dd HH:mm:ss[.f]` (0–9 fractional digits; `T` also separates date and time).
fn parse_commit_time(text: &str) -> Option<NaiveDateTime> {
    let (seconds, rest) = text.split_at_checked(COMMIT_TIME_SECONDS_LEN)?;
    let shaped = seconds.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b' ' || b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    if !shaped {
        return None;
    }
    let nanos = match rest.strip_prefix('.') {
        None if rest.is_empty() => 0,
        Some(digits)
            if (1..=MAX_FRACTION_DIGITS).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let scale = 10u32.pow(u32::try_from(MAX_FRACTION_DIGITS - digits.len()).ok()?);
            digits.parse::<u32>().ok()?.checked_mul(scale)?
        }
        _ => return None,
    };
    let number = |from: usize, to: usize| seconds.get(from..to)?.parse::<u32>().ok();
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0, 4)?).ok()?,
        number(5, 7)?,
        number(8, 10)?,
    )?;
    let time =
        NaiveTime::from_hms_nano_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?, nanos)?;
    Some(date.and_time(time))
}

/// Builds the `cdc_order` column for the `rows` rows of one file.
pub fn order_column(
    rows: usize,
    ordering: FileOrdering<'_>,
    file_order_key: &str,
) -> Result<StringArray, ChangeOrderError> {
    let mut builder = StringBuilder::with_capacity(rows, rows * (file_order_key.len() + 64));
    match ordering {
        FileOrdering::None => {
            for row in 0..rows {
                push(&mut builder, "", file_order_key, row);
            }
        }
        FileOrdering::Sequence { column, values } => {
            write_sequences(&mut builder, column, values, file_order_key)?
        }
        FileOrdering::CommitTimes(times) => write_commit_times(&mut builder, times, file_order_key),
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

fn write_commit_times(builder: &mut StringBuilder, times: &CommitTimes, file_order_key: &str) {
    let mut text = String::with_capacity(32);
    for (row, time) in times.times.iter().enumerate() {
        text.clear();
        if let Some(time) = time {
            write_commit_time(&mut text, time);
        }
        push(builder, &text, file_order_key, row);
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, then the sub-microsecond digits without trailing zeros.
fn write_commit_time(out: &mut String, time: &NaiveDateTime) {
    let _ = write!(out, "{}", time.format("%Y-%m-%dT%H:%M:%S%.6f"));
    let sub_micro = time.nanosecond() % 1_000;
    if sub_micro != 0 {
        let digits = format!("{sub_micro:03}");
        out.push_str(digits.trim_end_matches('0'));
    }
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
