//! Primary-key values as comparable scalars: per-file key ranges kept in the snapshot, and the
//! tests that let a refresh skip files (min/max) and row groups (Parquet bloom filters) that
//! cannot hold a changed key.

use arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use arrow::compute::{cast, max, max_string, min, min_string};
use arrow::datatypes::{DataType, Decimal128Type, TimeUnit};
use parquet::bloom_filter::Sbbf;
use serde::{Deserialize, Serialize};

/// One key column value, as compared in ranges and bloom filters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyBound {
    /// Integers, dates (days), timestamps (micros) and decimals up to 18 digits (unscaled).
    Int(i64),
    /// Strings.
    Text(String),
}

/// Min and max of one key column in one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    /// The column's type when the file was written; a range is ignored once the type changes.
    pub hive_type: String,
    /// Smallest value.
    pub min: KeyBound,
    /// Largest value.
    pub max: KeyBound,
}

/// Whether arrow values of this type map to [`KeyBound`]s.
pub fn supports(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Microsecond, None)
            | DataType::Utf8
    ) || matches!(data_type, DataType::Decimal128(p, _) if *p <= 18)
}

fn as_int64(array: &ArrayRef) -> Option<Int64Array> {
    match array.data_type() {
        DataType::Decimal128(p, _) if *p <= 18 => {
            let decimals = array.as_primitive::<Decimal128Type>();
            Some(
                decimals
                    .iter()
                    .map(|v| v.and_then(|v| i64::try_from(v).ok()))
                    .collect(),
            )
        }
        DataType::Date32 => cast(&cast(array, &DataType::Int32).ok()?, &DataType::Int64)
            .ok()
            .map(|a| a.as_primitive().clone()),
        t if supports(t) && *t != DataType::Utf8 => cast(array, &DataType::Int64)
            .ok()
            .map(|a| a.as_primitive().clone()),
        _ => None,
    }
}

/// The key bounds of every row of `key_columns` (one inner value per key column; `None` for
/// nulls and unsupported types).
pub fn row_bounds(key_columns: &[ArrayRef]) -> Vec<Vec<Option<KeyBound>>> {
    let rows = key_columns.first().map_or(0, |c| c.len());
    let per_column: Vec<Vec<Option<KeyBound>>> = key_columns
        .iter()
        .map(|column| match column.data_type() {
            DataType::Utf8 => column
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(|s| KeyBound::Text(s.to_owned())))
                .collect(),
            _ => match as_int64(column) {
                Some(ints) => ints.iter().map(|v| v.map(KeyBound::Int)).collect(),
                None => vec![None; rows],
            },
        })
        .collect();
    (0..rows)
        .map(|row| {
            per_column
                .iter()
                .map(|column| column.get(row).cloned().flatten())
                .collect()
        })
        .collect()
}

/// Accumulates the key ranges of the batches written to one file.
#[derive(Debug, Clone)]
pub struct RangeTracker {
    hive_types: Vec<String>,
    ranges: Vec<Option<(KeyBound, KeyBound)>>,
    complete: bool,
}

impl RangeTracker {
    /// A tracker for key columns of the given Hive types.
    pub fn new(hive_types: Vec<String>) -> RangeTracker {
        let ranges = vec![None; hive_types.len()];
        RangeTracker {
            hive_types,
            ranges,
            complete: true,
        }
    }

    /// Adds the key columns of one written batch.
    pub fn update(&mut self, key_columns: &[ArrayRef]) {
        for (slot, column) in self.ranges.iter_mut().zip(key_columns) {
            if column.null_count() > 0 {
                self.complete = false;
            }
            let found = match column.data_type() {
                DataType::Utf8 => {
                    let strings = column.as_string::<i32>();
                    min_string(strings)
                        .zip(max_string(strings))
                        .map(|(lo, hi)| {
                            (KeyBound::Text(lo.to_owned()), KeyBound::Text(hi.to_owned()))
                        })
                }
                _ => match as_int64(column) {
                    Some(ints) if ints.null_count() == column.null_count() => min(&ints)
                        .zip(max(&ints))
                        .map(|(lo, hi)| (KeyBound::Int(lo), KeyBound::Int(hi))),
                    _ => {
                        self.complete = false;
                        None
                    }
                },
            };
            if let Some((lo, hi)) = found {
                *slot = Some(match slot.take() {
                    None => (lo, hi),
                    Some((a, b)) => (a.min(lo), b.max(hi)),
                });
            }
        }
    }

    /// The ranges, or `None` when some key value was null or of an unsupported type.
    pub fn finish(self) -> Option<Vec<KeyRange>> {
        if !self.complete {
            return None;
        }
        self.hive_types
            .into_iter()
            .zip(self.ranges)
            .map(|(hive_type, range)| {
                range.map(|(min, max)| KeyRange {
                    hive_type,
                    min,
                    max,
                })
            })
            .collect()
    }
}

/// Whether a file with these ranges may hold `key`. Unknown ranges, ranges written under another
/// column type and unknown key values all answer "maybe" (`true`).
pub fn may_contain(
    ranges: Option<&[KeyRange]>,
    hive_types: &[String],
    key: &[Option<KeyBound>],
) -> bool {
    let Some(ranges) = ranges else { return true };
    ranges
        .iter()
        .zip(hive_types)
        .zip(key)
        .all(|((range, hive_type), value)| match value {
            Some(value) if range.hive_type == *hive_type => {
                range.min <= *value && *value <= range.max
            }
            _ => true,
        })
}

/// Whether a row group's bloom filter may hold `value` of a column of `data_type`. Types without a
/// well-defined physical value answer "maybe".
pub fn bloom_may_contain(filter: &Sbbf, data_type: &DataType, value: &KeyBound) -> bool {
    match (data_type, value) {
        (DataType::Utf8, KeyBound::Text(text)) => filter.check(text.as_str()),
        (
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::UInt8
            | DataType::UInt16
            | DataType::Date32,
            KeyBound::Int(v),
        ) => i32::try_from(*v).is_ok_and(|v| filter.check(&v)),
        (DataType::Decimal128(p, _), KeyBound::Int(v)) if *p <= 9 => {
            i32::try_from(*v).is_ok_and(|v| filter.check(&v))
        }
        (DataType::UInt32, KeyBound::Int(v)) => {
            u32::try_from(*v).is_ok_and(|v| filter.check(&(v as i32)))
        }
        (DataType::Int64 | DataType::Timestamp(TimeUnit::Microsecond, None), KeyBound::Int(v)) => {
            filter.check(v)
        }
        (DataType::Decimal128(p, _), KeyBound::Int(v)) if *p <= 18 => filter.check(v),
        _ => true,
    }
}

#[cfg(test)]
#[path = "key_ranges_test.rs"]
mod tests;
