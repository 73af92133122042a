//! Hive partitioning of lake rows: which partition each row of a batch belongs to, how partition
//! values are written in object paths, and how identity partition columns are re-created when a
//! stored file is read back (Hive stores them in the path, not in the data files).
//!
//! Rows are grouped with arrow's row format: each row gets a group id from a hash of its encoded
//! partition columns, and one set of partition strings is rendered per distinct partition, never per
//! row. Rendering follows Hive: values are `%XX`-escaped, null and empty values become
//! [`HIVE_DEFAULT_PARTITION`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, PrimitiveArray, StringArray, UInt32Array, make_array,
    new_null_array,
};
use arrow::compute::{CastOptions, cast, cast_with_options, take};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Field, Int8Type, Int16Type,
    Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::row::{Row, RowConverter, SortField};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::table_config::{
    DatePartitionStyle, PartitionField, PartitionTransform, partition_key_names,
};

/// The path value Hive uses for a null (or empty) partition value.
pub const HIVE_DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Why rows could not be partitioned, a partition path not parsed, or a partition column not
/// re-created.
#[derive(Debug, Error)]
pub enum PartitionError {
    /// A partition field names a column the batch does not have.
    #[error(
        "partition column `{column}` is not in the batch; fix: make sure the source files carry \
         the column, or change partition_by"
    )]
    MissingColumn {
        /// The column named by the partition field.
        column: String,
    },
    /// The column's type cannot be used with the field's transform.
    #[error(
        "partition column `{column}` has type {data_type}, which {transform} partitioning does \
         not support; {supported}"
    )]
    UnsupportedType {
        /// The partition column.
        column: String,
        /// The column's arrow type.
        data_type: DataType,
        /// The transform, e.g. `day`.
        transform: &'static str,
        /// Which types the transform supports.
        supported: &'static str,
    },
    /// A batch has more rows than a `u32` group index can address.
    #[error("a batch of {rows} rows is too large to partition; split it into smaller batches")]
    TooManyRows {
        /// Rows in the batch.
        rows: usize,
    },
    /// A partition path is not `k1=v1/k2=v2` with valid Hive escapes.
    #[error("partition path {path:?} is malformed: {problem}")]
    MalformedPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The partition values have no key for the requested identity column.
    #[error("partition {path:?} has no key `{key}`")]
    MissingKey {
        /// The requested key (the identity column's name).
        key: String,
        /// The partition's path.
        path: String,
    },
    /// A stored partition value does not parse as the column's type.
    #[error("partition value {value:?} of `{key}` is not a valid {data_type}: {problem}")]
    InvalidValue {
        /// The partition key.
        key: String,
        /// The stored value.
        value: String,
        /// The column's arrow type.
        data_type: DataType,
        /// Why it does not parse.
        problem: String,
    },
    /// An arrow kernel failed.
    #[error("arrow failed while partitioning: {0}")]
    Arrow(#[from] ArrowError),
}

/// AWS Glue's limit on each partition value (`PartitionInput.Values`: 1–1,024 characters). Counted
/// in UTF-16 code units, as the service counts characters, so a value within it is accepted.
pub const GLUE_MAX_PARTITION_VALUE_CHARS: usize = 1024;
/// How much of a refused value or path an error message shows.
const LIMIT_PREFIX_CHARS: usize = 40;

/// A partition the lake bucket or the catalog cannot hold (docs/DESIGN.md §10).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PartitionLimitError {
    /// A value longer than AWS Glue accepts.
    #[error(
        "the value of partition key `{key}` starting {value_prefix:?} is {length} characters long; AWS Glue accepts at most {GLUE_MAX_PARTITION_VALUE_CHARS} per partition value; fix: partition by a column with shorter values (or a date transform), or shorten the value at the source"
    )]
    GlueValueTooLong {
        /// The partition key.
        key: String,
        /// The value's first characters.
        value_prefix: String,
        /// Its length in UTF-16 code units.
        length: usize,
    },
    /// A partition path that makes object keys longer than S3 accepts.
    #[error(
        "partition `{path_prefix}…` makes object keys of up to {key_bytes} bytes; S3 accepts at most {limit} bytes per key; fix: partition by columns with shorter values (Hive escaping triples some characters), or choose a shorter target.location"
    )]
    ObjectKeyTooLong {
        /// The partition path's first characters.
        path_prefix: String,
        /// The longest key its files can have.
        key_bytes: usize,
        /// The limit.
        limit: usize,
    },
}

/// The first `LIMIT_PREFIX_CHARS` characters of `text`.
pub(crate) fn limit_prefix(text: &str) -> String {
    text.chars().take(LIMIT_PREFIX_CHARS).collect()
}

const IDENTITY_TYPES: &str = "identity partitions support string, integer, boolean, date, \
     timestamp and decimal columns";
const DATE_TYPES: &str = "date transforms support date and timestamp columns without a time zone \
     or in UTC";

/// Whether Hive escapes the character in partition keys and values.
fn needs_escape(c: char) -> bool {
    c.is_ascii_control()
        || matches!(
            c,
            '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
        )
}

/// Hive escaping of a partition value: `%XX` (uppercase hex) for control characters (0x00-0x1F,
/// 0x7F) and for `" # % ' * / : = ? \ { [ ] ^`; everything else (including non-ASCII UTF-8) is
/// unchanged.
pub fn escape_partition_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if needs_escape(c) {
            // Only ASCII characters are escaped, so the code point is one byte.
            let _ = write!(out, "%{:02X}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Inverse of [`escape_partition_value`]: decodes every `%XX` (either hex case). `None` when a `%`
/// is not followed by two hex digits or the decoded bytes are not UTF-8.
pub fn unescape_partition_value(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex_digit(*bytes.get(i + 1)?)?;
            let lo = hex_digit(*bytes.get(i + 2)?)?;
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// One partition: ordered `(key, value)` pairs, outermost first; a `None` value is null (rendered
/// as [`HIVE_DEFAULT_PARTITION`]). Values are stored unescaped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PartitionValues(pub Vec<(String, Option<String>)>);

impl PartitionValues {
    /// `k1=v1/k2=v2` with escaped keys and values; `""` for an unpartitioned table.
    pub fn path(&self) -> String {
        let mut out = String::new();
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(&escape_partition_value(key));
            out.push('=');
            match value {
                Some(value) => out.push_str(&escape_partition_value(value)),
                None => out.push_str(HIVE_DEFAULT_PARTITION),
            }
        }
        out
    }

    /// Parses [`PartitionValues::path`] output back; [`HIVE_DEFAULT_PARTITION`] becomes `None`.
    pub fn parse(path: &str) -> Result<PartitionValues, PartitionError> {
        if path.is_empty() {
            return Ok(PartitionValues::default());
        }
        let malformed = |problem: String| PartitionError::MalformedPath {
            path: path.to_owned(),
            problem,
        };
        path.split('/')
            .map(|segment| {
                let (key, value) = segment
                    .split_once('=')
                    .ok_or_else(|| malformed(format!("segment {segment:?} has no `=`")))?;
                if key.is_empty() {
                    return Err(malformed(format!("segment {segment:?} has no key")));
                }
                let key = unescape_partition_value(key)
                    .ok_or_else(|| malformed(format!("key {key:?} has a bad escape")))?;
                let value =
                    if value == HIVE_DEFAULT_PARTITION {
                        None
                    } else {
                        Some(unescape_partition_value(value).ok_or_else(|| {
                            malformed(format!("value {value:?} has a bad escape"))
                        })?)
                    };
                Ok((key, value))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(PartitionValues)
    }

    /// Refuses a value AWS Glue would refuse as too long (null is stored as
    /// [`HIVE_DEFAULT_PARTITION`], which fits).
    pub fn check_glue_limit(&self) -> Result<(), PartitionLimitError> {
        for (key, value) in &self.0 {
            let Some(value) = value else { continue };
            let length = value.encode_utf16().count();
            if length > GLUE_MAX_PARTITION_VALUE_CHARS {
                return Err(PartitionLimitError::GlueValueTooLong {
                    key: key.clone(),
                    value_prefix: limit_prefix(value),
                    length,
                });
            }
        }
        Ok(())
    }

    /// The value of `key`: `None` when the key is absent, `Some(None)` when its value is null.
    pub fn get(&self, key: &str) -> Option<&Option<String>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Rows of a batch grouped by partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionAssignment {
    /// The distinct partitions, in order of first appearance in the batch.
    pub partitions: Vec<PartitionValues>,
    /// One entry per row: the index of the row's partition in `partitions`.
    pub row_partition: Vec<u32>,
}

/// How one partition field turns into grouping keys and rendered values.
enum FieldKeys {
    /// The column itself is the key; rendered with [`render_identity`].
    Identity { key: String, column: ArrayRef },
    /// A bucket number per row (see [`bucket`]); rendered with [`render_bucket`] in `style`
    /// (`dt` for a named transform: one key).
    Date {
        keys: Vec<String>,
        transform: PartitionTransform,
        style: DatePartitionStyle,
        buckets: Int64Array,
        grouping: ArrayRef,
    },
}

impl FieldKeys {
    fn grouping_column(&self) -> &ArrayRef {
        match self {
            FieldKeys::Identity { column, .. } => column,
            FieldKeys::Date { grouping, .. } => grouping,
        }
    }

    /// Appends this field's `(key, value)` pairs for `row`.
    fn render(
        &self,
        row: usize,
        out: &mut Vec<(String, Option<String>)>,
    ) -> Result<(), PartitionError> {
        match self {
            FieldKeys::Identity { key, column } => {
                // Hive puts empty strings in the default partition; a literal
                // `__HIVE_DEFAULT_PARTITION__` could not be told apart from null in the path.
                let value = render_identity(key, column.as_ref(), row)?
                    .filter(|v| !v.is_empty() && v != HIVE_DEFAULT_PARTITION);
                out.push((key.clone(), value));
            }
            FieldKeys::Date {
                keys,
                transform,
                style,
                buckets,
                ..
            } => {
                let values = (row < buckets.len() && buckets.is_valid(row))
                    .then(|| render_bucket(buckets.value(row), *transform, *style));
                match values {
                    Some(values) => {
                        out.extend(keys.iter().cloned().zip(values.into_iter().map(Some)))
                    }
                    None => out.extend(keys.iter().map(|k| (k.clone(), None))),
                }
            }
        }
        Ok(())
    }
}

/// Computes each row's partition. Partition columns are looked up by name in the batch. Identity
/// values render as: strings as is, integers in decimal, booleans `true`/`false`, dates
/// `2024-01-05`, timestamps `2024-01-05 10:11:12[.fraction]` (fraction without trailing zeros,
/// omitted when zero; zoned timestamps in UTC), decimals with the column's scale (`12.50`). Nulls,
/// empty strings and the literal [`HIVE_DEFAULT_PARTITION`] go to the default partition (Hive
/// convention). Dictionary-encoded columns partition by their values. Date transforms (on date
/// columns, or timestamps without a zone or in UTC) produce the keys of [`partition_key_names`] with
/// zero-padded UTC calendar values (a named transform one key with the `dt`-style value, e.g.
/// `2024-01`); a null date makes every produced key null.
pub fn assign_partitions(
    batch: &RecordBatch,
    fields: &[PartitionField],
    style: DatePartitionStyle,
) -> Result<PartitionAssignment, PartitionError> {
    let rows = batch.num_rows();
    if u32::try_from(rows).is_err() {
        return Err(PartitionError::TooManyRows { rows });
    }
    if rows == 0 {
        return Ok(PartitionAssignment {
            partitions: Vec::new(),
            row_partition: Vec::new(),
        });
    }
    if fields.is_empty() {
        return Ok(PartitionAssignment {
            partitions: vec![PartitionValues::default()],
            row_partition: vec![0; rows],
        });
    }

    let field_keys = fields
        .iter()
        .map(|field| field_keys(batch, field, style))
        .collect::<Result<Vec<_>, _>>()?;

    let (row_partition, first_rows) = group_rows(&field_keys, rows)?;
    let (partitions, remap) = render_groups(&field_keys, &first_rows, rows)?;
    let row_partition = if partitions.len() < first_rows.len() {
        row_partition
            .into_iter()
            .map(|id| {
                usize::try_from(id)
                    .ok()
                    .and_then(|i| remap.get(i))
                    .copied()
                    .unwrap_or(id)
            })
            .collect()
    } else {
        row_partition
    };
    Ok(PartitionAssignment {
        partitions,
        row_partition,
    })
}

/// Groups the rows by their encoded partition columns: each row's group id, and the first row
/// of each group.
fn group_rows(
    field_keys: &[FieldKeys],
    rows: usize,
) -> Result<(Vec<u32>, Vec<usize>), PartitionError> {
    let columns: Vec<ArrayRef> = field_keys
        .iter()
        .map(|f| f.grouping_column().clone())
        .collect();
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let encoded = converter.convert_columns(&columns)?;
    let mut groups: HashMap<Row<'_>, u32> = HashMap::new();
    let mut first_rows: Vec<usize> = Vec::new();
    let mut next: u32 = 0;
    let mut row_partition = Vec::with_capacity(rows);
    for (i, row) in encoded.iter().enumerate() {
        let id = *groups.entry(row).or_insert_with(|| {
            first_rows.push(i);
            let id = next;
            next = next.saturating_add(1);
            id
        });
        row_partition.push(id);
    }
    Ok((row_partition, first_rows))
}

/// Renders one set of values per group (from its first row); groups that render alike (an
/// empty string and a null both go to the default partition) are merged: the partitions, and
/// each group's partition.
fn render_groups(
    field_keys: &[FieldKeys],
    first_rows: &[usize],
    rows: usize,
) -> Result<(Vec<PartitionValues>, Vec<u32>), PartitionError> {
    let mut partitions: Vec<PartitionValues> = Vec::with_capacity(first_rows.len());
    let mut index: HashMap<PartitionValues, u32> = HashMap::with_capacity(first_rows.len());
    let mut remap: Vec<u32> = Vec::with_capacity(first_rows.len());
    for &row in first_rows {
        let mut values = Vec::new();
        for keys in field_keys {
            keys.render(row, &mut values)?;
        }
        let values = PartitionValues(values);
        let id = match index.get(&values) {
            Some(id) => *id,
            None => {
                let id = u32::try_from(partitions.len())
                    .map_err(|_| PartitionError::TooManyRows { rows })?;
                index.insert(values.clone(), id);
                partitions.push(values);
                id
            }
        };
        remap.push(id);
    }
    Ok((partitions, remap))
}

fn field_keys(
    batch: &RecordBatch,
    field: &PartitionField,
    style: DatePartitionStyle,
) -> Result<FieldKeys, PartitionError> {
    let column =
        batch
            .column_by_name(&field.column)
            .ok_or_else(|| PartitionError::MissingColumn {
                column: field.column.clone(),
            })?;
    let unsupported = |supported| PartitionError::UnsupportedType {
        column: field.column.clone(),
        data_type: column.data_type().clone(),
        transform: field.transform.as_str(),
        supported,
    };
    // Dictionary-encoded columns are partitioned by their values (one decode per column).
    let column = match column.data_type() {
        DataType::Dictionary(_, value_type) => cast(column, value_type)?,
        _ => column.clone(),
    };
    let keys = partition_key_names(std::slice::from_ref(field), style);
    if field.transform == PartitionTransform::Identity {
        if !identity_supported(column.data_type()) {
            return Err(unsupported(IDENTITY_TYPES));
        }
        let key = keys
            .into_iter()
            .next()
            .unwrap_or_else(|| field.column.clone());
        return Ok(FieldKeys::Identity { key, column });
    }
    let buckets =
        date_buckets(column.as_ref(), field.transform).ok_or_else(|| unsupported(DATE_TYPES))?;
    Ok(FieldKeys::Date {
        keys,
        transform: field.transform,
        style: match field.name {
            Some(_) => DatePartitionStyle::Dt,
            None => style,
        },
        grouping: Arc::new(buckets.clone()),
        buckets,
    })
}

fn identity_supported(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Timestamp(_, _)
            | DataType::Decimal128(_, _)
    )
}

/// Whether a timestamp's zone is absent or UTC (date transforms use UTC calendar fields).
fn is_utc(tz: Option<&str>) -> bool {
    match tz {
        None => true,
        Some(tz) => matches!(
            tz.to_ascii_uppercase().as_str(),
            "UTC" | "Z" | "+00:00" | "+0000" | "+00" | "ETC/UTC" | "GMT" | "ETC/GMT"
        ),
    }
}

fn units_per_second(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1,
        TimeUnit::Millisecond => 1_000,
        TimeUnit::Microsecond => 1_000_000,
        TimeUnit::Nanosecond => 1_000_000_000,
    }
}

/// Bucket numbers of a date or UTC timestamp column; `None` for any other type.
fn date_buckets(column: &dyn Array, transform: PartitionTransform) -> Option<Int64Array> {
    fn from_instants<T: ArrowPrimitiveType<Native = i64>>(
        column: &dyn Array,
        transform: PartitionTransform,
        unit: TimeUnit,
    ) -> Option<Int64Array> {
        let per_hour = units_per_second(unit) * 3_600;
        let array: &PrimitiveArray<T> = column.as_primitive_opt::<T>()?;
        Some(array.unary::<_, Int64Type>(|v| bucket(v.div_euclid(per_hour), transform)))
    }
    match column.data_type() {
        DataType::Date32 => {
            let array = column.as_primitive_opt::<Date32Type>()?;
            Some(array.unary::<_, Int64Type>(|days| bucket(i64::from(days) * 24, transform)))
        }
        DataType::Timestamp(unit, tz) if is_utc(tz.as_deref()) => match unit {
            TimeUnit::Second => from_instants::<TimestampSecondType>(column, transform, *unit),
            TimeUnit::Millisecond => {
                from_instants::<TimestampMillisecondType>(column, transform, *unit)
            }
            TimeUnit::Microsecond => {
                from_instants::<TimestampMicrosecondType>(column, transform, *unit)
            }
            TimeUnit::Nanosecond => {
                from_instants::<TimestampNanosecondType>(column, transform, *unit)
            }
        },
        _ => None,
    }
}

/// The bucket of an instant given in hours since the epoch: hours (hour), days (day),
/// `year * 12 + month - 1` (month) or the year (year).
fn bucket(hours: i64, transform: PartitionTransform) -> i64 {
    match transform {
        PartitionTransform::Hour | PartitionTransform::Identity => hours,
        PartitionTransform::Day => hours.div_euclid(24),
        PartitionTransform::Month => {
            let (y, m, _) = civil_from_days(hours.div_euclid(24));
            y * 12 + i64::from(m) - 1
        }
        PartitionTransform::Year => civil_from_days(hours.div_euclid(24)).0,
    }
}

/// The partition values of a bucket: one per nested key, or the single `dt` value.
fn render_bucket(
    bucket: i64,
    transform: PartitionTransform,
    style: DatePartitionStyle,
) -> Vec<String> {
    let parts: Vec<String> = match transform {
        PartitionTransform::Year => vec![format!("{bucket:04}")],
        PartitionTransform::Month => vec![
            format!("{:04}", bucket.div_euclid(12)),
            format!("{:02}", bucket.rem_euclid(12) + 1),
        ],
        PartitionTransform::Day => {
            let (y, m, d) = civil_from_days(bucket);
            vec![format!("{y:04}"), format!("{m:02}"), format!("{d:02}")]
        }
        PartitionTransform::Hour | PartitionTransform::Identity => {
            let (y, m, d) = civil_from_days(bucket.div_euclid(24));
            vec![
                format!("{y:04}"),
                format!("{m:02}"),
                format!("{d:02}"),
                format!("{:02}", bucket.rem_euclid(24)),
            ]
        }
    };
    match style {
        DatePartitionStyle::Nested => parts,
        DatePartitionStyle::Dt => vec![parts.join("-")],
    }
}

/// Proleptic Gregorian `(year, month, day)` of a day number since 1970-01-01 (H. Hinnant's
/// algorithm; exact for every `i64` day a timestamp can hold).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]`, the fraction without trailing zeros and omitted when zero.
fn format_timestamp(value: i64, unit: TimeUnit) -> String {
    let per_second = units_per_second(unit);
    let per_day = per_second * 86_400;
    let days = value.div_euclid(per_day);
    let in_day = value.rem_euclid(per_day);
    let seconds = in_day / per_second;
    let fraction = in_day % per_second;
    let mut out = format!(
        "{} {:02}:{:02}:{:02}",
        format_date(days),
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        let width = match unit {
            TimeUnit::Second => 0,
            TimeUnit::Millisecond => 3,
            TimeUnit::Microsecond => 6,
            TimeUnit::Nanosecond => 9,
        };
        let digits = format!("{fraction:0width$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// Canonical decimal text with exactly `scale` fraction digits, e.g. `12.50` or `-0.05`.
fn format_decimal(value: i128, scale: i8) -> String {
    let sign = if value < 0 { "-" } else { "" };
    let magnitude = value.unsigned_abs();
    if scale <= 0 {
        let zeros = if magnitude == 0 {
            0
        } else {
            usize::from(scale.unsigned_abs())
        };
        return format!("{sign}{magnitude}{}", "0".repeat(zeros));
    }
    let width = usize::from(scale.unsigned_abs());
    let Some(divisor) = 10u128.checked_pow(u32::from(scale.unsigned_abs())) else {
        return format!("{sign}{magnitude}");
    };
    format!(
        "{sign}{}.{:0width$}",
        magnitude / divisor,
        magnitude % divisor
    )
}

/// The identity partition value of `row`, `None` when null.
fn render_identity(
    key: &str,
    column: &dyn Array,
    row: usize,
) -> Result<Option<String>, PartitionError> {
    if row >= column.len() || column.is_null(row) {
        return Ok(None);
    }
    fn int<T: ArrowPrimitiveType>(column: &dyn Array, row: usize) -> Option<String>
    where
        T::Native: ToString,
    {
        column
            .as_primitive_opt::<T>()
            .map(|a| a.value(row).to_string())
    }
    let rendered = match column.data_type() {
        DataType::Utf8 => column
            .as_string_opt::<i32>()
            .map(|a| a.value(row).to_owned()),
        DataType::LargeUtf8 => column
            .as_string_opt::<i64>()
            .map(|a| a.value(row).to_owned()),
        DataType::Utf8View => column.as_string_view_opt().map(|a| a.value(row).to_owned()),
        DataType::Boolean => column.as_boolean_opt().map(|a| a.value(row).to_string()),
        DataType::Int8 => int::<Int8Type>(column, row),
        DataType::Int16 => int::<Int16Type>(column, row),
        DataType::Int32 => int::<Int32Type>(column, row),
        DataType::Int64 => int::<Int64Type>(column, row),
        DataType::UInt8 => int::<UInt8Type>(column, row),
        DataType::UInt16 => int::<UInt16Type>(column, row),
        DataType::UInt32 => int::<UInt32Type>(column, row),
        DataType::UInt64 => int::<UInt64Type>(column, row),
        DataType::Date32 => column
            .as_primitive_opt::<Date32Type>()
            .map(|a| format_date(i64::from(a.value(row)))),
        DataType::Timestamp(unit, _) => {
            let value = match unit {
                TimeUnit::Second => column
                    .as_primitive_opt::<TimestampSecondType>()
                    .map(|a| a.value(row)),
                TimeUnit::Millisecond => column
                    .as_primitive_opt::<TimestampMillisecondType>()
                    .map(|a| a.value(row)),
                TimeUnit::Microsecond => column
                    .as_primitive_opt::<TimestampMicrosecondType>()
                    .map(|a| a.value(row)),
                TimeUnit::Nanosecond => column
                    .as_primitive_opt::<TimestampNanosecondType>()
                    .map(|a| a.value(row)),
            };
            value.map(|v| format_timestamp(v, *unit))
        }
        DataType::Decimal128(_, scale) => column
            .as_primitive_opt::<Decimal128Type>()
            .map(|a| format_decimal(a.value(row), *scale)),
        _ => None,
    };
    rendered
        .map(Some)
        .ok_or_else(|| PartitionError::UnsupportedType {
            column: key.to_owned(),
            data_type: column.data_type().clone(),
            transform: PartitionTransform::Identity.as_str(),
            supported: IDENTITY_TYPES,
        })
}

/// For re-adding an identity partition column (not stored in data files, Hive convention) when
/// reading a stored file back: `rows` copies of the partition value of `field` (looked up by the
/// field's name), parsed back to the field's type. A null value or [`HIVE_DEFAULT_PARTITION`]
/// gives a null column.
pub fn identity_column(
    values: &PartitionValues,
    field: &Field,
    rows: usize,
) -> Result<ArrayRef, PartitionError> {
    let value = values
        .get(field.name())
        .ok_or_else(|| PartitionError::MissingKey {
            key: field.name().clone(),
            path: values.path(),
        })?;
    let value = match value {
        Some(value) if value != HIVE_DEFAULT_PARTITION => value,
        _ => return Ok(new_null_array(field.data_type(), rows)),
    };
    let invalid = |problem: String| PartitionError::InvalidValue {
        key: field.name().clone(),
        value: value.clone(),
        data_type: field.data_type().clone(),
        problem,
    };
    let text = StringArray::from(vec![value.as_str()]);
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    // Timestamps are rendered as UTC wall time, so zoned ones are parsed without the zone and then
    // tagged with it (arrow only parses offset zones without chrono-tz).
    let single = match field.data_type() {
        DataType::Timestamp(unit, Some(_)) => {
            let naive = cast_with_options(&text, &DataType::Timestamp(*unit, None), &options)
                .map_err(|e| invalid(e.to_string()))?;
            make_array(
                naive
                    .to_data()
                    .into_builder()
                    .data_type(field.data_type().clone())
                    .build()?,
            )
        }
        data_type => {
            cast_with_options(&text, data_type, &options).map_err(|e| invalid(e.to_string()))?
        }
    };
    if single.len() != 1 || single.null_count() != 0 {
        return Err(invalid("it parses to null".to_owned()));
    }
    let indices = UInt32Array::from(vec![0u32; rows]);
    Ok(take(single.as_ref(), &indices, None)?)
}

#[cfg(test)]
#[path = "partitioning_test.rs"]
mod tests;
