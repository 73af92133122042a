//! Where a refresh writes a table's objects under its root, and the longest object key that can
//! give: S3 refuses keys over [`S3_MAX_KEY_BYTES`], so the table's location (configuration) and
//! each partition (refresh) are checked against it before anything is written (docs/DESIGN.md
//! §10).
//!
//! ```text
//! <location>/data/<partition path>/v<version, 10 digits>-<refresh id>/part-<version>-NNNNN.parquet
//! <location>/_tributary/tombstones/v<version>-<refresh id>-NNNNN.parquet
//! <location>/_tributary/snapshots/<version, 20 digits>.json
//! ```

use object_store::path::Path;

use crate::lake::lake_files::file_name;
use crate::lake::partitioning::{PartitionLimitError, PartitionValues, limit_prefix};
use crate::lake::snapshot::{DATA_DIR, TOMBSTONE_DIR, child};

/// S3's limit on an object key: 1,024 bytes of UTF-8.
pub const S3_MAX_KEY_BYTES: usize = 1024;
/// The longest refresh id the engine accepts.
pub const MAX_REFRESH_ID_LEN: usize = 64;
/// The largest version that keeps its 10-digit width (keys are measured with it).
const LARGEST_VERSION: u64 = 9_999_999_999;
/// The largest file index that keeps its 5-digit width.
const LARGEST_FILE_INDEX: usize = 99_999;

/// The folder of a partition version, relative to the table root (`partition_path` is empty for
/// an unpartitioned table).
pub fn partition_version_folder(partition_path: &str, version: u64, refresh_id: &str) -> String {
    if partition_path.is_empty() {
        format!("{DATA_DIR}/v{version:010}-{refresh_id}")
    } else {
        format!("{DATA_DIR}/{partition_path}/v{version:010}-{refresh_id}")
    }
}

/// The name prefix of the data files a version writes.
pub fn data_file_prefix(version: u64) -> String {
    format!("part-{version:010}")
}

/// The name prefix of the tombstone files a refresh writes.
pub fn tombstone_file_prefix(version: u64, refresh_id: &str) -> String {
    format!("v{version:010}-{refresh_id}")
}

/// The longest object key, in bytes, that a table rooted at `location` can write for the partition
/// `partition_path` (empty: an unpartitioned table), including its tombstones and snapshots.
pub fn longest_key_bytes(location: &Path, partition_path: &str) -> usize {
    let refresh_id = "r".repeat(MAX_REFRESH_ID_LEN);
    let data_folder = child(
        location,
        &partition_version_folder(partition_path, LARGEST_VERSION, &refresh_id),
    );
    let data_name = file_name(&data_file_prefix(LARGEST_VERSION), LARGEST_FILE_INDEX);
    let tombstone_name = file_name(
        &tombstone_file_prefix(LARGEST_VERSION, &refresh_id),
        LARGEST_FILE_INDEX,
    );
    let data = data_folder.as_ref().len() + 1 + data_name.len();
    let tombstone = child(location, TOMBSTONE_DIR).as_ref().len() + 1 + tombstone_name.len();
    data.max(tombstone)
}

/// Refuses a partition whose values AWS Glue would refuse, or whose object keys S3 would.
pub fn check_partition(
    location: &Path,
    values: &PartitionValues,
) -> Result<(), PartitionLimitError> {
    values.check_glue_limit()?;
    let path = values.path();
    let key_bytes = longest_key_bytes(location, &path);
    if key_bytes > S3_MAX_KEY_BYTES {
        return Err(PartitionLimitError::ObjectKeyTooLong {
            path_prefix: limit_prefix(&path),
            key_bytes,
            limit: S3_MAX_KEY_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "lake_keys_test.rs"]
mod tests;
