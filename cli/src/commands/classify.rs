//! `tributary classify`: how the file-manager would classify staging-bucket keys.

use std::process::ExitCode;

use anyhow::{Context, Result};
use tributary_shared::bootstrap::config::{staging_layout_from_lookup, vars};
use tributary_shared::domain::object_key::ObjectKey;

/// Arguments of `tributary classify`.
#[derive(clap::Args)]
pub struct ClassifyArgs {
    /// Staging bucket.
    #[arg(long, env = vars::STAGING_BUCKET, default_value = "staging")]
    bucket: String,
    /// DMS BucketFolder (zero or more `/`-separated levels).
    #[arg(long, env = vars::DMS_BUCKET_FOLDER, default_value = "")]
    bucket_folder: String,
    /// Optional check: date folders must be of this DMS DatePartitionSequence (YYYYMMDD,
    /// YYYYMMDDHH, YYYYMM, MMYYYYDD, DDMMYYYY); unset, any DMS scheme is recognised.
    #[arg(long, env = vars::DMS_DATE_PARTITION_SEQUENCE)]
    date_partition_sequence: Option<String>,
    /// DMS DatePartitionDelimiter (SLASH, UNDERSCORE, DASH, NONE).
    #[arg(long, env = vars::DMS_DATE_PARTITION_DELIMITER)]
    date_partition_delimiter: Option<String>,
    /// Object keys, decoded (as `aws s3 ls` shows them).
    #[arg(required = true)]
    keys: Vec<String>,
}

/// Prints each key's classification; fails when any key would not be recorded.
pub fn classify(args: ClassifyArgs) -> Result<ExitCode> {
    let settings = [
        (vars::DMS_BUCKET_FOLDER, Some(args.bucket_folder)),
        (
            vars::DMS_DATE_PARTITION_SEQUENCE,
            args.date_partition_sequence,
        ),
        (
            vars::DMS_DATE_PARTITION_DELIMITER,
            args.date_partition_delimiter,
        ),
    ];
    let layout = staging_layout_from_lookup(args.bucket.clone(), |name| {
        settings
            .iter()
            .find(|(variable, _)| *variable == name)
            .and_then(|(_, value)| value.clone())
    })
    .context("invalid layout settings")?;
    let mut all_recorded = true;
    for key in args.keys {
        let verdict = ObjectKey::new(key.clone())
            .map_err(|e| format!("unrecognized (rejected key): {e}"))
            .and_then(|k| {
                layout.classify(&args.bucket, &k).map_err(|e| {
                    let disposition = if e.is_staging_object() {
                        "unrecognized"
                    } else {
                        "ignored"
                    };
                    format!("{disposition}: {e}")
                })
            });
        match verdict {
            Ok(file) => println!(
                "{key}\n  table {}  kind {}  format {}  order {}",
                file.table.id(),
                file.kind.as_str(),
                file.format.as_str(),
                file.order_key
            ),
            Err(reason) => {
                all_recorded = false;
                println!("{key}\n  {reason}");
            }
        }
    }
    Ok(if all_recorded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
