//! Reads one DMS change file — CSV, gzip CSV or Parquet — into one Arrow record batch of source
//! columns plus the DMS operation of every row.
//!
//! CSV files carry no types (and no names unless DMS `AddColumnName` is set), so their columns come
//! from `input.columns`; values are parsed as text first and then cast column by column, so a bad
//! value is reported with its row, column and text. Parquet files carry their schema; their types are
//! normalised (timestamps to naive UTC microseconds, large/view strings and binaries to the plain
//! types) so that the merge engine sees one type per Hive type; a text column declared in
//! `input.columns` with another type (DMS writes its `TimestampColumnName` column as a string) is
//! parsed like a CSV value of that type. The Op column (`I`/`U`/`D`) is
//! expected in CDC files when `input.cdc_op_column` and in full-load files when
//! `input.full_load_op_column`; without it every row is an insert (CDC) or a load (full load).
//!
//! CSV text forms: RFC 4180 quoting (`""` inside quotes is a quote; quoted delimiters and newlines
//! are data), rows end at `\n`, `\r\n` or `\r`, blank lines are not rows, a field exactly equal to
//! `input.csv_null_string` is null (for string columns too) and every other field, the empty one
//! included, is a value. Timestamps `yyyy-mm-dd hh:mm:ss[.fffffffff]` (also with `T`, a zone
//! suffix, or a bare date; digits beyond microseconds are truncated); dates `yyyy-mm-dd`; decimals
//! `-123.45` (extra fractional digits are rounded to the declared scale); booleans
//! `true`/`false`/`1`/`0` (also `t`/`f`, `yes`/`no`, `on`/`off`, any case).
//!
//! Every error names the file and, where it applies, the 1-based data row (records after the header;
//! blank lines are not counted) and the column, and says how to fix the configuration or the file.

use std::io::Read;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, Scalar, StringArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::kernels::cmp::eq;
use arrow::compute::{CastOptions, cast_with_options, concat_batches};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::ChunkReader;
use thiserror::Error;

use crate::domain::dms_layout::{FileFormat, FileKind};
use crate::lake::table_config::InputFormat;

/// Rows decoded per Arrow batch before the batches are concatenated.
const BATCH_ROWS: usize = 8192;

/// What a null Op value is reported as in [`ReadError::UnknownOp`].
pub const NULL_OP_TEXT: &str = "<null>";

/// The DMS operation of one change row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeOp {
    /// `I`: a new row (also every row of a CDC file without an Op column).
    Insert,
    /// `U`: the row's new image.
    Update,
    /// `D`: the row's before-image (possibly only the key columns).
    Delete,
    /// A full-load row from a file without an Op column.
    Load,
}

impl ChangeOp {
    /// The one-letter code: `I`, `U`, `D`, or `L` for a full-load row.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Insert => "I",
            ChangeOp::Update => "U",
            ChangeOp::Delete => "D",
            ChangeOp::Load => "L",
        }
    }

    /// Whether the row deletes its key.
    pub fn is_delete(self) -> bool {
        self == ChangeOp::Delete
    }
}

/// Which file to read.
#[derive(Debug, Clone, Copy)]
pub struct ChangeFileRef<'a> {
    /// The object in the given store.
    pub path: &'a Path,
    /// Full load or CDC: decides whether an Op column is expected.
    pub kind: FileKind,
    /// The file's encoding.
    pub format: FileFormat,
    /// The object version to read: a file is exactly the version that was recorded.
    pub version: &'a RecordedVersion,
    /// Most bytes the file may decompress to ([`ReadError::TooLarge`] beyond), so a small
    /// compressed file cannot exhaust the memory of the refresh.
    pub max_bytes: u64,
}

/// The version of an object a read must return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordedVersion {
    /// Whatever version is current (files nobody recorded, e.g. in benchmarks).
    Current,
    /// The S3 version id recorded when the object landed (a versioned bucket).
    VersionId(String),
    /// The ETag recorded when the object landed (an unversioned bucket), checked with `If-Match`.
    ETag(String),
}

impl RecordedVersion {
    fn get_options(&self) -> GetOptions {
        match self {
            RecordedVersion::Current => GetOptions::default(),
            RecordedVersion::VersionId(version) => GetOptions {
                version: Some(version.clone()),
                ..GetOptions::default()
            },
            RecordedVersion::ETag(etag) => GetOptions {
                if_match: Some(format!("\"{}\"", etag.trim_matches('"'))),
                ..GetOptions::default()
            },
        }
    }
}

impl std::fmt::Display for RecordedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordedVersion::Current => f.write_str("the current version"),
            RecordedVersion::VersionId(version) => write!(f, "version id {version}"),
            RecordedVersion::ETag(etag) => write!(f, "ETag {etag}"),
        }
    }
}

/// The rows of one file.
#[derive(Debug, Clone)]
pub struct FileChanges {
    /// Source columns only (no Op column), as one batch, in file column order.
    ///
    /// CSV: the declared types of `input.columns`. Parquet: the file's types, normalised: any
    /// `Timestamp(unit, tz)` becomes `Timestamp(Microsecond, None)` holding UTC microseconds,
    /// `LargeUtf8`/`Utf8View`/`Dictionary<_, Utf8>` become `Utf8`, `LargeBinary`/`BinaryView`
    /// become `Binary`, `Decimal32`/`Decimal64` become `Decimal128`; a text column declared in
    /// `input.columns` with another type is parsed as that type. All fields are nullable.
    pub columns: RecordBatch,
    /// One operation per row.
    pub ops: Vec<ChangeOp>,
}

/// A DMS file that cannot be read. Every message names the file and says how to fix the problem.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The object could not be fetched (missing, no permission, network).
    #[error(
        "{file}: cannot read the object: {source}; fix: check that the object exists and that this function may read it"
    )]
    Storage {
        /// Object path.
        file: String,
        /// The store's error.
        source: object_store::Error,
    },
    /// The recorded object version no longer exists: the key was overwritten (its ETag changed)
    /// or that version was deleted. The file is superseded, not bad.
    #[error(
        "{file}: the recorded object ({version}) no longer exists in the bucket: the key was overwritten or that version deleted"
    )]
    VersionGone {
        /// Object path.
        file: String,
        /// The version that was asked for.
        version: String,
    },
    /// The file decompresses to more bytes than one refresh may hold.
    #[error(
        "{file}: decompresses to more than {limit} bytes, the most one refresh may read (TRIBUTARY_MAX_BYTES_PER_REFRESH); fix: raise TRIBUTARY_MAX_BYTES_PER_REFRESH together with the processor's memory, or have DMS write smaller files (MaxFileSize), then retry the file"
    )]
    TooLarge {
        /// Object path.
        file: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// The object is not a readable Parquet file (truncated, corrupt, or another format).
    #[error(
        "{file}: not a readable Parquet file: {detail}; fix: check that DMS finished writing it (DataFormat parquet) and that its name ends in .parquet only for Parquet files"
    )]
    NotParquet {
        /// Object path.
        file: String,
        /// The decoder's message.
        detail: String,
    },
    /// A `.csv.gz` object is not valid gzip.
    #[error(
        "{file}: not a valid gzip file: {detail}; fix: check that DMS finished writing it and that CompressionType GZIP matches the .gz name"
    )]
    NotGzip {
        /// Object path.
        file: String,
        /// The decompressor's message.
        detail: String,
    },
    /// A CSV file that cannot be parsed for a reason other than its field count (e.g. invalid UTF-8).
    #[error(
        "{file}: malformed CSV: {detail}; fix: check input.csv_delimiter and that the file is UTF-8 text written by DMS"
    )]
    Csv {
        /// Object path.
        file: String,
        /// The parser's message.
        detail: String,
    },
    /// A CSV file was given but `input.columns` is empty.
    #[error(
        "{file}: CSV files carry no column types; fix: declare input.columns (every source column, in file order, with its Hive type)"
    )]
    ColumnsNotDeclared {
        /// Object path.
        file: String,
    },
    /// The Op column is expected (cdc_op_column / full_load_op_column) but the file has none.
    #[error(
        "{file}: the Op column `{column}` is expected but missing; fix: set input.op_column_name to the file's Op column, or set input.cdc_op_column / input.full_load_op_column to false if DMS writes no Op column (CdcInsertsOnly, IncludeOpForFullLoad false)"
    )]
    MissingOpColumn {
        /// Object path.
        file: String,
        /// The expected Op column name.
        column: String,
    },
    /// The Parquet Op column is not text.
    #[error(
        "{file}: the Op column `{column}` has type {data_type}, not string; fix: set input.op_column_name to the DMS Op column"
    )]
    OpColumnType {
        /// Object path.
        file: String,
        /// The Op column name.
        column: String,
        /// The column's Arrow type.
        data_type: String,
    },
    /// A CSV header names a column that is not declared.
    #[error(
        "{file}: the CSV header names column `{column}`, which is not among input.columns; fix: declare the column in input.columns (or, if it is the Op column, set input.op_column_name and the cdc_op_column / full_load_op_column flags)"
    )]
    UnknownHeaderColumn {
        /// Object path.
        file: String,
        /// The header name.
        column: String,
    },
    /// A CSV header names a column twice.
    #[error(
        "{file}: the CSV header names column `{column}` twice; fix: rename one of the columns with a DMS transformation rule"
    )]
    DuplicateHeaderColumn {
        /// Object path.
        file: String,
        /// The repeated header name.
        column: String,
    },
    /// A CSV row has a different number of fields than the file's layout needs.
    #[error(
        "{file}: row {row} has {found} fields, expected {expected}; fix: check that input.columns lists every source column in file order, input.csv_delimiter matches DMS CsvDelimiter, and cdc_op_column / full_load_op_column match whether DMS writes the Op column"
    )]
    ColumnCount {
        /// Object path.
        file: String,
        /// 1-based data row (the header row and blank lines are not counted).
        row: usize,
        /// Fields the layout needs (including the Op column, when expected).
        expected: usize,
        /// Fields the row has.
        found: usize,
    },
    /// A CSV value does not parse as its column's declared type.
    #[error(
        "{file}: row {row}, column `{column}`: {value:?} is not a valid {expected}; fix: declare the column with the type DMS writes (e.g. as string), or check the DMS CsvNullValue setting against input.csv_null_string"
    )]
    Unparsable {
        /// Object path.
        file: String,
        /// 1-based data row (the header row and blank lines are not counted).
        row: usize,
        /// Column name.
        column: String,
        /// The text found.
        value: String,
        /// The declared type, with the accepted format.
        expected: String,
    },
    /// A Parquet value cannot be represented in the normalised type (e.g. a timestamp out of the
    /// microsecond range).
    #[error(
        "{file}: row {row}, column `{column}`: the {from} value cannot be converted to {to}; fix: check the source value, or write the column with another type"
    )]
    Unconvertible {
        /// Object path.
        file: String,
        /// 1-based row.
        row: usize,
        /// Column name.
        column: String,
        /// The file's type.
        from: String,
        /// The normalised type.
        to: String,
    },
    /// An Op value other than `I`, `U` or `D`.
    #[error(
        "{file}: row {row}: unknown Op value {value:?} (expected I, U or D); fix: check that the first column is the DMS Op column, or set cdc_op_column / full_load_op_column to false if DMS writes none"
    )]
    UnknownOp {
        /// Object path.
        file: String,
        /// 1-based data row (the header row and blank lines are not counted).
        row: usize,
        /// The text found; an empty CSV field is `""`, a Parquet null is [`NULL_OP_TEXT`].
        value: String,
    },
    /// Arrow failed to assemble the result (should not happen with valid input).
    #[error("{file}: {detail}; fix: report this as a Tributary bug with the file")]
    Internal {
        /// Object path.
        file: String,
        /// The Arrow message.
        detail: String,
    },
}

impl ReadError {
    /// The object path of the file the error is about.
    pub fn file(&self) -> &str {
        match self {
            ReadError::Storage { file, .. }
            | ReadError::VersionGone { file, .. }
            | ReadError::TooLarge { file, .. }
            | ReadError::NotParquet { file, .. }
            | ReadError::NotGzip { file, .. }
            | ReadError::Csv { file, .. }
            | ReadError::ColumnsNotDeclared { file }
            | ReadError::MissingOpColumn { file, .. }
            | ReadError::OpColumnType { file, .. }
            | ReadError::UnknownHeaderColumn { file, .. }
            | ReadError::DuplicateHeaderColumn { file, .. }
            | ReadError::ColumnCount { file, .. }
            | ReadError::Unparsable { file, .. }
            | ReadError::Unconvertible { file, .. }
            | ReadError::UnknownOp { file, .. }
            | ReadError::Internal { file, .. } => file,
        }
    }
}

/// Reads one DMS file from `store` into source columns and per-row operations.
///
/// The whole object (its recorded version) is fetched with one GET and decoded in memory, on the
/// calling task (the result is one batch anyway, and a whole-object GET costs fewer requests than
/// ranged Parquet reads). A file that decompresses beyond `file.max_bytes` is refused before it
/// is decoded.
pub async fn read_change_file(
    store: &dyn ObjectStore,
    file: &ChangeFileRef<'_>,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    let name = file.path.as_ref();
    let bytes = fetch(store, file).await?;
    let with_op = match file.kind {
        FileKind::Cdc => input.cdc_op_column,
        FileKind::FullLoad => input.full_load_op_column,
    };
    let default_op = match file.kind {
        FileKind::Cdc => ChangeOp::Insert,
        FileKind::FullLoad => ChangeOp::Load,
    };
    let too_large = || ReadError::TooLarge {
        file: name.to_owned(),
        limit: file.max_bytes,
    };
    match file.format {
        FileFormat::Parquet => {
            if parquet_uncompressed_bytes(&bytes).is_some_and(|size| size > file.max_bytes) {
                return Err(too_large());
            }
            read_parquet(name, bytes, with_op, default_op, input)
        }
        FileFormat::Csv => read_csv(name, &bytes, with_op, default_op, input),
        FileFormat::CsvGzip => {
            let text = gunzip(name, &bytes, file.max_bytes)?.ok_or_else(too_large)?;
            read_csv(name, &text, with_op, default_op, input)
        }
    }
}

/// The recorded version of `file`'s object, refused when it is stored larger than
/// `file.max_bytes` (it cannot decompress to less).
async fn fetch(store: &dyn ObjectStore, file: &ChangeFileRef<'_>) -> Result<Bytes, ReadError> {
    let name = file.path.as_ref();
    let failed = |source| match source {
        object_store::Error::NotFound { .. } | object_store::Error::Precondition { .. }
            if *file.version != RecordedVersion::Current =>
        {
            ReadError::VersionGone {
                file: name.to_owned(),
                version: file.version.to_string(),
            }
        }
        source => ReadError::Storage {
            file: name.to_owned(),
            source,
        },
    };
    let object = store
        .get_opts(file.path, file.version.get_options())
        .await
        .map_err(failed)?;
    if object.meta.size > file.max_bytes {
        return Err(ReadError::TooLarge {
            file: name.to_owned(),
            limit: file.max_bytes,
        });
    }
    object.bytes().await.map_err(failed)
}

/// The uncompressed size of a Parquet file's column data, from its footer (`None` when the
/// footer is unreadable: decoding then reports why).
fn parquet_uncompressed_bytes(data: &Bytes) -> Option<u64> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(data).ok()?;
    let total: i64 = metadata
        .row_groups()
        .iter()
        .map(|group| group.total_byte_size())
        .sum();
    u64::try_from(total).ok()
}

/// The decompressed text of a gzip file, or `None` when it decompresses to more than `limit`
/// bytes (decompression stops there, so a crafted file cannot exhaust memory).
fn gunzip(file: &str, data: &[u8], limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let expected = data.len().saturating_mul(4);
    let mut out = Vec::with_capacity(usize::try_from(limit).map_or(expected, |l| expected.min(l)));
    flate2::read::MultiGzDecoder::new(data)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| ReadError::NotGzip {
            file: file.to_owned(),
            detail: e.to_string(),
        })?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

fn internal(file: &str, e: ArrowError) -> ReadError {
    ReadError::Internal {
        file: file.to_owned(),
        detail: e.to_string(),
    }
}

/// Parses the Op column without allocating per row.
fn parse_ops(file: &str, ops: &StringArray, null_text: &str) -> Result<Vec<ChangeOp>, ReadError> {
    let mut out = Vec::with_capacity(ops.len());
    for (i, value) in ops.iter().enumerate() {
        let op = match value {
            Some("I") => ChangeOp::Insert,
            Some("U") => ChangeOp::Update,
            Some("D") => ChangeOp::Delete,
            other => {
                return Err(ReadError::UnknownOp {
                    file: file.to_owned(),
                    row: i + 1,
                    value: other.unwrap_or(null_text).to_owned(),
                });
            }
        };
        out.push(op);
    }
    Ok(out)
}

/// Builds the output batch; all fields nullable, row count explicit (a file may have no source
/// columns besides Op).
fn assemble(
    file: &str,
    fields: Vec<Field>,
    arrays: Vec<ArrayRef>,
    rows: usize,
) -> Result<RecordBatch, ReadError> {
    RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )
    .map_err(|e| internal(file, e))
}

/// Index of the first row that was valid in `input` and is null in `output` (a failed safe cast).
fn first_lost_value(input: &dyn Array, output: &dyn Array) -> Option<usize> {
    if output.null_count() <= input.null_count() {
        return None;
    }
    (0..input.len()).find(|&i| input.is_valid(i) && output.is_null(i))
}

/// Cast options that turn an unparsable value into null (found by [`first_lost_value`]).
fn safe_cast() -> CastOptions<'static> {
    CastOptions {
        safe: true,
        ..CastOptions::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Parquet

/// The type a Parquet column is normalised to.
fn normalised_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Timestamp(_, _) => DataType::Timestamp(TimeUnit::Microsecond, None),
        DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
        DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => DataType::Decimal128(*p, *s),
        DataType::Dictionary(_, value) => match value.as_ref() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DataType::Binary,
            other => normalised_type(other),
        },
        other => other.clone(),
    }
}

/// A Parquet column in its normalised type ([`normalised_type`]); a value that cannot be
/// represented there is reported with its row.
fn normalise_column(file: &str, field: &Field, array: &ArrayRef) -> Result<ArrayRef, ReadError> {
    let target = normalised_type(field.data_type());
    if &target == array.data_type() {
        return Ok(Arc::clone(array));
    }
    let unconvertible = |row: usize| ReadError::Unconvertible {
        file: file.to_owned(),
        row,
        column: field.name().clone(),
        from: field.data_type().to_string(),
        to: target.to_string(),
    };
    let converted =
        cast_with_options(array, &target, &safe_cast()).map_err(|_| unconvertible(1))?;
    match first_lost_value(array, &converted) {
        Some(row) => Err(unconvertible(row + 1)),
        None => Ok(converted),
    }
}

fn read_parquet<T: ChunkReader + 'static>(
    file: &str,
    data: T,
    with_op: bool,
    default_op: ChangeOp,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    let not_parquet = |detail: String| ReadError::NotParquet {
        file: file.to_owned(),
        detail,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(data).map_err(|e| not_parquet(e.to_string()))?;
    let schema: SchemaRef = Arc::clone(builder.schema());
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| not_parquet(e.to_string()))?;
    let batches = reader
        .collect::<Result<Vec<_>, ArrowError>>()
        .map_err(|e| not_parquet(e.to_string()))?;
    let batch = concat_batches(&schema, &batches).map_err(|e| not_parquet(e.to_string()))?;
    let rows = batch.num_rows();

    let op_index = if with_op {
        Some(parquet_ops(file, &schema, &batch, &input.op_column_name)?)
    } else {
        None
    };

    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut arrays = Vec::with_capacity(schema.fields().len());
    for (i, (field, array)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        if op_index.as_ref().is_some_and(|(index, _)| *index == i) {
            continue;
        }
        let normalised = normalise_column(file, field, array)?;
        // DMS writes some columns as text whatever the source type (its TimestampColumnName
        // column among them): a text column declared with another type is parsed as that type.
        let array = match input.declared_column(field.name()) {
            Some(declared)
                if normalised.data_type() == &DataType::Utf8
                    && declared.data_type() != &DataType::Utf8 =>
            {
                let text = normalised.as_string::<i32>().clone();
                cast_declared(
                    file,
                    text,
                    &Field::new(field.name(), declared.data_type().clone(), true),
                )?
            }
            _ => normalised,
        };
        fields.push(Field::new(field.name(), array.data_type().clone(), true));
        arrays.push(array);
    }
    let ops = match op_index {
        Some((_, ops)) => ops,
        None => vec![default_op; rows],
    };
    Ok(FileChanges {
        columns: assemble(file, fields, arrays, rows)?,
        ops,
    })
}

/// The operation column of a DMS Parquet file: its index and each row's operation.
fn parquet_ops(
    file: &str,
    schema: &SchemaRef,
    batch: &RecordBatch,
    column: &str,
) -> Result<(usize, Vec<ChangeOp>), ReadError> {
    let missing = || ReadError::MissingOpColumn {
        file: file.to_owned(),
        column: column.to_owned(),
    };
    let index = schema.index_of(column).map_err(|_| missing())?;
    let op_array = batch.columns().get(index).ok_or_else(missing)?;
    let text = cast_with_options(op_array, &DataType::Utf8, &safe_cast())
        .ok()
        .filter(|_| normalised_type(op_array.data_type()) == DataType::Utf8)
        .ok_or_else(|| ReadError::OpColumnType {
            file: file.to_owned(),
            column: column.to_owned(),
            data_type: op_array.data_type().to_string(),
        })?;
    let ops = parse_ops(file, text.as_string::<i32>(), NULL_OP_TEXT)?;
    Ok((index, ops))
}

// ---------------------------------------------------------------------------------------------
// CSV

/// What one CSV field position holds.
enum Slot<'a> {
    Op,
    Column(&'a Field),
}

fn read_csv(
    file: &str,
    data: &[u8],
    with_op: bool,
    default_op: ChangeOp,
    input: &InputFormat,
) -> Result<FileChanges, ReadError> {
    if input.columns.is_empty() {
        return Err(ReadError::ColumnsNotDeclared {
            file: file.to_owned(),
        });
    }
    let slots = if input.csv_header {
        match read_header(file, data, input)? {
            Some(header) => header_slots(file, &header, with_op, input)?,
            // An empty file: no header, no rows.
            None => return empty_csv(file, input),
        }
    } else {
        let mut slots = Vec::with_capacity(input.columns.len() + 1);
        if with_op {
            slots.push(Slot::Op);
        }
        slots.extend(input.columns.iter().map(Slot::Column));
        slots
    };

    let text = parse_text(file, data, slots.len(), input)?;
    let rows = text.num_rows();
    let mut ops = None;
    let mut fields = Vec::with_capacity(slots.len());
    let mut arrays = Vec::with_capacity(slots.len());
    for (slot, array) in slots.iter().zip(text.columns()) {
        let strings = array.as_string::<i32>();
        match slot {
            Slot::Op => ops = Some(parse_ops(file, strings, "")?),
            Slot::Column(field) => {
                let strings = apply_null_string(file, strings, &input.csv_null_string)?;
                arrays.push(cast_declared(file, strings, field)?);
                fields.push(Field::new(field.name(), field.data_type().clone(), true));
            }
        }
    }
    Ok(FileChanges {
        columns: assemble(file, fields, arrays, rows)?,
        ops: ops.unwrap_or_else(|| vec![default_op; rows]),
    })
}

fn empty_csv(file: &str, input: &InputFormat) -> Result<FileChanges, ReadError> {
    let fields: Vec<Field> = input
        .columns
        .iter()
        .map(|f| Field::new(f.name(), f.data_type().clone(), true))
        .collect();
    let arrays = fields
        .iter()
        .map(|f| arrow::array::new_empty_array(f.data_type()))
        .collect();
    Ok(FileChanges {
        columns: assemble(file, fields, arrays, 0)?,
        ops: Vec::new(),
    })
}

/// The header row's names, or `None` for an empty file.
fn read_header(
    file: &str,
    data: &[u8],
    input: &InputFormat,
) -> Result<Option<Vec<String>>, ReadError> {
    let (schema, _) = Format::default()
        .with_header(true)
        .with_delimiter(input.csv_delimiter)
        .infer_schema(data, Some(0))
        .map_err(|e| ReadError::Csv {
            file: file.to_owned(),
            detail: format!("header row: {e}"),
        })?;
    if schema.fields().is_empty() {
        return Ok(None);
    }
    Ok(Some(
        schema.fields().iter().map(|f| f.name().clone()).collect(),
    ))
}

/// Maps header names to the Op column and declared columns
/// ([`InputFormat::declared_column`]).
fn header_slots<'a>(
    file: &str,
    header: &[String],
    with_op: bool,
    input: &'a InputFormat,
) -> Result<Vec<Slot<'a>>, ReadError> {
    let mut slots: Vec<Slot<'a>> = Vec::with_capacity(header.len());
    let mut seen_op = false;
    for name in header {
        let duplicate = || ReadError::DuplicateHeaderColumn {
            file: file.to_owned(),
            column: name.clone(),
        };
        if with_op && *name == input.op_column_name {
            if seen_op {
                return Err(duplicate());
            }
            seen_op = true;
            slots.push(Slot::Op);
            continue;
        }
        let field = input
            .declared_column(name)
            .ok_or_else(|| ReadError::UnknownHeaderColumn {
                file: file.to_owned(),
                column: name.clone(),
            })?;
        if slots
            .iter()
            .any(|s| matches!(s, Slot::Column(f) if std::ptr::eq(*f, field)))
        {
            return Err(duplicate());
        }
        slots.push(Slot::Column(field));
    }
    if with_op && !seen_op {
        return Err(ReadError::MissingOpColumn {
            file: file.to_owned(),
            column: input.op_column_name.clone(),
        });
    }
    Ok(slots)
}

/// Parses every field as text (so values never fail here); an empty field is null at this stage.
fn parse_text(
    file: &str,
    data: &[u8],
    width: usize,
    input: &InputFormat,
) -> Result<RecordBatch, ReadError> {
    let schema = Arc::new(Schema::new(
        (0..width)
            .map(|i| Field::new(format!("f{i}"), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let header_rows = usize::from(input.csv_header);
    let csv_error = |e: ArrowError| csv_error(file, data, e, header_rows, input.csv_delimiter);
    let reader = ReaderBuilder::new(Arc::clone(&schema))
        .with_header(input.csv_header)
        .with_delimiter(input.csv_delimiter)
        .with_batch_size(BATCH_ROWS)
        .build_buffered(data)
        .map_err(csv_error)?;
    let batches = reader
        .collect::<Result<Vec<_>, ArrowError>>()
        .map_err(csv_error)?;
    concat_batches(&schema, &batches).map_err(|e| internal(file, e))
}

/// Turns an arrow-csv error into [`ReadError::ColumnCount`] when it is one, else
/// [`ReadError::Csv`].
fn csv_error(
    file: &str,
    data: &[u8],
    e: ArrowError,
    header_rows: usize,
    delimiter: u8,
) -> ReadError {
    let detail = match e {
        ArrowError::CsvError(detail) => detail,
        other => other.to_string(),
    };
    if let Some((record, expected, found, at_least)) = parse_field_count_message(&detail) {
        // arrow reports "more than N" when the row filled its buffer; count the fields then.
        let found = if at_least {
            count_fields(data, delimiter, record).unwrap_or(found + 1)
        } else {
            found
        };
        return ReadError::ColumnCount {
            file: file.to_owned(),
            row: record.saturating_sub(header_rows).max(1),
            expected,
            found,
        };
    }
    ReadError::Csv {
        file: file.to_owned(),
        detail,
    }
}

/// Parses `incorrect number of fields for line N, expected X got [more than ]Y` into
/// `(N, X, Y, more_than)`; N counts records (a header included) from 1.
fn parse_field_count_message(message: &str) -> Option<(usize, usize, usize, bool)> {
    let (_, rest) = message.split_once("incorrect number of fields for line ")?;
    let (record, rest) = rest.split_once(", expected ")?;
    let (expected, found) = rest.split_once(" got ")?;
    let (found, at_least) = match found.trim().strip_prefix("more than ") {
        Some(n) => (n, true),
        None => (found.trim(), false),
    };
    Some((
        record.trim().parse().ok()?,
        expected.trim().parse().ok()?,
        found.parse().ok()?,
        at_least,
    ))
}

/// Counts the fields of the 1-based `record` with RFC 4180 quoting (records end at `\n`, `\r` or
/// `\r\n` outside quotes; blank lines are not records, as in the CSV parser).
fn count_fields(data: &[u8], delimiter: u8, record: usize) -> Option<usize> {
    let mut current = 1usize;
    let mut fields = 1usize;
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut record_has_bytes = false;
    let mut bytes = data.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if in_quotes {
            if b == b'"' {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    in_quotes = false;
                }
            }
            continue;
        }
        match b {
            b'\n' | b'\r' => {
                if b == b'\r' && bytes.peek() == Some(&b'\n') {
                    bytes.next();
                }
                if !record_has_bytes {
                    continue;
                }
                if current == record {
                    return Some(fields);
                }
                current += 1;
                fields = 1;
                at_field_start = true;
                record_has_bytes = false;
            }
            b'"' if at_field_start => {
                in_quotes = true;
                at_field_start = false;
                record_has_bytes = true;
            }
            _ if b == delimiter => {
                fields += 1;
                at_field_start = true;
                record_has_bytes = true;
            }
            _ => {
                at_field_start = false;
                record_has_bytes = true;
            }
        }
    }
    (current == record && record_has_bytes).then_some(fields)
}

/// Makes a field equal to `null_string` null and every other field (including an empty one) a
/// value. arrow-csv has made empty fields null; their slots are empty, so dropping its null
/// buffer turns them back into empty strings.
fn apply_null_string(
    file: &str,
    strings: &StringArray,
    null_string: &str,
) -> Result<StringArray, ReadError> {
    if null_string.is_empty() {
        return Ok(strings.clone());
    }
    let (offsets, values, _) = strings.clone().into_parts();
    let all_values = StringArray::try_new(offsets, values, None).map_err(|e| internal(file, e))?;
    let marker = Scalar::new(StringArray::from_iter_values([null_string]));
    let is_null = eq(&all_values, &marker).map_err(|e| internal(file, e))?;
    if is_null.true_count() == 0 {
        return Ok(all_values);
    }
    let (offsets, values, _) = all_values.into_parts();
    let validity = NullBuffer::new(!is_null.values());
    StringArray::try_new(offsets, values, Some(validity)).map_err(|e| internal(file, e))
}

/// Casts a text column to its declared type; a value that does not parse is reported.
fn cast_declared(file: &str, strings: StringArray, field: &Field) -> Result<ArrayRef, ReadError> {
    let target = field.data_type();
    if *target == DataType::Utf8 {
        return Ok(Arc::new(strings));
    }
    let unparsable = |row: usize| ReadError::Unparsable {
        file: file.to_owned(),
        row: row + 1,
        column: field.name().clone(),
        value: if row < strings.len() && strings.is_valid(row) {
            strings.value(row).to_owned()
        } else {
            String::new()
        },
        expected: type_description(target),
    };
    let cast = cast_with_options(&strings, target, &safe_cast()).map_err(|e| ReadError::Csv {
        file: file.to_owned(),
        detail: format!("column `{}` cannot be read as {target}: {e}", field.name()),
    })?;
    match first_lost_value(&strings, &cast) {
        Some(row) => Err(unparsable(row)),
        None => Ok(cast),
    }
}

/// The Hive type name and accepted text format, for error messages.
fn type_description(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "boolean (true/false or 1/0)".to_owned(),
        DataType::Int8 => "tinyint".to_owned(),
        DataType::Int16 => "smallint".to_owned(),
        DataType::Int32 => "int".to_owned(),
        DataType::Int64 => "bigint".to_owned(),
        DataType::Float32 => "float".to_owned(),
        DataType::Float64 => "double".to_owned(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 => "date (yyyy-mm-dd)".to_owned(),
        DataType::Timestamp(_, _) => "timestamp (yyyy-mm-dd hh:mm:ss[.ffffff])".to_owned(),
        DataType::Binary => "binary".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "dms_reader_test.rs"]
mod tests;

#[cfg(test)]
#[path = "dms_reader_bounds_test.rs"]
mod bounds_tests;
