//! An Iceberg data file (its manifest entry's content: path, partition, counts and per-column
//! stats) from a Parquet footer whose columns carry Iceberg field ids.
//!
//! Per column (by the Parquet field id): compressed size, value count (nulls included), null
//! count, and lower/upper bounds as values of the field's Iceberg type. A bound is only recorded
//! when it is exact in every row group holding non-null values: Parquet may truncate byte-array
//! min/max (then not exact), and a row group without statistics leaves the bound unknown — a
//! missing bound costs pruning, a wrong one would lose rows. The footer read is its own async
//! step ([`read_data_file`]) so the conversion ([`data_file`]) is pure.

use std::collections::HashMap;

use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum};
use iceberg::spec::{PrimitiveType, Schema};
use parquet::basic::{LogicalType, TimeUnit};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use parquet::file::statistics::{Statistics, ValueStatistics};
use parquet::schema::types::ColumnDescriptor;

use super::IcebergError;
use super::metadata_io::MetadataStore;
use super::overwrite::LiveFile;

/// One bound of a column over the row groups seen so far.
#[derive(Debug, Clone, Default)]
enum Bound {
    /// No row group with a non-null value yet.
    #[default]
    Empty,
    /// The exact bound so far.
    Known(Datum),
    /// Some row group's bound is unknown or inexact: no bound.
    Unknown,
}

impl Bound {
    /// Merges a row group's bound; `lower` keeps the smaller value, otherwise the larger.
    fn merge(&mut self, next: Option<Datum>, lower: bool) {
        *self = match (std::mem::take(self), next) {
            (Bound::Unknown, _) | (_, None) => Bound::Unknown,
            (Bound::Empty, Some(value)) => Bound::Known(value),
            (Bound::Known(seen), Some(value)) => {
                let keep_seen = if lower { seen <= value } else { seen >= value };
                Bound::Known(if keep_seen { seen } else { value })
            }
        }
    }

    fn known(self) -> Option<Datum> {
        match self {
            Bound::Known(value) => Some(value),
            Bound::Empty | Bound::Unknown => None,
        }
    }
}

/// One column's stats over the row groups seen so far.
#[derive(Debug, Clone)]
struct ColumnStats {
    size: u64,
    values: u64,
    /// `None` once a row group does not record its null count.
    nulls: Option<u64>,
    lower: Bound,
    upper: Bound,
}

impl Default for ColumnStats {
    fn default() -> ColumnStats {
        ColumnStats {
            size: 0,
            values: 0,
            nulls: Some(0),
            lower: Bound::Empty,
            upper: Bound::Empty,
        }
    }
}

impl ColumnStats {
    /// Adds one row group's chunk of the column, whose Iceberg type is `field_type`.
    fn add(&mut self, chunk: &ColumnChunkMetaData, field_type: &PrimitiveType) {
        let values = u64::try_from(chunk.num_values()).unwrap_or(0);
        self.size += u64::try_from(chunk.compressed_size()).unwrap_or(0);
        self.values += values;
        let stats = chunk.statistics();
        let nulls = stats.and_then(Statistics::null_count_opt);
        self.nulls = self.nulls.zip(nulls).map(|(seen, more)| seen + more);
        if nulls == Some(values) {
            return; // only nulls: no bound to merge
        }
        let descr = chunk.column_descr();
        let bound = |lower: bool| {
            stats
                .filter(|s| {
                    if lower {
                        s.min_is_exact()
                    } else {
                        s.max_is_exact()
                    }
                })
                .and_then(|s| bound_datum(field_type, descr, s, lower))
        };
        self.lower.merge(bound(true), true);
        self.upper.merge(bound(false), false);
    }
}

/// The min (`lower`) or max of typed statistics.
fn pick<T>(stats: &ValueStatistics<T>, lower: bool) -> Option<&T> {
    if lower {
        stats.min_opt()
    } else {
        stats.max_opt()
    }
}

/// Big-endian two's complement bytes (at most 16) as an `i128`.
fn be_i128(bytes: &[u8]) -> Option<i128> {
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xFF } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    Some(i128::from_be_bytes(wide))
}

/// The unscaled min or max of a decimal column's statistics.
fn decimal_bound(stats: &Statistics, lower: bool) -> Option<i128> {
    match stats {
        Statistics::Int32(s) => pick(s, lower).map(|v| i128::from(*v)),
        Statistics::Int64(s) => pick(s, lower).map(|v| i128::from(*v)),
        Statistics::FixedLenByteArray(s) => pick(s, lower).and_then(|v| be_i128(v.data())),
        Statistics::ByteArray(s) => pick(s, lower).and_then(|v| be_i128(v.data())),
        _ => None,
    }
}

/// The min (`lower`) or max of a chunk's statistics as a value of the Iceberg type; `None` when
/// the statistics do not hold one or do not match the type (a timestamp not in microseconds, a
/// decimal of another scale, bytes that are not UTF-8 for a string).
fn bound_datum(
    field_type: &PrimitiveType,
    descr: &ColumnDescriptor,
    stats: &Statistics,
    lower: bool,
) -> Option<Datum> {
    match (field_type, stats) {
        (PrimitiveType::Boolean, Statistics::Boolean(s)) => pick(s, lower).map(|v| Datum::bool(*v)),
        (PrimitiveType::Int, Statistics::Int32(s)) => pick(s, lower).map(|v| Datum::int(*v)),
        (PrimitiveType::Long, Statistics::Int32(s)) => {
            pick(s, lower).map(|v| Datum::long(i64::from(*v)))
        }
        (PrimitiveType::Long, Statistics::Int64(s)) => pick(s, lower).map(|v| Datum::long(*v)),
        (PrimitiveType::Date, Statistics::Int32(s)) => pick(s, lower).map(|v| Datum::date(*v)),
        (PrimitiveType::Timestamp, Statistics::Int64(s)) => {
            let micros = matches!(
                descr.logical_type_ref(),
                Some(LogicalType::Timestamp {
                    unit: TimeUnit::MICROS,
                    ..
                })
            );
            pick(s, lower)
                .filter(|_| micros)
                .map(|v| Datum::timestamp_micros(*v))
        }
        (PrimitiveType::Float, Statistics::Float(s)) => pick(s, lower).map(|v| Datum::float(*v)),
        (PrimitiveType::Double, Statistics::Float(s)) => {
            pick(s, lower).map(|v| Datum::double(f64::from(*v)))
        }
        (PrimitiveType::Double, Statistics::Double(s)) => pick(s, lower).map(|v| Datum::double(*v)),
        (PrimitiveType::Decimal { scale, .. }, stats) => {
            let same_scale = u32::try_from(descr.type_scale()).ok() == Some(*scale);
            let unscaled = decimal_bound(stats, lower).filter(|_| same_scale)?;
            Datum::try_from_bytes(&unscaled.to_be_bytes(), field_type.clone()).ok()
        }
        (PrimitiveType::String, Statistics::ByteArray(s)) => pick(s, lower)
            .and_then(|v| v.as_utf8().ok())
            .map(Datum::string),
        (PrimitiveType::Binary, Statistics::ByteArray(s)) => {
            pick(s, lower).map(|v| Datum::binary(v.data().iter().copied()))
        }
        _ => None,
    }
}

/// Every column's stats, by field id; columns without a field id, or whose id is not a primitive
/// field of `schema`, are skipped.
fn column_stats(schema: &Schema, footer: &ParquetMetaData) -> HashMap<i32, ColumnStats> {
    let mut columns: HashMap<i32, ColumnStats> = HashMap::new();
    for row_group in footer.row_groups() {
        for chunk in row_group.columns() {
            let info = chunk.column_descr().self_type().get_basic_info();
            if !info.has_id() {
                continue;
            }
            let Some(field_type) = schema
                .field_by_id(info.id())
                .and_then(|f| f.field_type.as_primitive_type())
            else {
                continue;
            };
            columns.entry(info.id()).or_default().add(chunk, field_type);
        }
    }
    columns
}

/// The Iceberg data file of `file` (partition spec `spec_id` of the table's `schema`) from its
/// Parquet footer. Fails when the footer's row count is not the file's.
pub fn data_file(
    schema: &Schema,
    spec_id: i32,
    file: &LiveFile,
    footer: &ParquetMetaData,
) -> Result<DataFile, IcebergError> {
    let rows = u64::try_from(footer.file_metadata().num_rows()).unwrap_or(0);
    if rows != file.rows {
        return Err(IcebergError::FileMismatch {
            path: file.path.clone(),
            detail: format!("its footer has {rows} rows, the snapshot {}", file.rows),
        });
    }
    let mut column_sizes = HashMap::new();
    let mut value_counts = HashMap::new();
    let mut null_value_counts = HashMap::new();
    let mut lower_bounds = HashMap::new();
    let mut upper_bounds = HashMap::new();
    for (id, stats) in column_stats(schema, footer) {
        column_sizes.insert(id, stats.size);
        value_counts.insert(id, stats.values);
        if let Some(nulls) = stats.nulls {
            null_value_counts.insert(id, nulls);
        }
        if let Some(lower) = stats.lower.known() {
            lower_bounds.insert(id, lower);
        }
        if let Some(upper) = stats.upper.known() {
            upper_bounds.insert(id, upper);
        }
    }
    let split_offsets = footer
        .row_groups()
        .iter()
        .filter_map(|group| {
            let first = group.columns().first()?;
            Some(
                first
                    .dictionary_page_offset()
                    .unwrap_or(first.data_page_offset()),
            )
        })
        .collect();
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(file.path.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(file.partition.clone())
        .partition_spec_id(spec_id)
        .record_count(rows)
        .file_size_in_bytes(file.size)
        .column_sizes(column_sizes)
        .value_counts(value_counts)
        .null_value_counts(null_value_counts)
        .lower_bounds(lower_bounds)
        .upper_bounds(upper_bounds)
        .split_offsets(Some(split_offsets))
        .build()
        .map_err(|e| IcebergError::FileMismatch {
            path: file.path.clone(),
            detail: e.to_string(),
        })
}

/// Reads `file`'s footer from the lake and returns its Iceberg data file (see [`data_file`]).
pub async fn read_data_file(
    io: &MetadataStore,
    schema: &Schema,
    spec_id: i32,
    file: &LiveFile,
) -> Result<DataFile, IcebergError> {
    let footer = io.read_footer(&file.path, file.size).await?;
    data_file(schema, spec_id, file, &footer)
}

#[cfg(test)]
#[path = "stats_test.rs"]
mod tests;
