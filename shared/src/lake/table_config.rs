//! A table's configuration: what users write ([`TableSpec`], serde) and the validated, typed form the
//! merge engine runs on ([`TableConfig`]).
//!
//! Every validation error names the field, what is wrong and how to fix it.

use std::collections::HashSet;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, TimeUnit};
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::dms_layout::SourceTable;
use crate::lake::paths::{S3_MAX_KEY_BYTES, longest_key_bytes};

/// Columns Tributary adds to lake rows. Source columns must not use these names.
pub mod meta_columns {
    /// Position of the change in the table's total order (all modes); see docs/DESIGN.md.
    pub const ORDER: &str = "cdc_order";
    /// DMS operation of the change, `I`, `U` or `D` (history mode; `L` marks a full-load row).
    pub const OP: &str = "cdc_op";
    /// Commit time the version became valid (scd2).
    pub const VALID_FROM: &str = "valid_from";
    /// Commit time the version stopped being valid, null while current (scd2).
    pub const VALID_TO: &str = "valid_to";
    /// Whether the version is the key's latest (scd2).
    pub const IS_CURRENT: &str = "is_current";
    /// Whether the version records a delete (scd2).
    pub const IS_DELETED: &str = "is_deleted";
    /// Every reserved name.
    pub const ALL: [&str; 6] = [ORDER, OP, VALID_FROM, VALID_TO, IS_CURRENT, IS_DELETED];
}

/// The columns a storage mode adds after the source columns, in stored order.
pub fn mode_fields(mode: StorageMode) -> Vec<Field> {
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    match mode {
        StorageMode::Current => vec![text(meta_columns::ORDER)],
        StorageMode::History => vec![text(meta_columns::OP), text(meta_columns::ORDER)],
        StorageMode::Scd2 => {
            let time = DataType::Timestamp(TimeUnit::Microsecond, None);
            vec![
                text(meta_columns::ORDER),
                Field::new(meta_columns::VALID_FROM, time.clone(), true),
                Field::new(meta_columns::VALID_TO, time, true),
                Field::new(meta_columns::IS_CURRENT, DataType::Boolean, true),
                Field::new(meta_columns::IS_DELETED, DataType::Boolean, true),
            ]
        }
    }
}

/// Default target size of an output Parquet file: 128 MiB.
pub const DEFAULT_TARGET_FILE_SIZE_BYTES: u64 = 128 * 1024 * 1024;
/// Default number of rows per Parquet row group.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 131_072;
/// Default number of days a delete is remembered to stop late changes from resurrecting a row.
pub const DEFAULT_TOMBSTONE_RETENTION_DAYS: u32 = 7;
/// Default number of days an Iceberg table's snapshots stay readable by time travel.
pub const DEFAULT_TIME_TRAVEL_DAYS: u32 = 7;
/// The format of a table whose specification names none (`target.format` absent): the one place
/// the default is decided (`hive` until Tributary publishes Iceberg tables, then `iceberg`).
/// Stored configurations name their format explicitly (`manifest::canonical_spec_json`), and a
/// refresh refuses a table whose configured format differs from its snapshots', so changing the
/// default never converts a table silently.
pub const DEFAULT_TABLE_FORMAT: TableFormat = TableFormat::Hive;
const MIN_TARGET_FILE_SIZE_BYTES: u64 = 4 * 1024;
const MAX_TARGET_FILE_SIZE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
const MAX_ROW_GROUP_ROWS: usize = 16 * 1024 * 1024;
const MAX_TOMBSTONE_RETENTION_DAYS: u32 = 3650;
const MAX_TIME_TRAVEL_DAYS: u32 = 3650;
const SECONDS_PER_DAY: u64 = 86_400;

/// A table configuration as written by users (YAML manifest, DynamoDB item, JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Where DMS writes the table.
    pub source: SourceSpec,
    /// The lake table Tributary maintains.
    pub target: TargetSpec,
    /// Primary-key columns, in key order.
    pub primary_key: Vec<String>,
    /// Columns that order changes.
    #[serde(default)]
    pub ordering: OrderingSpec,
    /// `current`, `history` or `scd2`.
    #[serde(default)]
    pub storage_mode: StorageMode,
    /// Partition fields: `identity(col)`, `year(col)`, `month(col)`, `day(col)`, `hour(col)`; a
    /// date transform may be named, `month(col) as col_month` (one key, value `2024-01`).
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// How date transforms are laid out: `nested` (`year=2024/month=01/day=05`) or `dt`
    /// (`dt=2024-01-05`).
    #[serde(default)]
    pub date_partition_style: DatePartitionStyle,
    /// How DMS files are encoded.
    #[serde(default)]
    pub input: InputSpec,
    /// Output file sizing and compression.
    #[serde(default)]
    pub output: OutputSpec,
    /// Days a delete is remembered (default 7).
    #[serde(default = "default_tombstone_retention_days")]
    pub tombstone_retention_days: u32,
    /// Days an Iceberg table's snapshots stay readable by time travel (default 7; 0 keeps only
    /// the newest few); ignored by Hive tables.
    #[serde(default = "default_time_travel_days")]
    pub time_travel_days: u32,
    /// What the processor does once a DMS file of this table is quarantined: `stop` (default:
    /// the table waits for a fix, nothing is lost) or `skip` (apply the files after it).
    #[serde(default)]
    pub on_bad_file: OnBadFile,
}

/// What happens to a table after one of its DMS files is quarantined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadFile {
    /// The table stops at the quarantined file until it is fixed and retried.
    #[default]
    Stop,
    /// The quarantined file is left aside and later files are applied.
    Skip,
}

fn default_tombstone_retention_days() -> u32 {
    DEFAULT_TOMBSTONE_RETENTION_DAYS
}

fn default_time_travel_days() -> u32 {
    DEFAULT_TIME_TRAVEL_DAYS
}

/// The source table, as named in the DMS layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Source schema.
    pub schema: String,
    /// Source table.
    pub table: String,
}

impl SourceSpec {
    /// The table id of this source (see [`SourceTable::id`]).
    pub fn table_id(&self) -> String {
        SourceTable {
            schema: self.schema.clone(),
            table: self.table.clone(),
        }
        .id()
    }
}

/// The lake table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Glue database.
    pub database: String,
    /// Glue table.
    pub table: String,
    /// Root of the table in the lake store, e.g. `sales/orders` (relative to the lake bucket).
    pub location: String,
    /// `iceberg` or `hive`; [`DEFAULT_TABLE_FORMAT`] when absent.
    #[serde(default = "default_table_format")]
    pub format: TableFormat,
}

fn default_table_format() -> TableFormat {
    DEFAULT_TABLE_FORMAT
}

/// How a lake table is written and registered in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// An Apache Iceberg v2 table registered in the Glue catalog.
    Iceberg,
    /// Hive-style partition folders, each partition registered in the Glue catalog.
    Hive,
}

impl TableFormat {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::Iceberg => "iceberg",
            TableFormat::Hive => "hive",
        }
    }
}

/// Ordering columns. Either, both or neither may be set; see docs/DESIGN.md for the total order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderingSpec {
    /// A monotonic change sequence column, e.g. one mapped from `$AR_H_CHANGE_SEQ`.
    #[serde(default)]
    pub sequence_column: Option<String>,
    /// The commit-timestamp column (DMS `TimestampColumnName`).
    #[serde(default)]
    pub commit_timestamp_column: Option<String>,
}

/// How the lake table stores changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageMode {
    /// One row per primary key, its latest version; deletes remove the row.
    #[default]
    Current,
    /// Every change appended with its operation and order; deletes kept as `D` rows.
    History,
    /// One row per version with `valid_from`, `valid_to`, `is_current`, `is_deleted`.
    Scd2,
}

impl StorageMode {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageMode::Current => "current",
            StorageMode::History => "history",
            StorageMode::Scd2 => "scd2",
        }
    }
}

/// Layout of date-transform partitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatePartitionStyle {
    /// One level per part: `year=2024/month=01/day=05[/hour=07]`.
    #[default]
    Nested,
    /// One `dt` level: `dt=2024`, `dt=2024-01`, `dt=2024-01-05`, `dt=2024-01-05-07`.
    Dt,
}

/// Input encoding of the table's DMS files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputSpec {
    /// Column delimiter of CSV files (DMS `CsvDelimiter`, default `,`).
    pub csv_delimiter: String,
    /// String DMS writes for null (DMS `CsvNullValue`, default `NULL`).
    pub csv_null_string: String,
    /// Whether CSV files start with a header row (DMS `AddColumnName`).
    pub csv_header: bool,
    /// Whether CDC files carry the Op column (false with DMS `CdcInsertsOnly`).
    pub cdc_op_column: bool,
    /// Whether full-load files carry the Op column (DMS `IncludeOpForFullLoad`).
    pub full_load_op_column: bool,
    /// Name of the Op column in Parquet files and CSV headers.
    pub op_column_name: String,
    /// Source columns in file order, with Hive types. Required for headerless CSV; optional for
    /// Parquet, whose files carry their schema.
    pub columns: Vec<ColumnSpec>,
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec {
            csv_delimiter: ",".to_owned(),
            csv_null_string: "NULL".to_owned(),
            csv_header: false,
            cdc_op_column: true,
            full_load_op_column: false,
            op_column_name: "Op".to_owned(),
            columns: Vec::new(),
        }
    }
}

/// One source column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name.
    pub name: String,
    /// Hive type: `boolean`, `tinyint`, `smallint`, `int`, `bigint`, `float`, `double`,
    /// `decimal(p,s)`, `string`, `binary`, `date`, `timestamp`.
    #[serde(rename = "type")]
    pub hive_type: String,
}

/// Output sizing and compression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSpec {
    /// Target size of a Parquet file in bytes (default 128 MiB).
    pub target_file_size_bytes: u64,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// `zstd` (default) or `snappy`.
    pub compression: OutputCompression,
}

impl Default for OutputSpec {
    fn default() -> Self {
        OutputSpec {
            target_file_size_bytes: DEFAULT_TARGET_FILE_SIZE_BYTES,
            row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            compression: OutputCompression::Zstd,
        }
    }
}

/// Parquet compression codec of output files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputCompression {
    /// Zstandard (level 3).
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
}

/// A configuration that cannot be used. Each names the field, the problem and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TableConfigError {
    /// The document is not a table configuration (syntax, unknown or missing field).
    #[error("table configuration is unreadable: {0}")]
    Unreadable(String),
    /// A field has a value Tributary cannot use.
    #[error("table configuration field `{field}`: {problem}; fix: {fix}")]
    Invalid {
        /// Dotted path of the field, e.g. `ordering.sequence_column`.
        field: String,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

fn invalid(
    field: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> TableConfigError {
    TableConfigError::Invalid {
        field: field.into(),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// The validated configuration of one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableConfig {
    /// The source table (`schema.table` is its id).
    pub source: SourceTable,
    /// Glue database.
    pub target_database: String,
    /// Glue table.
    pub target_table: String,
    /// Root of the table in the lake store.
    pub location: Path,
    /// How the table is written and registered.
    pub format: TableFormat,
    /// Primary-key columns, in key order.
    pub primary_key: Vec<String>,
    /// Sequence column, compared before the commit timestamp.
    pub sequence_column: Option<String>,
    /// Commit-timestamp column.
    pub commit_timestamp_column: Option<String>,
    /// Storage mode.
    pub mode: StorageMode,
    /// Partition fields, outermost first.
    pub partition_fields: Vec<PartitionField>,
    /// Layout of date transforms.
    pub date_partition_style: DatePartitionStyle,
    /// Input encoding.
    pub input: InputFormat,
    /// Output sizing and compression.
    pub output: OutputOptions,
    /// How long deletes are remembered.
    pub tombstone_retention: Duration,
    /// How long an Iceberg table's snapshots stay readable by time travel (the newest few are
    /// kept whatever their age).
    pub time_travel: Duration,
    /// What happens after a DMS file is quarantined.
    pub on_bad_file: OnBadFile,
}

/// One partition field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionField {
    /// The source column.
    pub column: String,
    /// How the column's value becomes the partition value.
    pub transform: PartitionTransform,
    /// The partition key of a named date transform (`month(ts) as ts_month`): one key holding
    /// the `dt`-style value (`2024-01`), whatever the date partition style.
    pub name: Option<String>,
}

/// How a column value becomes a partition value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionTransform {
    /// The value itself.
    Identity,
    /// Year of a date/timestamp.
    Year,
    /// Year and month.
    Month,
    /// Year, month and day.
    Day,
    /// Year, month, day and hour.
    Hour,
}

impl PartitionTransform {
    /// The configuration name, e.g. `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            PartitionTransform::Identity => "identity",
            PartitionTransform::Year => "year",
            PartitionTransform::Month => "month",
            PartitionTransform::Day => "day",
            PartitionTransform::Hour => "hour",
        }
    }

    const ALL: [PartitionTransform; 5] = [
        PartitionTransform::Identity,
        PartitionTransform::Year,
        PartitionTransform::Month,
        PartitionTransform::Day,
        PartitionTransform::Hour,
    ];
}

/// Validated input encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct InputFormat {
    /// CSV delimiter byte.
    pub csv_delimiter: u8,
    /// CSV null marker.
    pub csv_null_string: String,
    /// Whether CSV files have a header row.
    pub csv_header: bool,
    /// Whether CDC files carry the Op column.
    pub cdc_op_column: bool,
    /// Whether full-load files carry the Op column.
    pub full_load_op_column: bool,
    /// Name of the Op column in Parquet files and CSV headers.
    pub op_column_name: String,
    /// Declared source columns (nullable arrow fields), in file order; empty when files carry
    /// their own schema (Parquet).
    pub columns: Vec<Field>,
}

impl InputFormat {
    /// The declared column named `name`: the exact name, else the one equal ignoring ASCII case
    /// (declared names are unique ignoring case, as Athena ignores it).
    pub fn declared_column(&self, name: &str) -> Option<&Field> {
        self.columns.iter().find(|f| f.name() == name).or_else(|| {
            self.columns
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(name))
        })
    }
}

/// Validated output options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    /// Target Parquet file size in bytes.
    pub target_file_size_bytes: u64,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Compression codec.
    pub compression: OutputCompression,
}

impl TableConfig {
    /// Parses and validates a JSON table configuration. An unreadable document's error names the
    /// field that failed, e.g. `target.format: unknown variant …`.
    pub fn from_json(text: &str) -> Result<TableConfig, TableConfigError> {
        let unreadable = |e: &dyn std::fmt::Display| TableConfigError::Unreadable(e.to_string());
        let mut document = serde_json::Deserializer::from_str(text);
        let spec: TableSpec =
            serde_path_to_error::deserialize(&mut document).map_err(|e| unreadable(&e))?;
        document.end().map_err(|e| unreadable(&e))?;
        TableConfig::try_from(spec)
    }

    /// The table id, `schema.table`.
    pub fn table_id(&self) -> String {
        self.source.id()
    }

    /// The declared type of a column, when columns are declared.
    pub fn declared_type(&self, column: &str) -> Option<&DataType> {
        self.input
            .columns
            .iter()
            .find(|f| f.name() == column)
            .map(Field::data_type)
    }
}

impl TryFrom<TableSpec> for TableConfig {
    type Error = TableConfigError;

    fn try_from(spec: TableSpec) -> Result<Self, Self::Error> {
        let source = validate_source(&spec.source)?;
        let target_database = validate_glue_name("target.database", &spec.target.database)?;
        let target_table = validate_glue_name("target.table", &spec.target.table)?;
        let location = validate_location(&spec.target.location)?;
        let columns = validate_columns(&spec.input.columns)?;
        let known = |name: &str| columns.is_empty() || columns.iter().any(|f| f.name() == name);

        validate_primary_key(&spec.primary_key, &columns, &known)?;
        for (field, column) in [
            ("ordering.sequence_column", &spec.ordering.sequence_column),
            (
                "ordering.commit_timestamp_column",
                &spec.ordering.commit_timestamp_column,
            ),
        ] {
            if let Some(column) = column {
                require_known_column(field, column, &known)?;
            }
        }
        if let Some(column) = &spec.ordering.sequence_column {
            require_sequence_type(&columns, column)?;
        }
        if let Some(column) = &spec.ordering.commit_timestamp_column {
            require_commit_time_type(&columns, column)?;
        }
        if spec.storage_mode == StorageMode::Scd2 && spec.ordering.commit_timestamp_column.is_none()
        {
            return Err(invalid(
                "ordering.commit_timestamp_column",
                "storage_mode scd2 needs commit times for valid_from/valid_to",
                "set DMS TimestampColumnName and name that column here, or use storage_mode current/history",
            ));
        }
        let partition_fields = parse_partition_fields(&spec.partition_by, &columns, &known)?;
        validate_partition_names(&partition_fields, spec.date_partition_style, &columns)?;
        let input = validate_input(&spec.input, columns)?;
        let output = validate_output(&spec.output)?;
        let tombstone_retention = validate_tombstone_retention(spec.tombstone_retention_days)?;
        let time_travel = validate_time_travel(spec.time_travel_days)?;
        Ok(TableConfig {
            source,
            target_database,
            target_table,
            location,
            format: spec.target.format,
            primary_key: spec.primary_key,
            sequence_column: spec.ordering.sequence_column,
            commit_timestamp_column: spec.ordering.commit_timestamp_column,
            mode: spec.storage_mode,
            partition_fields,
            date_partition_style: spec.date_partition_style,
            input,
            output,
            on_bad_file: spec.on_bad_file,
            tombstone_retention,
            time_travel,
        })
    }
}

fn validate_tombstone_retention(days: u32) -> Result<Duration, TableConfigError> {
    if days == 0 || days > MAX_TOMBSTONE_RETENTION_DAYS {
        return Err(invalid(
            "tombstone_retention_days",
            format!("{days} is outside 1..={MAX_TOMBSTONE_RETENTION_DAYS}"),
            "use at least the longest delay with which a DMS file can arrive (default 7)",
        ));
    }
    Ok(Duration::from_secs(u64::from(days) * SECONDS_PER_DAY))
}

fn validate_time_travel(days: u32) -> Result<Duration, TableConfigError> {
    if days > MAX_TIME_TRAVEL_DAYS {
        return Err(invalid(
            "time_travel_days",
            format!("{days} is outside 0..={MAX_TIME_TRAVEL_DAYS}"),
            "use the days readers may travel back (default 7); every day kept keeps the files \
             of its snapshots in the lake",
        ));
    }
    Ok(Duration::from_secs(u64::from(days) * SECONDS_PER_DAY))
}

fn validate_source(source: &SourceSpec) -> Result<SourceTable, TableConfigError> {
    for (field, value) in [
        ("source.schema", &source.schema),
        ("source.table", &source.table),
    ] {
        if value.trim().is_empty() || value.contains('/') {
            return Err(invalid(
                field,
                format!("{value:?} is not a DMS folder name"),
                "use the schema/table folder names DMS writes under the staging prefix",
            ));
        }
    }
    Ok(SourceTable {
        schema: source.schema.clone(),
        table: source.table.clone(),
    })
}

fn validate_glue_name(field: &str, name: &str) -> Result<String, TableConfigError> {
    let safe = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if safe {
        Ok(name.to_owned())
    } else {
        Err(invalid(
            field,
            format!("{name:?} is not a name Athena can query without quoting"),
            "use 1-255 characters from [a-z0-9_]",
        ))
    }
}

fn validate_location(location: &str) -> Result<Path, TableConfigError> {
    let trimmed = location.trim_matches('/');
    let bad = |problem: String| {
        invalid(
            "target.location",
            problem,
            "use a relative prefix such as `sales/orders`",
        )
    };
    if trimmed.is_empty() || trimmed.contains("://") {
        return Err(bad(format!(
            "{location:?} is not a prefix inside the lake bucket"
        )));
    }
    let path = Path::parse(trimmed)
        .map_err(|e| bad(format!("{location:?} is not a valid object path: {e}")))?;
    let longest = longest_key_bytes(&path, "");
    if longest > S3_MAX_KEY_BYTES {
        let overhead = longest.saturating_sub(path.as_ref().len());
        return Err(invalid(
            "target.location",
            format!(
                "a location of {} bytes makes object keys of up to {longest} bytes; S3 accepts at most {S3_MAX_KEY_BYTES}",
                path.as_ref().len()
            ),
            format!(
                "use a prefix of at most {} bytes (partition paths need room too)",
                S3_MAX_KEY_BYTES.saturating_sub(overhead)
            ),
        ));
    }
    Ok(path)
}

fn validate_columns(columns: &[ColumnSpec]) -> Result<Vec<Field>, TableConfigError> {
    let mut seen = HashSet::new();
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let field = format!("input.columns[{i}]");
            if column.name.trim().is_empty() {
                return Err(invalid(field, "the column has no name", "name every column"));
            }
            // Athena ignores case, so `CDC_ORDER` would collide with `cdc_order` too.
            if meta_columns::ALL
                .iter()
                .any(|m| m.eq_ignore_ascii_case(&column.name))
            {
                return Err(invalid(
                    field,
                    format!("`{}` is reserved for Tributary's own columns", column.name),
                    "rename the column with a DMS transformation rule",
                ));
            }
            if !seen.insert(column.name.to_ascii_lowercase()) {
                return Err(invalid(
                    field,
                    format!("`{}` is declared twice (Athena ignores case)", column.name),
                    "declare each column once",
                ));
            }
            let data_type = parse_hive_type(&column.hive_type).ok_or_else(|| {
                invalid(
                    format!("input.columns[{i}].type"),
                    format!("{:?} is not a supported Hive type", column.hive_type),
                    "use boolean, tinyint, smallint, int, bigint, float, double, decimal(p,s) with p<=38, string, binary, date or timestamp",
                )
            })?;
            Ok(Field::new(column.name.clone(), data_type, true))
        })
        .collect()
}

/// Parses a Hive type name into the arrow type Tributary stores it as.
pub fn parse_hive_type(text: &str) -> Option<DataType> {
    let text = text.trim().to_ascii_lowercase();
    let simple = match text.as_str() {
        "boolean" => Some(DataType::Boolean),
        "tinyint" => Some(DataType::Int8),
        "smallint" => Some(DataType::Int16),
        "int" | "integer" => Some(DataType::Int32),
        "bigint" => Some(DataType::Int64),
        "float" | "real" => Some(DataType::Float32),
        "double" => Some(DataType::Float64),
        "string" => Some(DataType::Utf8),
        "binary" => Some(DataType::Binary),
        "date" => Some(DataType::Date32),
        "timestamp" => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => None,
    };
    if simple.is_some() {
        return simple;
    }
    if let Some(length) = text
        .strip_prefix("varchar(")
        .or_else(|| text.strip_prefix("char("))
        .and_then(|rest| rest.strip_suffix(')'))
    {
        return length
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .map(|_| DataType::Utf8);
    }
    let inner = text.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (precision, scale) = inner.split_once(',')?;
    let precision: u8 = precision.trim().parse().ok()?;
    let scale: i8 = scale.trim().parse().ok()?;
    let valid = (1..=38).contains(&precision) && scale >= 0 && scale as u8 <= precision;
    valid.then_some(DataType::Decimal128(precision, scale))
}

/// The Hive type name of an arrow type Tributary stores, or `None` when the type has no Hive
/// equivalent Tributary supports. Inverse of [`parse_hive_type`].
pub fn hive_type_name(data_type: &DataType) -> Option<String> {
    let name = match data_type {
        DataType::Boolean => "boolean",
        DataType::Int8 => "tinyint",
        DataType::Int16 => "smallint",
        DataType::Int32 => "int",
        DataType::Int64 => "bigint",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Utf8 => "string",
        DataType::Binary => "binary",
        DataType::Date32 => "date",
        DataType::Timestamp(TimeUnit::Microsecond, None) => "timestamp",
        DataType::Decimal128(precision, scale) => {
            return Some(format!("decimal({precision},{scale})"));
        }
        _ => return None,
    };
    Some(name.to_owned())
}

fn require_known_column(
    field: &str,
    column: &str,
    known: &impl Fn(&str) -> bool,
) -> Result<(), TableConfigError> {
    if known(column) {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("column `{column}` is not among input.columns"),
            "declare the column in input.columns or fix the name",
        ))
    }
}

fn require_temporal(columns: &[Field], field: &str, column: &str) -> Result<(), TableConfigError> {
    match declared(columns, column) {
        None | Some(DataType::Date32) | Some(DataType::Timestamp(_, _)) => Ok(()),
        Some(other) => Err(invalid(
            field,
            format!("column `{column}` is {other}, not a date or timestamp"),
            "declare it as date or timestamp, or choose another column",
        )),
    }
}

/// The declared type of `column`, when columns are declared and it is among them.
fn declared<'c>(columns: &'c [Field], column: &str) -> Option<&'c DataType> {
    columns
        .iter()
        .find(|f| f.name() == column)
        .map(Field::data_type)
}

/// A sequence column is compared as a number: integers, digit strings, scale-0 decimals.
fn require_sequence_type(columns: &[Field], column: &str) -> Result<(), TableConfigError> {
    match declared(columns, column) {
        None
        | Some(
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Utf8
            | DataType::Decimal128(_, 0),
        ) => Ok(()),
        Some(other) => Err(invalid(
            "ordering.sequence_column",
            format!("column `{column}` is {other}, which cannot order changes as a sequence"),
            "declare it as bigint, decimal(p,0) or string (digits only, e.g. $AR_H_CHANGE_SEQ), or use ordering.commit_timestamp_column alone",
        )),
    }
}

/// A commit-timestamp column holds timestamps, dates, or the text DMS writes
/// (`yyyy-MM-dd HH:mm:ss[.ffffff]`).
fn require_commit_time_type(columns: &[Field], column: &str) -> Result<(), TableConfigError> {
    match declared(columns, column) {
        None | Some(DataType::Date32 | DataType::Timestamp(_, _) | DataType::Utf8) => Ok(()),
        Some(other) => Err(invalid(
            "ordering.commit_timestamp_column",
            format!("column `{column}` is {other}, not a timestamp, date or timestamp text"),
            "declare the DMS TimestampColumnName column as timestamp or string, or choose another column",
        )),
    }
}

fn validate_primary_key(
    key: &[String],
    columns: &[Field],
    known: &impl Fn(&str) -> bool,
) -> Result<(), TableConfigError> {
    if key.is_empty() {
        return Err(invalid(
            "primary_key",
            "no primary-key column is listed",
            "list the source table's primary-key columns (upserts and deletes need them)",
        ));
    }
    let mut seen = HashSet::new();
    for (i, column) in key.iter().enumerate() {
        let field = format!("primary_key[{i}]");
        if !seen.insert(column) {
            return Err(invalid(
                field,
                format!("`{column}` is listed twice"),
                "list each key column once",
            ));
        }
        require_known_column(&field, column, known)?;
        if let Some(f) = columns.iter().find(|f| f.name() == column)
            && matches!(
                f.data_type(),
                DataType::Boolean | DataType::Float32 | DataType::Float64 | DataType::Binary
            )
        {
            return Err(invalid(
                field,
                format!(
                    "key column `{column}` has type {}, which cannot identify rows reliably",
                    f.data_type()
                ),
                "use integer, decimal, string, date or timestamp key columns",
            ));
        }
    }
    Ok(())
}

/// Parses `transform(column)` or `transform(column) as name` (`as` in any case).
fn parse_partition_field(text: &str) -> Option<PartitionField> {
    let text = text.trim();
    let close = text.rfind(')')?;
    let (call, rest) = (text.get(..close)?, text.get(close + 1..)?.trim());
    let (transform, column) = call.split_once('(')?;
    let transform = PartitionTransform::ALL
        .into_iter()
        .find(|t| t.as_str() == transform.trim())?;
    let column = column.trim();
    let name = if rest.is_empty() {
        None
    } else {
        let (keyword, name) = rest.split_at_checked(2)?;
        let spaced = name.starts_with(char::is_whitespace);
        if !keyword.eq_ignore_ascii_case("as") || !spaced || name.trim().is_empty() {
            return None;
        }
        Some(name.trim().to_owned())
    };
    (!column.is_empty()).then(|| PartitionField {
        column: column.to_owned(),
        transform,
        name,
    })
}

fn parse_partition_fields(
    specs: &[String],
    columns: &[Field],
    known: &impl Fn(&str) -> bool,
) -> Result<Vec<PartitionField>, TableConfigError> {
    let mut fields = Vec::with_capacity(specs.len());
    for (i, text) in specs.iter().enumerate() {
        let field = format!("partition_by[{i}]");
        let Some(parsed) = parse_partition_field(text) else {
            return Err(invalid(
                field,
                format!("{text:?} is not a partition field"),
                "write identity(col), year(col), month(col), day(col) or hour(col); a date transform may be named: month(col) as col_month",
            ));
        };
        require_known_column(&field, &parsed.column, known)?;
        if let Some(name) = &parsed.name {
            validate_partition_key_name(&field, &parsed, name)?;
        }
        if parsed.transform != PartitionTransform::Identity {
            require_temporal(columns, &field, &parsed.column)?;
        }
        if parsed.transform == PartitionTransform::Identity
            && let Some(data_type) = declared(columns, &parsed.column)
            && matches!(
                data_type,
                DataType::Float32 | DataType::Float64 | DataType::Binary
            )
        {
            return Err(invalid(
                field,
                format!(
                    "`{}` has type {data_type}, which makes unstable partition values",
                    parsed.column
                ),
                "partition by a string, integer, date or boolean column, or a date transform",
            ));
        }
        if fields
            .iter()
            .any(|f: &PartitionField| f.column == parsed.column && f.transform == parsed.transform)
        {
            return Err(invalid(
                field,
                format!("{text:?} is listed twice"),
                "list each partition field once",
            ));
        }
        fields.push(parsed);
    }
    Ok(fields)
}

/// The name of a named date transform: a Glue column name that is not one of Tributary's.
fn validate_partition_key_name(
    field: &str,
    parsed: &PartitionField,
    name: &str,
) -> Result<(), TableConfigError> {
    if parsed.transform == PartitionTransform::Identity {
        return Err(invalid(
            field,
            format!(
                "an identity partition is named after its column (Hive keeps `{}` in the path), so it cannot be named `{name}`",
                parsed.column
            ),
            format!("write identity({}) without `as {name}`", parsed.column),
        ));
    }
    if meta_columns::ALL
        .iter()
        .any(|m| m.eq_ignore_ascii_case(name))
    {
        return Err(invalid(
            field,
            format!("`{name}` is reserved for Tributary's own columns"),
            format!("choose another name, e.g. {}", suggested_key_name(parsed)),
        ));
    }
    validate_glue_name(field, name).map(|_| ())
}

/// A partition-key name for a date transform that no source column is likely to have:
/// `<column>_<transform>` in `[a-z0-9_]`.
fn suggested_key_name(field: &PartitionField) -> String {
    let column: String = field
        .column
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    format!("{column}_{}", field.transform.as_str())
}

/// The partition-key names a spec produces, outermost first: identity fields use the column
/// name; named date transforms their name; other date transforms `year`/`month`/`day`/`hour`
/// (nested) or `dt`.
pub fn partition_key_names(fields: &[PartitionField], style: DatePartitionStyle) -> Vec<String> {
    fields
        .iter()
        .flat_map(|field| field_key_names(field, style))
        .collect()
}

/// The partition-key names of one field.
fn field_key_names(field: &PartitionField, style: DatePartitionStyle) -> Vec<String> {
    if let Some(name) = &field.name {
        return vec![name.clone()];
    }
    let depth = match (field.transform, style) {
        (PartitionTransform::Identity, _) => return vec![field.column.clone()],
        (_, DatePartitionStyle::Dt) => return vec!["dt".to_owned()],
        (PartitionTransform::Year, _) => 1,
        (PartitionTransform::Month, _) => 2,
        (PartitionTransform::Day, _) => 3,
        (PartitionTransform::Hour, _) => 4,
    };
    ["year", "month", "day", "hour"]
        .iter()
        .take(depth)
        .map(|s| (*s).to_owned())
        .collect()
}

/// A date transform's partition key that is also a source column (Athena ignores case, and a
/// column cannot be both a data column and a partition key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionKeyClash {
    /// The partition key.
    pub key: String,
    /// The source column of the same name.
    pub column: String,
    /// The partition field producing the key, as written in `partition_by` (without a name).
    pub field: String,
    /// A name for the field that avoids the clash.
    pub suggested_name: String,
    /// Whether the `dt` style would avoid it too (an unnamed transform in nested style).
    pub dt_style_avoids_it: bool,
}

impl PartitionKeyClash {
    /// What is wrong.
    pub fn problem(&self) -> String {
        format!(
            "the partition key `{}` of {} is also the source column `{}`",
            self.key, self.field, self.column
        )
    }

    /// How to fix it.
    pub fn fix(&self) -> String {
        let style = if self.dt_style_avoids_it {
            "use date_partition_style dt, or "
        } else {
            ""
        };
        format!(
            "name the partition key: `{} as {}` (or {style}rename the source column)",
            self.field, self.suggested_name
        )
    }
}

/// The first date-transform partition key that equals a column of `columns`, ignoring case.
pub fn date_partition_key_clash<'c>(
    fields: &[PartitionField],
    style: DatePartitionStyle,
    columns: impl IntoIterator<Item = &'c str> + Clone,
) -> Option<PartitionKeyClash> {
    fields
        .iter()
        .filter(|f| f.transform != PartitionTransform::Identity)
        .find_map(|field| {
            field_key_names(field, style).into_iter().find_map(|key| {
                let column = columns
                    .clone()
                    .into_iter()
                    .find(|c| c.eq_ignore_ascii_case(&key))?;
                Some(PartitionKeyClash {
                    dt_style_avoids_it: field.name.is_none()
                        && style == DatePartitionStyle::Nested
                        && !columns
                            .clone()
                            .into_iter()
                            .any(|c| c.eq_ignore_ascii_case("dt")),
                    column: column.to_owned(),
                    field: format!("{}({})", field.transform.as_str(), field.column),
                    suggested_name: suggested_key_name(field),
                    key,
                })
            })
        })
}

fn validate_partition_names(
    fields: &[PartitionField],
    style: DatePartitionStyle,
    columns: &[Field],
) -> Result<(), TableConfigError> {
    let names = partition_key_names(fields, style);
    let mut seen = HashSet::new();
    for name in &names {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(invalid(
                "partition_by",
                format!("two partition fields produce the partition key `{name}`"),
                "give each date transform its own name (month(col) as col_month), or use one date transform per table",
            ));
        }
    }
    match date_partition_key_clash(fields, style, columns.iter().map(|c| c.name().as_str())) {
        Some(clash) => Err(invalid("partition_by", clash.problem(), clash.fix())),
        None => Ok(()),
    }
}

fn validate_input(spec: &InputSpec, columns: Vec<Field>) -> Result<InputFormat, TableConfigError> {
    let delimiter = match spec.csv_delimiter.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'"' | b'\n' | b'\r') => *b,
        _ => {
            return Err(invalid(
                "input.csv_delimiter",
                format!("{:?} is not a single ASCII character", spec.csv_delimiter),
                "use the DMS CsvDelimiter value, e.g. `,` or `|`",
            ));
        }
    };
    if spec.csv_null_string.contains(['\n', '\r', '"'])
        || spec.csv_null_string.contains(spec.csv_delimiter.as_str())
    {
        return Err(invalid(
            "input.csv_null_string",
            format!(
                "{:?} contains a delimiter, quote or newline",
                spec.csv_null_string
            ),
            "use the DMS CsvNullValue value (default NULL)",
        ));
    }
    if spec.op_column_name.trim().is_empty() {
        return Err(invalid(
            "input.op_column_name",
            "the Op column has no name",
            "use `Op` (the DMS name)",
        ));
    }
    Ok(InputFormat {
        csv_delimiter: delimiter,
        csv_null_string: spec.csv_null_string.clone(),
        csv_header: spec.csv_header,
        cdc_op_column: spec.cdc_op_column,
        full_load_op_column: spec.full_load_op_column,
        op_column_name: spec.op_column_name.clone(),
        columns,
    })
}

fn validate_output(spec: &OutputSpec) -> Result<OutputOptions, TableConfigError> {
    if !(MIN_TARGET_FILE_SIZE_BYTES..=MAX_TARGET_FILE_SIZE_BYTES)
        .contains(&spec.target_file_size_bytes)
    {
        return Err(invalid(
            "output.target_file_size_bytes",
            format!(
                "{} is outside {MIN_TARGET_FILE_SIZE_BYTES}..={MAX_TARGET_FILE_SIZE_BYTES}",
                spec.target_file_size_bytes
            ),
            "use the default 134217728 (128 MiB) unless readers need otherwise",
        ));
    }
    if spec.row_group_rows == 0 || spec.row_group_rows > MAX_ROW_GROUP_ROWS {
        return Err(invalid(
            "output.row_group_rows",
            format!(
                "{} is outside 1..={MAX_ROW_GROUP_ROWS}",
                spec.row_group_rows
            ),
            format!("use the default {DEFAULT_ROW_GROUP_ROWS}"),
        ));
    }
    Ok(OutputOptions {
        target_file_size_bytes: spec.target_file_size_bytes,
        row_group_rows: spec.row_group_rows,
        compression: spec.compression,
    })
}

#[cfg(test)]
#[path = "table_config_test.rs"]
mod tests;
