//! Typed configuration, read once at start-up.
//!
//! Lambdas read it from their environment (see the README's configuration table); nothing below a
//! function's `main` reads environment variables. Parsing takes a lookup function so it is tested
//! without touching the process environment.

use std::str::FromStr;

use thiserror::Error;
use tracing::Level;

use crate::dms_layout::{
    DateDelimiter, DatePartitioning, DateSequence, LayoutConfigError, StagingLayout,
};

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
    /// Log verbosity.
    pub const LOG_LEVEL: &str = "TRIBUTARY_LOG_LEVEL";
    /// Custom AWS endpoint (standard SDK variable).
    pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
}

/// The file-manager function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileManagerConfig {
    /// AWS endpoint settings.
    pub aws: AwsSettings,
    /// DynamoDB table of landed files.
    pub file_tracker_table: String,
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
        let get = |name: &str| non_blank(&lookup, name);
        let file_tracker_table = get(vars::FILE_TRACKER_TABLE).ok_or(ConfigError::Missing {
            variable: vars::FILE_TRACKER_TABLE,
            hint: "the name of the DynamoDB file-tracker table",
        })?;
        let bucket = get(vars::STAGING_BUCKET).ok_or(ConfigError::Missing {
            variable: vars::STAGING_BUCKET,
            hint: "the S3 bucket the DMS endpoint writes to",
        })?;
        let layout = staging_layout_from_lookup(bucket, &lookup)?;
        let write_concurrency = match get(vars::TRACKER_WRITE_CONCURRENCY) {
            None => Self::DEFAULT_WRITE_CONCURRENCY,
            Some(value) => match usize::from_str(value.trim()) {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        variable: vars::TRACKER_WRITE_CONCURRENCY,
                        value,
                        expected: "a whole number from 1 to 256".into(),
                    });
                }
            },
        };
        let log_level = match get(vars::LOG_LEVEL) {
            None => Level::INFO,
            Some(value) => Level::from_str(value.trim()).map_err(|_| ConfigError::Invalid {
                variable: vars::LOG_LEVEL,
                value,
                expected: "one of error, warn, info, debug, trace".into(),
            })?,
        };
        Ok(Self {
            aws: AwsSettings {
                endpoint_url: get(vars::AWS_ENDPOINT_URL),
            },
            file_tracker_table,
            layout,
            write_concurrency,
            log_level,
        })
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
