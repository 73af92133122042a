//! Where AWS DMS puts its files in the staging bucket, and what each file is.
//!
//! DMS writes `[BucketFolder/]schema/table/<file>`, where `BucketFolder` has zero or more levels.
//! Full-load files are named `LOAD<hex counter>` (`SEGMENT<n>_LOAD<hex>` for parallel segments, and
//! parallel loads may add one partition folder); CDC files are named by their commit timestamp,
//! `yyyyMMdd-HHmmssSSS`, optionally under date-partition folders (`DatePartitionEnabled`) in one of
//! five sequences and four delimiters. Classification is driven by [`StagingLayout`] (from
//! configuration) and by file names — never by how deep a key is.

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use thiserror::Error;

use crate::domain::object_key::ObjectKey;

/// Order of the date parts in DMS date-partition folders (`DatePartitionSequence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSequence {
    /// `YYYYMMDD` (the DMS default).
    YearMonthDay,
    /// `YYYYMMDDHH`.
    YearMonthDayHour,
    /// `YYYYMM`.
    YearMonth,
    /// `MMYYYYDD`.
    MonthYearDay,
    /// `DDMMYYYY`.
    DayMonthYear,
}

/// One date part of a partition folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatePart {
    Year,
    Month,
    Day,
    Hour,
}

impl DatePart {
    fn width(self) -> usize {
        match self {
            DatePart::Year => 4,
            DatePart::Month | DatePart::Day | DatePart::Hour => 2,
        }
    }
}

impl DateSequence {
    /// Every sequence DMS documents.
    pub const ALL: [DateSequence; 5] = [
        DateSequence::YearMonthDay,
        DateSequence::YearMonthDayHour,
        DateSequence::YearMonth,
        DateSequence::MonthYearDay,
        DateSequence::DayMonthYear,
    ];

    /// The DMS setting value, e.g. `YYYYMMDD`.
    pub fn dms_name(self) -> &'static str {
        match self {
            DateSequence::YearMonthDay => "YYYYMMDD",
            DateSequence::YearMonthDayHour => "YYYYMMDDHH",
            DateSequence::YearMonth => "YYYYMM",
            DateSequence::MonthYearDay => "MMYYYYDD",
            DateSequence::DayMonthYear => "DDMMYYYY",
        }
    }

    fn parts(self) -> &'static [DatePart] {
        use DatePart::*;
        match self {
            DateSequence::YearMonthDay => &[Year, Month, Day],
            DateSequence::YearMonthDayHour => &[Year, Month, Day, Hour],
            DateSequence::YearMonth => &[Year, Month],
            DateSequence::MonthYearDay => &[Month, Year, Day],
            DateSequence::DayMonthYear => &[Day, Month, Year],
        }
    }
}

/// Separator between date parts in DMS date-partition folders (`DatePartitionDelimiter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateDelimiter {
    /// `2023/08/18` — one folder per part (the DMS default).
    Slash,
    /// `2023_08_18`.
    Underscore,
    /// `2023-08-18`.
    Dash,
    /// `20230818`.
    None,
}

impl DateDelimiter {
    /// Every delimiter DMS documents.
    pub const ALL: [DateDelimiter; 4] = [
        DateDelimiter::Slash,
        DateDelimiter::Underscore,
        DateDelimiter::Dash,
        DateDelimiter::None,
    ];

    /// The DMS setting value, e.g. `SLASH`.
    pub fn dms_name(self) -> &'static str {
        match self {
            DateDelimiter::Slash => "SLASH",
            DateDelimiter::Underscore => "UNDERSCORE",
            DateDelimiter::Dash => "DASH",
            DateDelimiter::None => "NONE",
        }
    }

    fn separator(self) -> &'static str {
        match self {
            DateDelimiter::Slash => "/",
            DateDelimiter::Underscore => "_",
            DateDelimiter::Dash => "-",
            DateDelimiter::None => "",
        }
    }
}

/// A DMS `DatePartitionEnabled` folder scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatePartitioning {
    /// Order of the parts.
    pub sequence: DateSequence,
    /// Separator between the parts.
    pub delimiter: DateDelimiter,
}

impl DatePartitioning {
    /// Every scheme DMS documents (sequence × delimiter).
    pub fn all() -> Vec<DatePartitioning> {
        DateSequence::ALL
            .into_iter()
            .flat_map(|sequence| {
                DateDelimiter::ALL
                    .into_iter()
                    .map(move |delimiter| DatePartitioning {
                        sequence,
                        delimiter,
                    })
            })
            .collect()
    }

    /// Number of folders the scheme occupies.
    fn folder_count(self) -> usize {
        match self.delimiter {
            DateDelimiter::Slash => self.sequence.parts().len(),
            _ => 1,
        }
    }

    /// An example folder path, for error messages and docs (e.g. `2023/08/18`).
    pub fn example(self) -> String {
        let parts: Vec<&str> = self
            .sequence
            .parts()
            .iter()
            .map(|p| match p {
                DatePart::Year => "2023",
                DatePart::Month => "08",
                DatePart::Day => "18",
                DatePart::Hour => "02",
            })
            .collect();
        parts.join(self.delimiter.separator())
    }

    /// Checks that `folders` spell a valid date in this scheme.
    fn matches(self, folders: &[&str]) -> bool {
        self.period(folders).is_some()
    }

    /// The period `folders` spell in this scheme (a month, a day or an hour), if they do.
    fn period(self, folders: &[&str]) -> Option<FolderPeriod> {
        if folders.len() != self.folder_count() {
            return None;
        }
        let joined = folders.join("/");
        let separator = self.delimiter.separator();
        let mut rest = joined.as_str();
        let (mut year, mut month, mut day, mut hour) = (2000, 1, 1, 0);
        for (i, part) in self.sequence.parts().iter().enumerate() {
            if i > 0 {
                rest = rest.strip_prefix(separator)?;
            }
            let width = part.width();
            let digits = rest.get(..width)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let value = digits.parse::<u32>().ok()?;
            match part {
                DatePart::Year => year = i32::try_from(value).ok()?,
                DatePart::Month => month = value,
                DatePart::Day => day = value,
                DatePart::Hour => hour = value,
            }
            rest = rest.get(width..)?;
        }
        if !rest.is_empty() {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, 0, 0)?;
        let end = match self.sequence {
            DateSequence::YearMonth => {
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                NaiveDate::from_ymd_opt(y, m, 1)?.and_hms_opt(0, 0, 0)?
            }
            DateSequence::YearMonthDayHour => start + TimeDelta::hours(1),
            _ => start + TimeDelta::days(1),
        };
        Some(FolderPeriod { start, end })
    }

    /// Every scheme DMS documents whose folders spell a period within
    /// [`DATE_FOLDER_TOLERANCE`] of `timestamp` (a CDC file's name).
    fn schemes_agreeing_with(folders: &[&str], timestamp: NaiveDateTime) -> Vec<DatePartitioning> {
        Self::all()
            .into_iter()
            .filter(|scheme| {
                scheme
                    .period(folders)
                    .is_some_and(|period| period.near(timestamp))
            })
            .collect()
    }
}

/// How far a date folder's period may lie from the timestamp in its CDC file's name: DMS may
/// name folders in another time zone (`DatePartitionTimezone`, UTC−12 to UTC+14) than the file,
/// and a file closed just after midnight may sit in the previous day's folder.
pub const DATE_FOLDER_TOLERANCE: TimeDelta = TimeDelta::hours(26);

/// The period a set of date folders names: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FolderPeriod {
    start: NaiveDateTime,
    end: NaiveDateTime,
}

impl FolderPeriod {
    fn near(self, timestamp: NaiveDateTime) -> bool {
        timestamp >= self.start - DATE_FOLDER_TOLERANCE
            && timestamp < self.end + DATE_FOLDER_TOLERANCE
    }
}

impl fmt::Display for DatePartitioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} (e.g. `{}`)",
            self.sequence.dms_name(),
            self.delimiter.dms_name(),
            self.example()
        )
    }
}

/// The staging bucket's layout: which objects are DMS data and where `schema/table` sit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagingLayout {
    bucket: String,
    bucket_folder: Vec<String>,
    date_partitioning: Option<DatePartitioning>,
}

/// An invalid staging layout setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LayoutConfigError {
    /// The staging bucket name is empty.
    #[error("the staging bucket name is empty")]
    EmptyBucket,
    /// The bucket folder has an empty, `.` or `..` segment.
    #[error(
        "the DMS bucket folder `{0}` is invalid: give `/`-separated folder names without empty, `.` or `..` parts (e.g. `dms/prod`), or leave it empty"
    )]
    InvalidBucketFolder(String),
}

impl StagingLayout {
    /// A layout for `bucket`, with the DMS `BucketFolder` (zero or more `/`-separated levels; leading
    /// and trailing slashes are ignored) and the DMS date partitioning, if enabled.
    pub fn new(
        bucket: impl Into<String>,
        bucket_folder: &str,
        date_partitioning: Option<DatePartitioning>,
    ) -> Result<Self, LayoutConfigError> {
        let bucket = bucket.into();
        if bucket.is_empty() {
            return Err(LayoutConfigError::EmptyBucket);
        }
        let trimmed = bucket_folder.trim_matches('/');
        let bucket_folder: Vec<String> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').map(str::to_owned).collect()
        };
        if bucket_folder
            .iter()
            .any(|s| s.is_empty() || s == "." || s == ".." || s.chars().any(|c| c.is_control()))
        {
            return Err(LayoutConfigError::InvalidBucketFolder(trimmed.to_owned()));
        }
        Ok(Self {
            bucket,
            bucket_folder,
            date_partitioning,
        })
    }

    /// The staging bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Classifies one object of the staging bucket.
    pub fn classify(&self, bucket: &str, key: &ObjectKey) -> Result<DmsFile, NotDmsData> {
        if bucket != self.bucket {
            return Err(NotDmsData::OtherBucket {
                bucket: bucket.to_owned(),
                staging_bucket: self.bucket.clone(),
            });
        }
        if key.is_folder_marker() {
            return Err(NotDmsData::FolderMarker);
        }
        let segments: Vec<&str> = key.segments().collect();
        let Some(relative) = strip_folder(&segments, &self.bucket_folder) else {
            return Err(NotDmsData::OutsideBucketFolder {
                bucket_folder: self.bucket_folder.join("/"),
            });
        };
        let Some((file_name, folders)) = relative.split_last() else {
            return Err(NotDmsData::OutsideBucketFolder {
                bucket_folder: self.bucket_folder.join("/"),
            });
        };
        let name = FileName::parse(file_name)?;
        let [schema, table, inner @ ..] = folders else {
            return Err(NotDmsData::UnknownLayout {
                detail: format!(
                    "expected `{}schema/table/{file_name}` but found no schema/table folders",
                    self.folder_display()
                ),
            });
        };
        let table = SourceTable {
            schema: (*schema).to_owned(),
            table: (*table).to_owned(),
        };
        let relative_path = relative[2..].join("/");
        let (kind, order_key) = match name.kind {
            FileNameKind::Load { segment, counter } => {
                self.check_load_folders(inner)?;
                (
                    FileKind::FullLoad,
                    format!("0|{segment:010}|{counter:016X}|{relative_path}"),
                )
            }
            FileNameKind::Cdc { timestamp } => {
                self.check_cdc_folders(inner, timestamp)?;
                (
                    FileKind::Cdc,
                    format!("1|{}|{relative_path}", timestamp.format("%Y%m%d-%H%M%S%3f")),
                )
            }
        };
        Ok(DmsFile {
            table,
            kind,
            format: name.format,
            order_key: OrderKey(order_key),
        })
    }

    fn folder_display(&self) -> String {
        self.bucket_folder.iter().map(|s| format!("{s}/")).collect()
    }

    /// Full-load files may sit under date folders (of the configured scheme, or of any DMS
    /// scheme when none is configured) and/or one parallel-load partition folder.
    fn check_load_folders(&self, inner: &[&str]) -> Result<(), NotDmsData> {
        let schemes: Vec<DatePartitioning> = match self.date_partitioning {
            Some(scheme) => vec![scheme],
            None => DatePartitioning::all(),
        };
        let after_dates = schemes
            .into_iter()
            .find_map(|scheme| {
                let count = scheme.folder_count();
                let dates = inner.get(..count)?;
                scheme.matches(dates).then(|| inner.get(count..)).flatten()
            })
            .unwrap_or(inner);
        if after_dates.len() <= 1 {
            Ok(())
        } else {
            Err(NotDmsData::UnknownLayout {
                detail: format!(
                    "a full-load file under `{}`: only one parallel-load partition folder may sit between the table folder and the file",
                    inner.join("/")
                ),
            })
        }
    }

    /// CDC files sit directly in the table folder (also files written before date partitioning
    /// was enabled), or under date folders (`DatePartitionEnabled`). The folders are recognised
    /// from the key itself: they must spell, in one of DMS's sequences and delimiters, the date
    /// of the timestamp the file is named by. A configured scheme narrows that to its own.
    fn check_cdc_folders(
        &self,
        inner: &[&str],
        timestamp: NaiveDateTime,
    ) -> Result<(), NotDmsData> {
        if inner.is_empty() {
            return Ok(());
        }
        let folders = inner.join("/");
        match self.date_partitioning {
            Some(scheme) if scheme.matches(inner) => Ok(()),
            Some(scheme) => Err(NotDmsData::UnknownLayout {
                detail: format!(
                    "a CDC file under `{folders}`, which is not a date folder of the configured scheme {scheme}; fix: correct TRIBUTARY_DMS_DATE_PARTITION_SEQUENCE/DELIMITER or unset them to recognise any DMS scheme"
                ),
            }),
            None if !DatePartitioning::schemes_agreeing_with(inner, timestamp).is_empty() => Ok(()),
            None => Err(NotDmsData::UnknownLayout {
                detail: format!(
                    "a CDC file named {} under `{folders}`: those folders are not a DMS date partition (DatePartitionSequence/DatePartitionDelimiter) of that day",
                    timestamp.format("%Y-%m-%d %H:%M:%S%.3f")
                ),
            }),
        }
    }

    /// Whether `key` (decoded) lies under the DMS bucket folder: objects there are recorded even
    /// when they are not DMS data files.
    pub fn is_under_folder(&self, key: &str) -> bool {
        let segments: Vec<&str> = key.split('/').collect();
        strip_folder(&segments, &self.bucket_folder).is_some_and(|rest| !rest.is_empty())
    }
}

/// `segments` without the leading `folder` segments, if it starts with them.
fn strip_folder<'a, 'k>(segments: &'a [&'k str], folder: &[String]) -> Option<&'a [&'k str]> {
    if segments.len() < folder.len() {
        return None;
    }
    let (head, rest) = segments.split_at(folder.len());
    head.iter()
        .zip(folder)
        .all(|(s, f)| *s == f)
        .then_some(rest)
}

/// The source table a DMS file belongs to (the `schema/table` folders).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceTable {
    /// Source schema (database for MySQL), as DMS wrote it.
    pub schema: String,
    /// Source table, as DMS wrote it.
    pub table: String,
}

impl SourceTable {
    /// The table id used across Tributary (tracker keys, registry items, leases, snapshots, the
    /// CLI): `schema.table` with every `%` and `.` inside a part written as `%25` and `%2E`, so
    /// the id names exactly one (schema, table) pair — `t.x`/`y` is `t%2Ex.y`, `t`/`x.y` is
    /// `t.x%2Ey` — and ordinary names keep their familiar form (`sales.orders`).
    pub fn id(&self) -> String {
        format!(
            "{}.{}",
            escape_id_part(&self.schema),
            escape_id_part(&self.table)
        )
    }

    /// The table an id names, or why the text is not an id: it must hold exactly one unescaped
    /// `.`, and `%` only in the escapes `%25` and `%2E`.
    pub fn from_id(id: &str) -> Result<SourceTable, TableIdError> {
        let malformed = |reason: &'static str| TableIdError {
            id: id.to_owned(),
            reason,
        };
        let (schema, table) = id
            .split_once('.')
            .ok_or_else(|| malformed("there is no `.` between schema and table"))?;
        if table.contains('.') {
            return Err(malformed(
                "it has more than one `.`; a `.` inside a name is written `%2E`",
            ));
        }
        let part = |text: &str| {
            unescape_id_part(text)
                .ok_or_else(|| malformed("a `%` is not part of `%25` or `%2E`, or a name is empty"))
        };
        Ok(SourceTable {
            schema: part(schema)?,
            table: part(table)?,
        })
    }
}

/// Text that is not a table id (see [`SourceTable::id`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "`{id}` is not a table id: {reason}; write `schema.table` with `.` and `%` inside a name as `%2E` and `%25` (e.g. `t%2Ex.y` for schema `t.x`, table `y`)"
)]
pub struct TableIdError {
    /// The text.
    pub id: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn escape_id_part(part: &str) -> String {
    part.replace('%', "%25").replace('.', "%2E")
}

fn unescape_id_part(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        out.push(match escape {
            "%25" => '%',
            "%2E" => '.',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    (!out.is_empty()).then_some(out)
}

/// Whether a file is part of the initial full load or a change-data-capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `LOAD…` / `SEGMENTn_LOAD…`: a snapshot of existing rows, usually without an Op column.
    FullLoad,
    /// A timestamp-named file of changes with an Op column (`I`/`U`/`D`).
    Cdc,
}

impl FileKind {
    /// The kind whose stored name ([`FileKind::as_str`]) is `name`.
    pub fn from_name(name: &str) -> Option<FileKind> {
        [FileKind::FullLoad, FileKind::Cdc]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

    /// Stable lower-case name, as stored in the file tracker.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::FullLoad => "full_load",
            FileKind::Cdc => "cdc",
        }
    }
}

/// The encoding of a DMS file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.csv`.
    Csv,
    /// `.csv.gz` (DMS `CompressionType: GZIP`).
    CsvGzip,
    /// `.parquet`.
    Parquet,
}

impl FileFormat {
    /// The format whose stored name ([`FileFormat::as_str`]) is `name`.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        [FileFormat::Csv, FileFormat::CsvGzip, FileFormat::Parquet]
            .into_iter()
            .find(|format| format.as_str() == name)
    }

    /// The file extension, as stored in the file tracker (`csv`, `csv.gz`, `parquet`).
    pub fn as_str(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::CsvGzip => "csv.gz",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// A file's place in its table's order: full-load files first (by segment and counter), then CDC
/// files by their commit-timestamp name; the path under the table folder breaks ties. Compares
/// correctly as a plain string, so it is the sort key of the file tracker.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderKey(String);

impl OrderKey {
    /// The sortable string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A recognised DMS data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmsFile {
    /// The source table.
    pub table: SourceTable,
    /// Full load or CDC.
    pub kind: FileKind,
    /// CSV, gzipped CSV or Parquet.
    pub format: FileFormat,
    /// Place in the table's file order.
    pub order_key: OrderKey,
}

impl NotDmsData {
    /// Whether the object lies under the staging prefix, so it is recorded (`unrecognized`, with
    /// this reason) rather than ignored: everything but other buckets, keys outside the DMS
    /// bucket folder and folder markers.
    pub fn is_staging_object(&self) -> bool {
        !matches!(
            self,
            NotDmsData::OtherBucket { .. }
                | NotDmsData::OutsideBucketFolder { .. }
                | NotDmsData::FolderMarker
        )
    }
}

/// Why an object is not a DMS data file Tributary can apply. None of these is retryable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NotDmsData {
    /// The object is in a bucket other than the configured staging bucket.
    #[error("bucket `{bucket}` is not the staging bucket `{staging_bucket}`")]
    OtherBucket {
        /// The object's bucket.
        bucket: String,
        /// The configured staging bucket.
        staging_bucket: String,
    },
    /// The key is not under the configured DMS bucket folder.
    #[error("the key is not under the DMS bucket folder `{bucket_folder}/`")]
    OutsideBucketFolder {
        /// The configured bucket folder.
        bucket_folder: String,
    },
    /// A zero-byte folder placeholder (`…/`).
    #[error("a folder marker, not a file")]
    FolderMarker,
    /// A file whose name is not a DMS data file name (metadata such as `.json`, other extensions).
    #[error(
        "`{file_name}` is not a DMS data file name (LOAD…/SEGMENTn_LOAD… or yyyyMMdd-HHmmssSSS, with .csv, .csv.gz or .parquet)"
    )]
    NotADataFile {
        /// The file name.
        file_name: String,
    },
    /// A `CDC_TXN-…` file written with `PreserveTransactions`: changes of many tables in one file.
    #[error(
        "`{file_name}` is a PreserveTransactions file (changes of all tables in one file), which Tributary does not support: disable PreserveTransactions/CdcPath on the DMS endpoint so changes are written per table"
    )]
    TransactionalCdc {
        /// The file name.
        file_name: String,
    },
    /// A DMS-looking name in a folder structure that does not fit the configured layout.
    #[error("unknown layout: {detail}")]
    UnknownLayout {
        /// What did not fit, and how to fix it.
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileNameKind {
    Load { segment: u32, counter: u64 },
    Cdc { timestamp: NaiveDateTime },
}

struct FileName {
    kind: FileNameKind,
    format: FileFormat,
}

impl FileName {
    fn parse(file_name: &str) -> Result<Self, NotDmsData> {
        if file_name.starts_with("CDC_TXN-") {
            return Err(NotDmsData::TransactionalCdc {
                file_name: file_name.to_owned(),
            });
        }
        let not_data = || NotDmsData::NotADataFile {
            file_name: file_name.to_owned(),
        };
        let (stem, format) = [
            (".csv.gz", FileFormat::CsvGzip),
            (".csv", FileFormat::Csv),
            (".parquet", FileFormat::Parquet),
        ]
        .into_iter()
        .find_map(|(ext, format)| file_name.strip_suffix(ext).map(|stem| (stem, format)))
        .ok_or_else(not_data)?;
        let kind = parse_load_stem(stem)
            .or_else(|| parse_cdc_stem(stem))
            .ok_or_else(not_data)?;
        Ok(Self { kind, format })
    }
}

/// `LOAD<hex>` or `SEGMENT<n>_LOAD<hex>`.
fn parse_load_stem(stem: &str) -> Option<FileNameKind> {
    let (segment, load) = match stem.strip_prefix("SEGMENT") {
        Some(rest) => {
            let (digits, load) = rest.split_once('_')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (digits.parse().ok()?, load)
        }
        None => (0, stem),
    };
    let hex = load.strip_prefix("LOAD")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let counter = u64::from_str_radix(hex, 16).ok()?;
    Some(FileNameKind::Load { segment, counter })
}

/// `yyyyMMdd-HHmmssSSS`.
fn parse_cdc_stem(stem: &str) -> Option<FileNameKind> {
    let shape_ok = stem.len() == 18
        && stem.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return None;
    }
    let timestamp = NaiveDateTime::parse_from_str(stem, "%Y%m%d-%H%M%S%3f").ok()?;
    Some(FileNameKind::Cdc { timestamp })
}

#[cfg(test)]
#[path = "dms_layout_test.rs"]
mod tests;
