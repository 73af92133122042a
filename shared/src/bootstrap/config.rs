//! Typed configuration, read once at start-up.
//!
//! Lambdas read it from their environment (see the README's configuration table); nothing below a
//! function's `main` reads environment variables. Parsing takes a lookup function so it is tested
//! without touching the process environment.

use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;
use tracing::Level;

use crate::domain::dms_layout::{
    DateDelimiter, DatePartitioning, DateSequence, LayoutConfigError, StagingLayout,
};
use crate::ports::file_tracker::BacklogLimit;
use crate::services::processor::ProcessorSettings;

/// A configuration value that is missing or wrong. The message names the variable and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{variable} is not set: {hint}")]
    Missing {
        /// The environment variable.
        variable: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// A variable has a value outside its domain.
    #[error("{variable}={value:?} is invalid: expected {expected}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// The value found.
        value: String,
        /// The accepted values.
        expected: String,
    },
    /// The staging layout settings do not form a valid layout.
    #[error(transparent)]
    Layout(#[from] LayoutConfigError),
}

/// Where AWS clients send requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// A custom endpoint for every service (`AWS_ENDPOINT_URL`), e.g. the local emulator. `None`
    /// means the real AWS endpoints of the configured region.
    pub endpoint_url: Option<String>,
}

/// Environment variable names, in one place for the README's table.
pub mod vars {
    /// DynamoDB table of landed files.
    pub const FILE_TRACKER_TABLE: &str = "TRIBUTARY_FILE_TRACKER_TABLE";
    /// Bucket DMS writes to.
    pub const STAGING_BUCKET: &str = "TRIBUTARY_STAGING_BUCKET";
    /// DMS `BucketFolder` (0..n levels).
    pub const DMS_BUCKET_FOLDER: &str = "TRIBUTARY_DMS_BUCKET_FOLDER";
    /// DMS `DatePartitionSequence`, set when `DatePartitionEnabled` is true.
    pub const DMS_DATE_PARTITION_SEQUENCE: &str = "TRIBUTARY_DMS_DATE_PARTITION_SEQUENCE";
    /// DMS `DatePartitionDelimiter`.
    pub const DMS_DATE_PARTITION_DELIMITER: &str = "TRIBUTARY_DMS_DATE_PARTITION_DELIMITER";
    /// Parallel tracker writes per invocation.
    pub const TRACKER_WRITE_CONCURRENCY: &str = "TRIBUTARY_TRACKER_WRITE_CONCURRENCY";
    /// Backlog reads in flight while the batch-manager plans a run.
    pub const BACKLOG_LOOKUP_CONCURRENCY: &str = "TRIBUTARY_BACKLOG_LOOKUP_CONCURRENCY";
    /// Log verbosity.
    pub const LOG_LEVEL: &str = "TRIBUTARY_LOG_LEVEL";
    /// Custom AWS endpoint (standard SDK variable).
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
    /// DynamoDB table of leases and refresh history.
    pub const PROCESSING_TABLE: &str = "TRIBUTARY_PROCESSING_TABLE";
    /// DynamoDB table of table configurations.
    pub const CONFIG_TABLE: &str = "TRIBUTARY_CONFIG_TABLE";
    /// Bucket of the lake.
    pub const LAKE_BUCKET: &str = "TRIBUTARY_LAKE_BUCKET";
    /// Most DMS files one refresh applies.
    pub const MAX_FILES_PER_REFRESH: &str = "TRIBUTARY_MAX_FILES_PER_REFRESH";
    /// The memory budget of one refresh in decompressed bytes (also caps the stored bytes one
    /// refresh takes from the backlog).
    pub const MAX_BYTES_PER_REFRESH: &str = "TRIBUTARY_MAX_BYTES_PER_REFRESH";
    /// Failures of one file (same error) before it is quarantined.
    pub const QUARANTINE_AFTER: &str = "TRIBUTARY_QUARANTINE_AFTER";
    /// Seconds before the Lambda deadline after which no table or chunk starts.
    pub const DEADLINE_MARGIN_SECONDS: &str = "TRIBUTARY_DEADLINE_MARGIN_SECONDS";
    /// Minutes an unreferenced partition version is kept.
    pub const GC_GRACE_MINUTES: &str = "TRIBUTARY_GC_GRACE_MINUTES";
    /// Days processed files stay in the file tracker.
    pub const PROCESSED_FILE_TTL_DAYS: &str = "TRIBUTARY_PROCESSED_FILE_TTL_DAYS";
    /// Days processing-history items are kept.
    pub const HISTORY_TTL_DAYS: &str = "TRIBUTARY_HISTORY_TTL_DAYS";
}

/// The file-manager function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileManagerConfig {
    /// AWS endpoint settings.
    pub aws: AwsSettings,
    /// DynamoDB table of landed files.
    pub file_tracker_table: String,
    /// DynamoDB table of table configurations (which tables are registered).
    pub config_table: String,
    /// Which objects are DMS files and where their tables are.
    pub layout: StagingLayout,
    /// Parallel tracker writes per invocation.
    pub write_concurrency: usize,
    /// Log verbosity.
    pub log_level: Level,
}

impl FileManagerConfig {
    /// Default parallel tracker writes per invocation.
    pub const DEFAULT_WRITE_CONCURRENCY: usize = 16;

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (variable name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let file_tracker_table = required(
            &lookup,
            vars::FILE_TRACKER_TABLE,
            "the name of the DynamoDB file-tracker table",
        )?;
        let config_table = required(
            &lookup,
            vars::CONFIG_TABLE,
            "the name of the DynamoDB table of table configurations",
        )?;
        let bucket = required(
            &lookup,
            vars::STAGING_BUCKET,
            "the S3 bucket the DMS endpoint writes to",
        )?;
        let layout = staging_layout_from_lookup(bucket, &lookup)?;
        let write_concurrency = number(
            &lookup,
            vars::TRACKER_WRITE_CONCURRENCY,
            Self::DEFAULT_WRITE_CONCURRENCY as u64,
            1..=256,
        )? as usize;
        Ok(Self {
            aws: aws_settings(&lookup),
            file_tracker_table,
            config_table,
            layout,
            write_concurrency,
            log_level: log_level(&lookup)?,
        })
    }
}

/// The processor function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// AWS endpoint settings.
    pub aws: AwsSettings,
    /// DynamoDB table of landed files.
    pub file_tracker_table: String,
    /// DynamoDB table of leases and refresh history.
    pub processing_table: String,
    /// DynamoDB table of table configurations.
    pub config_table: String,
    /// Bucket DMS writes to.
    pub staging_bucket: String,
    /// Bucket of the lake.
    pub lake_bucket: String,
    /// The processor's tunables.
    pub settings: ProcessorSettings,
    /// Log verbosity.
    pub log_level: Level,
}

impl ProcessorConfig {
    /// Default most files per refresh.
    pub const DEFAULT_MAX_FILES: u64 = 500;
    /// Default most bytes per refresh (DMS file bytes; the changes are held in memory).
    pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
    /// Default failures before quarantine.
    pub const DEFAULT_QUARANTINE_AFTER: u64 = 3;
    /// Default deadline margin.
    pub const DEFAULT_DEADLINE_MARGIN_SECONDS: u64 = 60;
    /// Default grace period of garbage collection.
    pub const DEFAULT_GC_GRACE_MINUTES: u64 = 10;
    /// Default retention of processed files in the tracker.
    pub const DEFAULT_PROCESSED_FILE_TTL_DAYS: u64 = 30;
    /// Default retention of processing history.
    pub const DEFAULT_HISTORY_TTL_DAYS: u64 = 90;
    /// How long a lease outlives its holder's deadline.
    pub const LEASE_SLACK: Duration = Duration::from_secs(30);

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (variable name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |variable, hint| required(&lookup, variable, hint);
        let lake_bucket = required(vars::LAKE_BUCKET, "the S3 bucket the lake tables live in")?;
        let minutes = |n: u64| Duration::from_secs(n * 60);
        let days = |n: u64| Duration::from_secs(n * 86_400);
        let settings = ProcessorSettings {
            lake_url: format!("s3://{lake_bucket}"),
            backlog_limit: BacklogLimit {
                max_files: number(
                    &lookup,
                    vars::MAX_FILES_PER_REFRESH,
                    Self::DEFAULT_MAX_FILES,
                    1..=10_000,
                )? as usize,
                max_bytes: number(
                    &lookup,
                    vars::MAX_BYTES_PER_REFRESH,
                    Self::DEFAULT_MAX_BYTES,
                    1..=u64::MAX,
                )?,
            },
            quarantine_after: number(
                &lookup,
                vars::QUARANTINE_AFTER,
                Self::DEFAULT_QUARANTINE_AFTER,
                1..=100,
            )? as u32,
            deadline_margin: Duration::from_secs(number(
                &lookup,
                vars::DEADLINE_MARGIN_SECONDS,
                Self::DEFAULT_DEADLINE_MARGIN_SECONDS,
                1..=900,
            )?),
            lease_slack: Self::LEASE_SLACK,
            gc_grace: minutes(number(
                &lookup,
                vars::GC_GRACE_MINUTES,
                Self::DEFAULT_GC_GRACE_MINUTES,
                1..=10_080,
            )?),
            processed_file_ttl: days(number(
                &lookup,
                vars::PROCESSED_FILE_TTL_DAYS,
                Self::DEFAULT_PROCESSED_FILE_TTL_DAYS,
                1..=3_650,
            )?),
            history_ttl: days(number(
                &lookup,
                vars::HISTORY_TTL_DAYS,
                Self::DEFAULT_HISTORY_TTL_DAYS,
                1..=3_650,
            )?),
        };
        Ok(Self {
            aws: aws_settings(&lookup),
            file_tracker_table: required(
                vars::FILE_TRACKER_TABLE,
                "the name of the DynamoDB file-tracker table",
            )?,
            processing_table: required(
                vars::PROCESSING_TABLE,
                "the name of the DynamoDB processing-tracker table",
            )?,
            config_table: required(
                vars::CONFIG_TABLE,
                "the name of the DynamoDB table-configuration table",
            )?,
            staging_bucket: required(
                vars::STAGING_BUCKET,
                "the S3 bucket the DMS endpoint writes to",
            )?,
            lake_bucket,
            settings,
            log_level: log_level(&lookup)?,
        })
    }
}

/// The batch-manager function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchManagerConfig {
    /// AWS endpoint settings.
    pub aws: AwsSettings,
    /// DynamoDB table of cadences and table configurations.
    pub config_table: String,
    /// DynamoDB table of landed files (its pending index sizes each backlog).
    pub file_tracker_table: String,
    /// DynamoDB table of leases and last outcomes.
    pub processing_table: String,
    /// Backlog reads in flight at once.
    pub lookup_concurrency: usize,
    /// Log verbosity.
    pub log_level: Level,
}

impl BatchManagerConfig {
    /// Default backlog reads in flight.
    pub const DEFAULT_LOOKUP_CONCURRENCY: u64 = 16;

    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (variable name → value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            aws: aws_settings(&lookup),
            config_table: required(
                &lookup,
                vars::CONFIG_TABLE,
                "the name of the DynamoDB table-configuration table",
            )?,
            file_tracker_table: required(
                &lookup,
                vars::FILE_TRACKER_TABLE,
                "the name of the DynamoDB file-tracker table",
            )?,
            processing_table: required(
                &lookup,
                vars::PROCESSING_TABLE,
                "the name of the DynamoDB processing-tracker table",
            )?,
            lookup_concurrency: number(
                &lookup,
                vars::BACKLOG_LOOKUP_CONCURRENCY,
                Self::DEFAULT_LOOKUP_CONCURRENCY,
                1..=64,
            )? as usize,
            log_level: log_level(&lookup)?,
        })
    }
}

/// The value of a required variable, or an error naming it and what to set it to.
fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    hint: &'static str,
) -> Result<String, ConfigError> {
    non_blank(lookup, variable).ok_or(ConfigError::Missing { variable, hint })
}

fn aws_settings(lookup: &impl Fn(&str) -> Option<String>) -> AwsSettings {
    AwsSettings {
        endpoint_url: non_blank(lookup, vars::AWS_ENDPOINT_URL),
    }
}

fn log_level(lookup: &impl Fn(&str) -> Option<String>) -> Result<Level, ConfigError> {
    match non_blank(lookup, vars::LOG_LEVEL) {
        None => Ok(Level::INFO),
        Some(value) => Level::from_str(value.trim()).map_err(|_| ConfigError::Invalid {
            variable: vars::LOG_LEVEL,
            value,
            expected: "one of error, warn, info, debug, trace".into(),
        }),
    }
}

/// A whole number in `range`, or `default` when the variable is unset.
fn number(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = non_blank(lookup, variable) else {
        return Ok(default);
    };
    match u64::from_str(value.trim()) {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ConfigError::Invalid {
            variable,
            value,
            expected: format!("a whole number from {} to {}", range.start(), range.end()),
        }),
    }
}

/// Reads the staging layout settings (bucket folder, date partitioning) through `lookup`, for
/// `bucket`.
pub fn staging_layout_from_lookup(
    bucket: String,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<StagingLayout, ConfigError> {
    let get = |name: &str| non_blank(&lookup, name);
    let date_partitioning = match get(vars::DMS_DATE_PARTITION_SEQUENCE) {
        None => None,
        Some(sequence) => Some(DatePartitioning {
            sequence: parse_choice(
                vars::DMS_DATE_PARTITION_SEQUENCE,
                &sequence,
                &DateSequence::ALL,
                |s| s.dms_name(),
            )?,
            delimiter: match get(vars::DMS_DATE_PARTITION_DELIMITER) {
                None => DateDelimiter::Slash,
                Some(delimiter) => parse_choice(
                    vars::DMS_DATE_PARTITION_DELIMITER,
                    &delimiter,
                    &DateDelimiter::ALL,
                    |d| d.dms_name(),
                )?,
            },
        }),
    };
    Ok(StagingLayout::new(
        bucket,
        &get(vars::DMS_BUCKET_FOLDER).unwrap_or_default(),
        date_partitioning,
    )?)
}

/// The value of `name`; blank values count as unset.
fn non_blank(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// Matches `value` (case-insensitively) against the names of `choices`.
fn parse_choice<T: Copy>(
    variable: &'static str,
    value: &str,
    choices: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, ConfigError> {
    choices
        .iter()
        .copied()
        .find(|c| name(*c).eq_ignore_ascii_case(value.trim()))
        .ok_or_else(|| ConfigError::Invalid {
            variable,
            value: value.to_owned(),
            expected: format!(
                "one of {}",
                choices
                    .iter()
                    .map(|c| name(*c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

#[cfg(test)]
#[path = "config_test.rs"]
mod tests;
